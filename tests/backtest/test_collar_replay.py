"""The price collar in the backtest (docs/rules.md §2, §11): an entry more than 10 % from the latest bar's close of the
last 24 hours is rejected, fast path or not, exactly as the live code rejects it."""

from __future__ import annotations

import pytest

from basso.config import Config
from basso.enums import SignalOutcome
from basso.rules.signals import SignalType
from tests.backtest.test_basso_replay import hand_bars, run, signal


@pytest.mark.parametrize("fast", [True, False])
def test_an_entry_far_from_the_latest_close_is_rejected_in_the_backtest(config: Config, fast: bool) -> None:
    # Gold Mini flat at 78,500 for 30 hourly bars. A base entry at bar 4's open at 87,000 is
    # (87,000 − 78,500) ÷ 78,500 = 10.83 % from bar 3's close, marked when bar 4 opened: rejected. One at bar 6's
    # open at 86,000 is 9.55 % away: inside the collar, sized as usual (a strategy's real fill of that gap).
    bars = hand_bars("GOLD_MINI", [78_500.0] * 30)
    far = signal(SignalType.BASE_ENTRY, "GOLD_MINI", 4, 87_000)
    near = signal(SignalType.BASE_ENTRY, "GOLD_MINI", 6, 86_000)
    result, seen = run(config, [bars], [far, near], fast=fast)
    rejected, executed = seen.of(SignalType.BASE_ENTRY)
    assert (rejected.outcome, rejected.reason) == (
        SignalOutcome.REJECTED,
        "rejected: price 87000 is 10.83% from the latest mark 78500, outside the 10% price collar",
    )
    assert executed.outcome is SignalOutcome.EXECUTED
    # Its stop, 86,000 − 1.0 × 100 = 85,900, is below the next close of 78,500: it exits there.
    assert [(t.entry_price, t.exit_price) for t in result.closed] == [(86_000.0, 78_500.0)]
