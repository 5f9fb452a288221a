"""Anchoring: the records outbox drained into Merkle roots on chain, and where each record stands.

`worker` runs the cycle (with `forming`, `transactions`, `reorgs`, `outbox`), `leadership` lets
one process anchor at a time, `status` is the read model of the records' anchoring, `readiness`
the worker's part of /readyz.
"""
