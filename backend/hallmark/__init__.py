"""Hallmark: provenance and certificates for fine jewellery, anchored on an EVM chain."""

import sys as _sys

# py_ecc (imported by eth_account) raises the interpreter's recursion limit to 100,000 when it is
# first imported; deeply nested input would then overflow the C stack (a crash, not an error).
# Import it here, once, and put the limit back: nothing Hallmark runs recurses that deep.
_limit = _sys.getrecursionlimit()
import py_ecc  # noqa: E402, F401

_sys.setrecursionlimit(_limit)

__version__ = "0.1.0"
