"""The Executor: sends committed orders to the broker and reports what became of them (two steps:
docs/architecture.md "Exactly once").

It sends only orders that are already committed (`Place`, from the Persister), and on a `Sweep` takes up every
order the facts say is still working (after a restart, a takeover or a dead letter). The paper broker fills
each order at once and deterministically, so taking an order up twice fills it the same way, and the
Persister records a fill once. A real broker's orders go to the order desk (basso/actors/order_desk.py), which
works each in a task of its own and records every step as it happens.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby

import asyncpg

from basso.actors.base import ActorRef
from basso.actors.database import DatabaseActor
from basso.actors.order_desk import OrderDesk
from basso.brokers.paper import paper_fill
from basso.config import Config
from basso.messages import ExecutorInbox, Filled, Message, PersisterInbox, Place, Sweep
from basso.rules.orders import OrderTicket
from basso.store.orders import working_orders


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutorContext:
    """The pool (working orders), the configuration (fills, costs) and the next actor."""

    pool: asyncpg.Pool
    config: Config
    persister: ActorRef[PersisterInbox]
    desk: OrderDesk | None = None  # a real broker's (None: the paper broker)


class Executor(DatabaseActor[ExecutorInbox]):
    """Fills committed orders on the paper broker."""

    def __init__(self, context: ExecutorContext) -> None:
        super().__init__(context.pool)
        self.context = context

    async def on_start(self) -> None:
        # A restart may have lost a Place in flight (a dead letter): whatever is still working is in the facts.
        await self.ref.tell(Sweep())

    async def handle(self, message: ExecutorInbox) -> None:
        match message:
            case Place():
                await self._place(message)
            case Sweep():
                await self._sweep(message)

    async def _place(self, message: Place) -> None:
        desk = self.context.desk
        if desk is not None:  # the facts have every order as committed, with its contract's symbol
            if message.working is not None and all(desk.working_on(t.client_id) for t in message.working.tickets):
                return  # taken up with an earlier signal's: a batch's orders are all read at its first Place
            for order in await self.db.run(working_orders, what="executor: orders"):
                desk.take_up(order)
            return
        if message.working is not None:
            await self._send_fills(message, message.signal_row, message.working.tickets, place=message)
            return
        signal = message.signal_row  # a redelivered commit: what is left of the signal's orders is in the facts
        working = await self.db.run(lambda conn: working_orders(conn, signal=signal), what="executor: orders")
        await self._send_fills(message, signal, tuple(w.ticket for w in working))

    async def _sweep(self, message: Sweep) -> None:
        working = await self.db.run(working_orders, what="executor: sweep")
        if self.context.desk is not None:
            for order in working:
                self.context.desk.take_up(order)
            return
        for signal, orders in groupby(working, key=lambda w: w.ticket.signal):
            await self._send_fills(message, signal, tuple(w.ticket for w in orders))

    async def _send_fills(
        self, cause: Message, signal: int, tickets: tuple[OrderTicket, ...], place: Place | None = None
    ) -> None:
        """The paper broker's fills of `tickets`, to the Persister; with the `place` that carried them, the commit
        that counted them working."""
        config = self.context.config
        fills = tuple((ticket, paper_fill(ticket, config)) for ticket in tickets)
        pending, working = (place.pending, place.working) if place is not None else (None, None)
        await self.send(
            self.context.persister,
            Filled.following(cause, signal_row=signal, pending=pending, working=working, fills=fills),
        )
