"""Token buckets, in the process's memory: per API key for the requests it makes, and per client for
its failed key checks. Each replica limits on its own: with R replicas behind a Service a key gets up to
R times the rate (README: "Rate limits")."""

import math
import threading
import time

# Names kept before full buckets (the same as no entry) are dropped: clients are many, keys are few.
MAX_NAMES = 50_000


class RateLimiter:
    """`rate` tokens a second on average and `burst` at once per name; `rate` 0: no limit."""

    def __init__(self, rate: float, burst: int):
        self.rate, self.burst = rate, max(burst, 1)
        self._buckets: dict[str, tuple[float, float]] = {}  # name -> (tokens, at)
        self._lock = threading.Lock()

    def _tokens(self, name: str, now: float) -> float:
        tokens, at = self._buckets.get(name, (float(self.burst), now))
        return min(float(self.burst), tokens + (now - at) * self.rate)

    def _retry_after(self, tokens: float) -> int:
        return max(1, math.ceil((1 - tokens) / self.rate))

    def take(self, name: str) -> int | None:
        """Spend a token: None when the request may go ahead, else the seconds to wait (Retry-After)."""
        if self.rate <= 0:
            return None
        now = time.monotonic()
        with self._lock:
            tokens = self._tokens(name, now)
            if tokens >= 1:
                self._buckets[name] = (tokens - 1, now)
                if len(self._buckets) > MAX_NAMES:
                    self._prune(now)
                return None
            self._buckets[name] = (tokens, now)
            if len(self._buckets) > MAX_NAMES:
                self._prune(now)
            return self._retry_after(tokens)

    def _prune(self, now: float) -> None:
        self._buckets = {n: b for n, b in self._buckets.items() if self._tokens(n, now) < self.burst}

    def empty(self, name: str) -> int | None:
        """Like `take` without spending: None while a token is left, else the seconds to wait."""
        if self.rate <= 0:
            return None
        with self._lock:
            tokens = self._tokens(name, time.monotonic())
        return None if tokens >= 1 else self._retry_after(tokens)
