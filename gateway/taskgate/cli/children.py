"""Starting child processes that behave: signals unblocked, and gone when their parent dies."""

from __future__ import annotations

import ctypes
import signal
import sys

_PR_SET_PDEATHSIG = 1


def child_setup() -> None:
    """Runs in a child before exec: unblock the signals a supervisor may have blocked, and
    ask Linux to send SIGTERM if the parent dies (so a killed supervisor leaves no orphans)."""
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
