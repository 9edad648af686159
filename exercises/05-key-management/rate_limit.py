"""Count failed attempts, per client address and per key id, with the `limits` library.

Only failures count: a client with a valid key is never slowed down by someone
else's mistakes, from its own network or against its own key id. The limiter is
not what protects the keys (190 random bits do that); it keeps a broken client
or a scanner from hammering the key store and flooding the logs, and tells it
when to try again.

The counters live in each process's memory. With several worker processes
(`uvicorn --workers 4`) every worker counts on its own, so a client gets up to
four times the allowance; set RATE_LIMIT_STORAGE to a shared store (for example
redis://localhost:6379) to count across workers and machines.
"""

from __future__ import annotations

import math
import os
import time

from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter


class FailureLimiter:
    def __init__(self, per_address: str = "20/minute", per_key: str = "5/minute",
                 storage_uri: str = "memory://") -> None:
        self.per_address, self.per_key = parse(per_address), parse(per_key)
        self.limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))

    @classmethod
    def from_env(cls) -> "FailureLimiter":
        return cls(os.environ.get("FAILED_AUTH_LIMIT_PER_ADDRESS", "20/minute"),
                   os.environ.get("FAILED_AUTH_LIMIT_PER_KEY", "5/minute"),
                   os.environ.get("RATE_LIMIT_STORAGE", "memory://"))

    def failed(self, address: str, key_id: str | None) -> int | None:
        """Count one failed attempt. None: answer 401 as usual; a number: too many, retry after that many seconds."""
        over = []
        if not self.limiter.hit(self.per_address, "address", address):
            over.append((self.per_address, ("address", address)))
        if key_id is not None and not self.limiter.hit(self.per_key, "key", key_id):
            over.append((self.per_key, ("key", key_id)))
        return max((self._retry_after(item, ids) for item, ids in over), default=None)

    def _retry_after(self, item: RateLimitItem, ids: tuple[str, ...]) -> int:
        reset_at, _remaining = self.limiter.get_window_stats(item, *ids)
        return max(1, math.ceil(reset_at - time.time()))
