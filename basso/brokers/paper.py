"""The paper broker (docs/rules.md §8): fills every order at the signal or bar price ± slippage ticks, with commission.

Deterministic by design: the same order always fills the same way, so re-sending an order whose fill was never
committed (a crash before the commit) does exactly what the first attempt would have done. Live, it takes the
two-step path every broker takes (`paper_fill` of a committed order); the backtest's fast path settles a whole
decision at once (`paper_fills`), at the very same prices.
"""

from __future__ import annotations

from basso.config import Config
from basso.enums import SignalOutcome
from basso.rules.book import Fill
from basso.rules.decisions import Decision
from basso.rules.money import commission
from basso.rules.orders import OrderTicket


def _fill(
    config: Config, *, instrument: str, layer: int, lots: int, price: float, point_value: float, opening: bool
) -> Fill:
    # Buying pays the slippage above the price asked for, selling gets it below.
    slipped = config.paper.slippage_ticks * config.instrument(instrument).tick
    fill_price = round(price + slipped if opening else price - slipped, 10)
    return Fill(
        instrument=instrument,
        layer=layer,
        lots=lots,
        price=fill_price,
        commission=commission(fill_price, lots, point_value, config.paper.commission_pct),
        opening=opening,
    )


def paper_fill(ticket: OrderTicket, config: Config) -> Fill:
    """The paper broker's complete fill of one committed order."""
    return _fill(
        config,
        instrument=ticket.instrument,
        layer=ticket.layer,
        lots=ticket.lots,
        price=ticket.price,
        point_value=ticket.point_value,
        opening=ticket.opening,
    )


def paper_fills(decision: Decision, config: Config) -> list[Fill]:
    """The fills of every entry (bought) and exit (sold) in `decision`, in order: exits first. Only an executed
    decision reaches the broker; any other fills nothing."""
    if decision.outcome is not SignalOutcome.EXECUTED:
        return []
    return [
        *(
            _fill(
                config,
                instrument=x.instrument,
                layer=x.layer,
                lots=x.lots,
                price=x.price,
                point_value=x.point_value,
                opening=False,
            )
            for x in decision.exits
        ),
        *(
            _fill(
                config,
                instrument=x.instrument,
                layer=x.layer,
                lots=x.lots,
                price=x.price,
                point_value=x.point_value,
                opening=True,
            )
            for x in decision.entries
        ),
    ]
