"""The composition root: everything a Hallmark process starts, wires together, checks and stops.

`Runtime` (in `runtime`) opens the database, the keys and the chain and hands the use cases their
collaborators; `worker_process` runs the anchoring worker as a supervised child process.
"""

from hallmark.runtime.runtime import Runtime

__all__ = ["Runtime"]
