"""The Redis lease: one holder at a time, and only the holder can renew or release it (real Redis)."""

from __future__ import annotations

import redis.asyncio as aioredis

from basso.store.lease import RedisLease

KEY = "basso:test-lease"


async def test_the_first_token_takes_the_lease_and_a_second_is_refused(redis_client: aioredis.Redis) -> None:
    lease = RedisLease(redis_client, KEY, 3.0)
    assert await lease.acquire("a:1")
    assert not await lease.acquire("b:1")
    assert await lease.holder() == "a:1"
    assert 2900 < await redis_client.pttl(KEY) <= 3000


async def test_only_the_holder_renews_and_an_expired_lease_is_not_revived(redis_client: aioredis.Redis) -> None:
    lease = RedisLease(redis_client, KEY, 3.0)
    assert await lease.acquire("a:1")
    await redis_client.pexpire(KEY, 500)
    assert not await lease.renew("b:1")
    assert await redis_client.pttl(KEY) <= 500  # the other token's renewal changed nothing
    assert await lease.renew("a:1")
    assert await redis_client.pttl(KEY) > 2900  # renewed by the full TTL
    await redis_client.delete(KEY)  # as if it expired
    assert not await lease.renew("a:1")
    assert await lease.holder() is None  # a renewal never re-creates the key


async def test_only_the_holder_releases_and_then_anyone_may_take_it(redis_client: aioredis.Redis) -> None:
    lease = RedisLease(redis_client, KEY, 3.0)
    assert await lease.acquire("a:1")
    assert not await lease.release("b:1")
    assert await lease.holder() == "a:1"
    assert await lease.release("a:1")
    assert await lease.holder() is None
    assert await lease.acquire("b:1")


async def test_time_left_is_the_lease_remaining_ttl_zero_when_free_none_when_it_never_expires(
    redis_client: aioredis.Redis,
) -> None:
    lease = RedisLease(redis_client, KEY, 3.0)
    assert await lease.time_left() == 0.0  # nobody holds it
    assert await lease.acquire("a:1")
    await redis_client.pexpire(KEY, 800)
    left = await lease.time_left()
    assert left is not None
    assert 0.7 < left <= 0.8
    await redis_client.persist(KEY)  # a key set by hand, without expiry
    assert await lease.time_left() is None
