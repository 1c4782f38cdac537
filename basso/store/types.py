"""Connection types the store functions accept: a plain connection, or one borrowed from a pool."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg

if TYPE_CHECKING:
    # asyncpg's pool proxy is generic only to the type checker; at run time it is not subscriptable.
    from asyncpg.pool import PoolConnectionProxy

    Connection: TypeAlias = asyncpg.Connection | PoolConnectionProxy[Any]
    Executor: TypeAlias = asyncpg.Connection | PoolConnectionProxy[Any] | asyncpg.Pool
else:
    Connection = Executor = Any
