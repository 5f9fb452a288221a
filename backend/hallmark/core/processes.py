"""Child processes that do not outlive the process that started them.

On Linux a process can ask the kernel for a signal when its parent dies (`prctl(2)`,
PR_SET_PDEATHSIG): `set_parent_death_signal`. The request survives `execve`, so a program that
cannot ask for itself (anvil) is started through this module, which asks and then becomes the
program, same pid and all (`bound_command`):

    python -m hallmark.core.processes PARENT_PID SIGNAL PROGRAM [ARGS...]

The kernel's "parent" is the thread that started the child: start bound children from a thread
that lives as long as they should (the main thread, or a supervising thread), never from a pool
thread that may end when idle. Elsewhere than on Linux these are no-ops and commands run as
they are.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Sequence

#: prctl(2) option: the signal the kernel sends when the parent dies (<linux/prctl.h>).
PR_SET_PDEATHSIG = 1


def supported() -> bool:
    return sys.platform.startswith("linux")


def set_parent_death_signal(signum: int = signal.SIGTERM) -> bool:
    """Ask the kernel to send this process `signum` when its parent dies; False if it cannot."""
    if not supported():
        return False
    # The standard library has no prctl; libc's is one call away.
    libc = ctypes.CDLL(None, use_errno=True)
    return bool(libc.prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0) == 0)


def bound_command(command: Sequence[str], signum: int = signal.SIGTERM) -> list[str]:
    """`command`, run so that it gets `signum` when this process (the calling thread) dies."""
    if not supported():
        return list(command)
    return [sys.executable, "-m", __name__, str(os.getpid()), str(int(signum)), *command]


def main(argv: Sequence[str]) -> None:
    """Become PROGRAM with the parent death signal set (see the module's docstring)."""
    if len(argv) < 3:
        sys.exit("usage: python -m hallmark.core.processes PARENT_PID SIGNAL PROGRAM [ARGS...]")
    parent, signum, program = int(argv[0]), int(argv[1]), list(argv[2:])
    if not set_parent_death_signal(signum):
        print("cannot set the parent death signal; running unbound", file=sys.stderr)
    if os.getppid() != parent:  # the parent died before the request was made
        sys.exit(1)
    os.execv(program[0], program)  # noqa: S606 -- becoming the program is the point


if __name__ == "__main__":
    main(sys.argv[1:])
