"""Rolling a layer (docs/rules.md §7): urgency, legs, the spread shift and the state machine's steps.

Every expected figure is worked out by hand in the comment beside it.
"""

from __future__ import annotations

from datetime import date

import pytest

from basso.config import Config
from basso.enums import OrderSide, RollState
from basso.rules.contracts import atm_strike, contract_for
from basso.rules.layers import Layer
from basso.rules.rollover import (
    Leg,
    Urgency,
    close_legs,
    next_step,
    open_legs,
    roll_spread,
    roll_urgency,
    shifted,
    synthetic_price,
)


@pytest.mark.parametrize(
    ("day", "urgency"),
    [
        (date(2025, 12, 27), Urgency.NOT_DUE),  # 9 days before 5 Jan 2026: outside Gold Mini's 8-day window
        (date(2025, 12, 28), Urgency.NOT_DUE),  # 8 days: not fewer than 8
        (date(2025, 12, 29), Urgency.DUE),  # 7 days
        (date(2026, 1, 3), Urgency.DUE),  # 2 days: not fewer than expiry_alert_days = 2
        (date(2026, 1, 4), Urgency.URGENT),  # 1 day
        (date(2026, 1, 5), Urgency.URGENT),  # expiry day itself: 0 days
        (date(2026, 1, 6), Urgency.EXPIRED),  # a day past expiry
    ],
)
def test_a_gold_mini_roll_escalates_as_expiry_nears(config: Config, day: date, urgency: Urgency) -> None:
    gold = config.instruments["GOLD_MINI"]
    assert roll_urgency(gold, date(2026, 1, 5), day, alert_days=config.portfolio.expiry_alert_days) is urgency


def test_a_bank_nifty_synthetic_layer_rolls_in_four_legs_into_the_new_atm_strike(config: Config) -> None:
    bank_nifty = config.instruments["BANK_NIFTY"]
    old = contract_for(bank_nifty, date(2025, 12, 30))
    new = contract_for(bank_nifty, date(2026, 1, 27))
    strike = atm_strike(53_412, 500)  # 53,412 is 88 from 53,500 and 412 from 53,000
    assert strike == 53_500
    # 3 lots × 30 = 90 units a leg; the put is bought back before the call is sold (never a naked short put).
    assert close_legs(bank_nifty, old, lots=3, lot_size=30, strike=52_000) == (
        Leg(symbol="BANKNIFTY30DEC2552000PE", side=OrderSide.BUY, quantity=90),
        Leg(symbol="BANKNIFTY30DEC2552000CE", side=OrderSide.SELL, quantity=90),
    )
    assert open_legs(bank_nifty, new, lots=3, lot_size=30, strike=strike) == (
        Leg(symbol="BANKNIFTY27JAN2653500PE", side=OrderSide.SELL, quantity=90),
        Leg(symbol="BANKNIFTY27JAN2653500CE", side=OrderSide.BUY, quantity=90),
    )


def test_a_gold_mini_layer_rolls_in_one_leg_each_way(config: Config) -> None:
    gold = config.instruments["GOLD_MINI"]
    assert close_legs(gold, contract_for(gold, date(2026, 1, 5)), lots=2, lot_size=1, strike=None) == (
        Leg(symbol="GOLDM05JAN26FUT", side=OrderSide.SELL, quantity=2),
    )
    assert open_legs(gold, contract_for(gold, date(2026, 2, 5)), lots=2, lot_size=1, strike=None) == (
        Leg(symbol="GOLDM05FEB26FUT", side=OrderSide.BUY, quantity=2),
    )


def test_the_roll_spread_shifts_entry_highest_close_and_stops_so_the_risk_is_unchanged() -> None:
    # Old synthetic at strike 52,000: call 850, put 620 ⇒ 52,000 + 850 − 620 = 52,230.
    # New synthetic at strike 53,500: call 1,400, put 1,150 ⇒ 53,500 + 1,400 − 1,150 = 53,750. Spread 1,520.
    old_price = synthetic_price(52_000, call=850, put=620)
    new_price = synthetic_price(53_500, call=1_400, put=1_150)
    assert (old_price, new_price) == (52_230, 53_750)
    spread = roll_spread(old_price, new_price)
    assert spread == 1_520
    layer = Layer(
        instrument="BANK_NIFTY",
        layer=2,
        lots=3,
        entry_price=52_000,
        initial_stop=51_475,
        stop=51_900,
        highest_close=53_000,
        point_value=30,
    )
    rolled = shifted(layer, spread)
    assert (rolled.entry_price, rolled.initial_stop, rolled.stop, rolled.highest_close) == (
        53_520,
        52_995,
        53_420,
        54_520,
    )
    # Risk to the stop: (53,520 − 53,420) × 3 × 30 = ₹9,000, as before: (52,000 − 51,900) × 3 × 30.
    assert (rolled.entry_price - rolled.stop) * 3 * 30 == (layer.entry_price - layer.stop) * 3 * 30 == 9_000
    # Unrealised at the new contract's price equals the old contract's at its own price: (52,230 − 52,000) × 90.
    assert (new_price - rolled.entry_price) * 90 == (old_price - layer.entry_price) * 90 == 20_700
    assert (rolled.layer, rolled.lots, rolled.instrument) == (2, 3, "BANK_NIFTY")  # the same layer, same size


def test_a_partial_close_rolls_what_closed_and_the_remainder_at_the_next_step() -> None:
    # 5 lots to roll; the first close fills 3.
    step = next_step(RollState.PENDING, old_lots=5, closed_lots=0, opened_lots=0, working=False)
    assert (step.state, step.close_lots, step.open_lots) == (RollState.CLOSING_OLD, 5, 0)
    step = next_step(step.state, old_lots=2, closed_lots=3, opened_lots=0, working=False)
    assert (step.state, step.close_lots, step.open_lots) == (RollState.OPENING_NEW, 0, 3)  # far leg = what closed
    step = next_step(step.state, old_lots=2, closed_lots=3, opened_lots=3, working=False)
    assert (step.state, step.close_lots, step.open_lots) == (RollState.CLOSING_OLD, 2, 0)  # the remainder
    step = next_step(step.state, old_lots=0, closed_lots=5, opened_lots=3, working=False)
    assert (step.state, step.close_lots, step.open_lots) == (RollState.OPENING_NEW, 0, 2)
    step = next_step(step.state, old_lots=0, closed_lots=5, opened_lots=5, working=False)
    assert (step.state, step.close_lots, step.open_lots) == (RollState.DONE, 0, 0)
    assert step.reason == "5 lot(s) rolled"


def test_a_roll_waits_for_a_working_order_and_a_finished_roll_stays_finished() -> None:
    waiting = next_step(RollState.PENDING, old_lots=5, closed_lots=0, opened_lots=0, working=True)
    assert (waiting.state, waiting.close_lots, waiting.open_lots) == (RollState.PENDING, 0, 0)
    assert "working" in waiting.reason
    for final in (RollState.DONE, RollState.FAILED):
        step = next_step(final, old_lots=5, closed_lots=0, opened_lots=0, working=False)
        assert (step.state, step.close_lots, step.open_lots) == (final, 0, 0)


def test_a_crash_between_steps_resumes_from_the_facts_not_from_the_stored_state() -> None:
    # Stored as closing_old, but the close had filled whole before the crash: the next step opens, not closes again.
    step = next_step(RollState.CLOSING_OLD, old_lots=0, closed_lots=4, opened_lots=0, working=False)
    assert (step.state, step.close_lots, step.open_lots) == (RollState.OPENING_NEW, 0, 4)
