"""The leadership lease in Redis: one key, held by one instance's token, that expires unless renewed.

Acquire is `SET key token NX PX ttl`; renew and release compare the stored token with ours and only then
extend or delete the key, in one Lua script each, so an instance can never extend or delete a lease another
instance holds. The lease only says who *should* lead; the PostgreSQL fence (`basso.store.fence`) is what
makes a stale leader's writes impossible.
"""

from __future__ import annotations

import redis.asyncio as aioredis

__all__ = ["RedisLease"]

# KEYS[1] = the lease key, ARGV[1] = our token, ARGV[2] = TTL in milliseconds.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisLease:
    """The lease `key` on `redis`, `ttl_s` long."""

    def __init__(self, redis: aioredis.Redis, key: str, ttl_s: float) -> None:
        self.redis = redis
        self.key = key
        self.ttl_ms = max(1, round(ttl_s * 1000))
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)

    async def acquire(self, token: str) -> bool:
        """Take the lease for `token` if nobody holds it."""
        return bool(await self.redis.set(self.key, token, nx=True, px=self.ttl_ms))

    async def renew(self, token: str) -> bool:
        """Extend the lease by the full TTL if `token` still holds it; False if it has expired or changed hands."""
        return bool(await self._renew(keys=[self.key], args=[token, self.ttl_ms]))

    async def release(self, token: str) -> bool:
        """Give the lease up if `token` holds it (so a standby need not wait for it to expire)."""
        return bool(await self._release(keys=[self.key], args=[token]))

    async def time_left(self) -> float | None:
        """Seconds until the lease expires unless its holder renews it: 0.0 if nobody holds it, None if the key
        never expires (set by hand, not by an instance)."""
        ms = int(await self.redis.pttl(self.key))
        if ms == -2:  # no key
            return 0.0
        return None if ms < 0 else ms / 1000

    async def holder(self) -> str | None:
        """The token holding the lease, if any."""
        value = await self.redis.get(self.key)
        return value.decode() if isinstance(value, bytes) else value
