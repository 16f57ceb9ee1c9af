"""How many sockets and event streams one principal, and one client address, may hold open.

Each open socket and each SSE stream costs the process a watcher, buffers and a file
descriptor: a single client (anonymous, or one token) opened 4,000. Counted per gateway
process (no shared state, nothing to clean up after a crash): with N processes behind one
port a principal may hold up to N times the cap, and the kernel spreads its connections
across them. A refused socket is closed with 1013 (try again later) and a reason; a refused
stream is answered 429 ``rate_limited``.
"""

from __future__ import annotations

from collections import Counter

from taskgate.auth.principal import Principal
from taskgate.config import get_config
from taskgate.counters import count_refusal
from taskgate.protocol.codes import ErrorCode
from taskgate.protocol.errors import ProtocolError


class StreamCaps:
    """This process's open sockets and streams, by owner and by client address."""

    def __init__(self) -> None:
        self.by_owner: Counter[str] = Counter()
        self.by_address: Counter[str] = Counter()

    def take(self, principal: Principal) -> None:
        """Count one more stream of ``principal``, or raise ``rate_limited`` (not counted)."""
        config = get_config()
        if self.by_owner[principal.owner] >= config.max_streams_per_principal:
            count_refusal(ErrorCode.RATE_LIMITED)
            raise ProtocolError(
                ErrorCode.RATE_LIMITED,
                f"at most {config.max_streams_per_principal} open sockets and event streams "
                "per user or session",
                retry_after=1.0,
            )
        address = principal.address
        if address and self.by_address[address] >= config.max_streams_per_address:
            count_refusal(ErrorCode.RATE_LIMITED)
            raise ProtocolError(
                ErrorCode.RATE_LIMITED,
                f"at most {config.max_streams_per_address} open sockets and event streams "
                "per client address",
                retry_after=1.0,
            )
        self.by_owner[principal.owner] += 1
        if address:
            self.by_address[address] += 1

    def give_back(self, principal: Principal) -> None:
        _decrement(self.by_owner, principal.owner)
        if principal.address:
            _decrement(self.by_address, principal.address)


def _decrement(counts: Counter[str], key: str) -> None:
    counts[key] -= 1
    if counts[key] <= 0:
        del counts[key]
