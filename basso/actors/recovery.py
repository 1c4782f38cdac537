"""Recovery: after every leadership gain, and before the gate opens, rebuild from the facts (docs/architecture.md
"Recovery").

It reads the book from PostgreSQL — open positions, the ledger, marks, the kill switch — which also checks
every stored fact: a corrupt one (lots ≤ 0, an unknown instrument, a missing stop) halts the process with a
message naming the row rather than trade on it. On a database's first leadership it books the initial
capital. It tells the SignalReceiver to forget what it knew (another leader may have changed the facts), counts what
is still pending, and only then opens the gate. The paper broker keeps no state of its own, so there is
nothing to reconcile with it; a real broker's open orders are reconciled here too once the OpenAlgo executor
lands.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import asyncpg

from basso.actors.base import ActorRef
from basso.actors.database import DatabaseActor
from basso.config import Config
from basso.messages import Rebuild, ReceiverInbox, Recover
from basso.store.book import CorruptFacts, load_book
from basso.store.capital import deposit_if_empty
from basso.store.fence import FenceLost
from basso.store.reads import pending_count

__all__ = ["Recovery", "RecoveryContext"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class RecoveryContext:
    """What Recovery reads and whom it tells."""

    pool: asyncpg.Pool
    config: Config
    receiver: ActorRef[ReceiverInbox]
    epoch: Callable[[], int]  # the epoch this instance currently leads at
    capital: Decimal | None  # the initial deposit when the ledger is empty (None: deposit nothing)
    wall_clock: Callable[[], datetime]
    on_recovered: Callable[[int], None]  # the epoch recovered: open the gate
    halt: Callable[[str], None]  # stop the process: the facts cannot be traded on


class Recovery(DatabaseActor[Recover]):
    """Handles `Recover` for the epoch just taken; a `Recover` of an epoch already superseded is dropped."""

    def __init__(self, context: RecoveryContext) -> None:
        super().__init__(context.pool)
        self.context = context

    async def handle(self, message: Recover) -> None:
        context = self.context
        if message.epoch != context.epoch():
            return  # leadership changed again meanwhile; that change brings its own Recover
        try:
            if context.capital is not None:
                capital = context.capital
                if await self.db.run(
                    lambda conn: deposit_if_empty(conn, epoch=message.epoch, amount=capital, at=context.wall_clock()),
                    what="recovery: capital",
                ):
                    log.info("deposited initial capital %s", capital)
            book = await self.db.run(lambda conn: load_book(conn, context.config), what="recovery: book")
        except CorruptFacts as exc:
            context.halt(f"recovery refused the stored facts: {exc}")
            return
        except FenceLost as exc:
            log.warning("recovery for epoch %d abandoned: %s", message.epoch, exc)
            return
        pending = await self.db.run(pending_count, what="recovery: pending")
        # Put straight into the SignalReceiver's mailbox, not staged until this handler returns: it must be there before
        # the gate opens below, ahead of any Poll. A redone Recover sends it twice, which is harmless.
        await context.receiver.tell(Rebuild(epoch=message.epoch))
        log.info(
            "recovered for epoch %d: %d open layer(s), closed equity %s, %d signal(s) pending",
            message.epoch,
            len(book.layers),
            book.closed_equity,
            pending,
        )
        context.on_recovered(message.epoch)
