"""A per-source token bucket: each source may send `per_minute` requests a minute, in bursts up to that."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(slots=True)
class RateLimiter:
    """Token buckets keyed by source address, refilled continuously from an injected monotonic clock."""

    per_minute: int
    clock: Callable[[], float]
    max_sources: int = 10_000
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)  # source → (tokens, at)

    def allow(self, source: str) -> bool:
        """Take one token for `source`; False when its bucket is empty."""
        now = self.clock()
        tokens, at = self._buckets.get(source, (float(self.per_minute), now))
        tokens = min(float(self.per_minute), tokens + (now - at) * self.per_minute / 60.0)
        if tokens < 1.0:
            self._buckets[source] = (tokens, now)
            return False
        if len(self._buckets) >= self.max_sources and source not in self._buckets:
            self._forget_full_buckets(now)
        self._buckets[source] = (tokens - 1.0, now)
        return True

    def _forget_full_buckets(self, now: float) -> None:
        # A bucket that has refilled carries no information; dropping it bounds memory under address churn.
        full = [s for s, (t, at) in self._buckets.items() if t + (now - at) * self.per_minute / 60.0 >= self.per_minute]
        for source in full:
            del self._buckets[source]
