"""The paper broker (docs/rules.md §8): fills every order at the signal or bar price ± slippage ticks, with commission.

Deterministic by design: the same decision always fills the same way, so re-running a signal whose
outcome was never committed (a crash before the commit) does exactly what the first run would have done.
"""

from __future__ import annotations

from basso.config import Config
from basso.enums import SignalOutcome
from basso.rules.book import Fill
from basso.rules.decisions import Decision
from basso.rules.money import commission


def paper_fills(decision: Decision, config: Config) -> list[Fill]:
    """The fills of every entry (bought) and exit (sold) in `decision`, in order: exits first. Only an executed
    decision reaches the broker; any other fills nothing."""
    fills: list[Fill] = []
    if decision.outcome is not SignalOutcome.EXECUTED:
        return fills
    slippage = config.paper.slippage_ticks
    for exit_ in decision.exits:
        instrument = config.instrument(exit_.instrument)
        price = round(exit_.price - slippage * instrument.tick, 10)
        fills.append(
            Fill(
                instrument=exit_.instrument,
                layer=exit_.layer,
                lots=exit_.lots,
                price=price,
                commission=commission(price, exit_.lots, exit_.point_value, config.paper.commission_pct),
                opening=False,
            )
        )
    for entry in decision.entries:
        instrument = config.instrument(entry.instrument)
        price = round(entry.price + slippage * instrument.tick, 10)
        fills.append(
            Fill(
                instrument=entry.instrument,
                layer=entry.layer,
                lots=entry.lots,
                price=price,
                commission=commission(price, entry.lots, entry.point_value, config.paper.commission_pct),
                opening=True,
            )
        )
    return fills
