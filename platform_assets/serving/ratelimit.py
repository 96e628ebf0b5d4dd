"""Per-key rate limiting: a token bucket per API key, in the process's memory (each replica limits on
its own: with R replicas behind a Service a key gets up to R times the rate)."""

import math
import threading
import time


class RateLimiter:
    """`rate` requests a second on average and `burst` at once per key; `rate` 0: no limit."""

    def __init__(self, rate: float, burst: int):
        self.rate, self.burst = rate, max(burst, 1)
        self._buckets: dict[str, tuple[float, float]] = {}  # key id -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, key_id: str) -> int | None:
        """None when the request may go ahead, else the seconds to wait (for Retry-After)."""
        if self.rate <= 0:
            return None
        now = time.monotonic()
        with self._lock:
            tokens, at = self._buckets.get(key_id, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate)
            if tokens >= 1:
                self._buckets[key_id] = (tokens - 1, now)
                return None
            self._buckets[key_id] = (tokens, now)
            return max(1, math.ceil((1 - tokens) / self.rate))
