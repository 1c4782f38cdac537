"""The pure drawdown rules (docs/rules.md §2): bands and their alerts, how capital flows and a reset move the peak,
and the `peak_days` window; with the price collar's 24 hours and the emergency's candidates (docs/rules.md §6)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from basso.config import Config, ConfigError, load_config
from basso.enums import AlertLevel, SignalOutcome
from basso.rules.book import Book
from basso.rules.decisions import decide
from basso.rules.equity import drawdown_band, drawdown_band_alert, drawdown_band_name, peak_after_capital
from basso.rules.layers import Layer, PortfolioSnapshot
from basso.rules.signals import MarketData, SignalType, TradingSignal
from basso.rules.stops import emergency_exits

DAY = date(2026, 11, 2)


@pytest.mark.parametrize(
    ("pct", "band", "name"),
    [
        (0.0, 0, "below 5%"),
        (4.99, 0, "below 5%"),
        (5.0, 1, "5–10%"),
        (9.99, 1, "5–10%"),
        (10.0, 2, "10–15%"),
        (15.0, 2, "10–15%"),  # at exactly 15 % pyramids are still allowed: the halt is *above* 15 %
        (15.01, 3, "above 15%"),
        (60.0, 3, "above 15%"),
    ],
)
def test_bands_follow_the_drawdown_rules_boundaries(config: Config, pct: float, band: int, name: str) -> None:
    assert drawdown_band(pct, config.drawdown) == band
    assert drawdown_band_name(band, config.drawdown) == name


def test_entering_a_band_warns_halting_is_critical_leaving_is_news(config: Config) -> None:
    rules = config.drawdown
    assert drawdown_band_alert(before=4.0, after=4.9, peak=100.0, rules=rules) is None
    deeper = drawdown_band_alert(before=4.0, after=11.0, peak=100.0, rules=rules)
    assert deeper is not None
    assert (deeper.level, deeper.message) == (
        AlertLevel.WARNING,
        "drawdown band below 5% → 10–15%: drawdown 11.00%: risk × 0.5, no new base entries (peak ₹100.00)",
    )
    halted = drawdown_band_alert(before=11.0, after=16.0, peak=100.0, rules=rules)
    assert halted is not None
    assert halted.level is AlertLevel.CRITICAL
    left = drawdown_band_alert(before=16.0, after=6.0, peak=100.0, rules=rules)
    assert left is not None
    assert (left.level, left.detail["from_band"], left.detail["to_band"]) == (AlertLevel.INFO, 3, 1)


def test_a_deposit_adds_to_the_peak_and_a_withdrawal_scales_it() -> None:
    # Deposit ₹5 L: peak × 1 + 5 L. Withdraw ₹10 L from equity ₹40 L: peak × (40 − 10) ÷ 40 = × 0.75.
    assert peak_after_capital(amount=500_000.0, equity=4_000_000.0) == (1.0, 500_000.0)
    assert peak_after_capital(amount=-1_000_000.0, equity=4_000_000.0) == (0.75, 0.0)
    assert peak_after_capital(amount=-1_000_000.0, equity=0.0) == (0.0, 0.0)  # no equity, no peak to keep


def test_a_withdrawal_keeps_the_drawdown_and_a_deposit_does_not_fake_a_recovery(config: Config) -> None:
    # Nothing open: equity 45 L, peak 50 L ⇒ 10 % drawdown.
    book = Book(closed_equity=Decimal(4_500_000), high_water=Decimal(5_000_000), equity_peak=5_000_000.0)
    assert book.drawdown_pct(config) == pytest.approx(10.0)
    # Withdraw 15 L: equity 30 L, peak 50 L × 30 ÷ 45 = 33,33,333.33 ⇒ still 10 %.
    withdrawn, _ = book.with_capital(Decimal(-1_500_000), config)
    assert withdrawn.closed_equity == Decimal(3_000_000)
    assert withdrawn.equity_peak == pytest.approx(3_333_333.333)
    assert withdrawn.drawdown_pct(config) == pytest.approx(10.0)
    # Deposit 5 L: equity 50 L, peak 55 L ⇒ 5 ÷ 55 = 9.09 %: the ₹5 L gap stays a gap.
    deposited, _ = book.with_capital(Decimal(500_000), config)
    assert deposited.drawdown_pct(config) == pytest.approx(100 * 500_000 / 5_500_000)


def test_a_reset_makes_todays_equity_the_peak(config: Config) -> None:
    book = Book(
        closed_equity=Decimal(4_500_000),
        high_water=Decimal(5_000_000),
        equity_peak=5_000_000.0,
        day=DAY,
        earlier_peaks=((DAY - timedelta(days=3), 5_000_000.0),),
    )
    reset = book.with_peak_reset(config)
    assert (reset.equity_peak, reset.day_peak, reset.earlier_peaks, reset.drawdown_pct(config)) == (
        4_500_000.0,
        4_500_000.0,
        (),
        0.0,
    )


def test_the_peak_window_forgets_the_days_that_leave_it() -> None:
    # A 3-day window on 2 Nov holds 31 Oct, 1 Nov and 2 Nov. Peaks: 30 Oct 60 L, 31 Oct 55 L, 1 Nov 52 L.
    book = Book(
        closed_equity=Decimal(5_000_000),
        high_water=Decimal(6_000_000),
        equity_peak=6_000_000.0,
        earlier_peaks=(
            (date(2026, 10, 30), 6_000_000.0),
            (date(2026, 10, 31), 5_500_000.0),
            (date(2026, 11, 1), 5_200_000.0),
        ),
    )
    on_2nd = book.on_day(DAY, 3)
    assert (on_2nd.equity_peak, on_2nd.day_peak) == (5_500_000.0, 0.0)  # 30 Oct left the window
    assert on_2nd.earlier_peaks == ((date(2026, 10, 31), 5_500_000.0), (date(2026, 11, 1), 5_200_000.0))
    # The 2nd's own highest (51 L, raised by the day's trading) joins the window on the 3rd; 31 Oct leaves it.
    on_3rd = replace(on_2nd, day_peak=5_100_000.0).on_day(date(2026, 11, 3), 3)
    assert on_3rd.equity_peak == 5_200_000.0
    # All time (0), the peak stays whatever the day.
    assert book.on_day(DAY, 0).equity_peak == 6_000_000.0


def test_the_window_comes_from_the_config(tmp_path: Path) -> None:
    (tmp_path / "basso.toml").write_text("[drawdown]\npeak_days = 30\n")
    assert load_config(tmp_path / "basso.toml").drawdown.peak_days == 30
    (tmp_path / "bad.toml").write_text("[drawdown]\npeak_days = -1\n")
    with pytest.raises(ConfigError, match=r"drawdown\.peak_days"):
        load_config(tmp_path / "bad.toml")


def test_the_collar_is_per_instrument_with_a_default(config: Config, tmp_path: Path) -> None:
    assert {i.price_collar_pct for i in config.instruments.values()} == {10.0}
    (tmp_path / "basso.toml").write_text("[instruments.GOLD_MINI]\nprice_collar_pct = 4\n")
    mine = load_config(tmp_path / "basso.toml")
    assert (mine.instrument("GOLD_MINI").price_collar_pct, mine.instrument("BANK_NIFTY").price_collar_pct) == (4, 10)


def entry(price: float, at: datetime) -> TradingSignal:
    return TradingSignal(
        type=SignalType.BASE_ENTRY,
        instrument="GOLD_MINI",
        layer=1,
        price=price,
        stop=price - 100,
        lots=1,
        atr=100,
        er=1.0,
        supertrend=None,
        timestamp=at,
    )


def test_the_collar_reads_only_a_mark_of_the_last_24_hours(config: Config) -> None:
    marked = datetime(2026, 11, 2, 5, 0, tzinfo=UTC)
    book = Book(
        closed_equity=Decimal(5_000_000),
        high_water=Decimal(5_000_000),
        equity_peak=5_000_000.0,
        price={"GOLD_MINI": 78_500.0},
        atr={"GOLD_MINI": 100.0},
        marked_at={"GOLD_MINI": marked},
    )
    # 86,400 is 10.06 % above 78,500: rejected within 24 h of the mark, sized normally a second after them.
    assert decide(entry(86_400, marked + timedelta(hours=24)), book, config).outcome is SignalOutcome.REJECTED
    later = decide(entry(86_400, marked + timedelta(hours=24, seconds=1)), book, config)
    assert later.outcome is SignalOutcome.EXECUTED
    # 86,350 is exactly 10 % away: inside the collar (only *more* than 10 % is refused).
    assert decide(entry(86_350, marked), book, config).outcome is SignalOutcome.EXECUTED


def test_a_rejected_entry_carries_no_mark_and_an_ignored_exit_does(config: Config) -> None:
    at = datetime(2026, 11, 2, 5, 0, tzinfo=UTC)
    layer = Layer(
        instrument="GOLD_MINI",
        layer=1,
        lots=1,
        entry_price=78_500,
        initial_stop=78_400,
        stop=78_400,
        highest_close=78_500,
        point_value=10,
    )
    book = Book(
        closed_equity=Decimal(5_000_000),
        high_water=Decimal(5_000_000),
        equity_peak=5_000_000.0,
        layers=(layer,),
        price={"GOLD_MINI": 78_500.0},
        atr={"GOLD_MINI": 100.0},
    )
    assert decide(entry(78_600, at), book, config).mark is None  # Long_1 is open: rejected
    exit_long_3 = TradingSignal(
        type=SignalType.EXIT,
        instrument="GOLD_MINI",
        layer=3,
        price=78_800,
        stop=None,
        lots=0,
        atr=None,
        er=None,
        supertrend=None,
        timestamp=at,
        reason="trail",
    )
    ignored = decide(exit_long_3, book, config)
    assert ignored.outcome is SignalOutcome.IGNORED
    assert ignored.mark is not None
    assert (ignored.mark.price, ignored.mark.atr, ignored.mark.bar) == (78_800, 100.0, False)


def test_a_bar_stamped_at_the_latest_bar_is_ignored(config: Config) -> None:
    at = datetime(2026, 11, 2, 5, 0, tzinfo=UTC)
    book = Book(
        closed_equity=Decimal(5_000_000),
        high_water=Decimal(5_000_000),
        equity_peak=5_000_000.0,
        price={"GOLD_MINI": 78_500.0},
        atr={"GOLD_MINI": 100.0},
        bar_at={"GOLD_MINI": at},
    )
    for stamp in (at - timedelta(seconds=1), at):
        late = decide(MarketData(instrument="GOLD_MINI", timestamp=stamp, price=70_000, atr=100), book, config)
        assert (late.outcome, late.mark, late.exits) == (SignalOutcome.IGNORED, None, ())
    newer = decide(
        MarketData(instrument="GOLD_MINI", timestamp=at + timedelta(seconds=1), price=78_600, atr=100), book, config
    )
    assert newer.outcome is SignalOutcome.EXECUTED


def test_the_emergency_closes_the_bars_instruments_least_profitable_layer(config: Config) -> None:
    # E ₹10 L. Gold L1 5 lots: entry 80,000, stop 76,000, risk 4,000 × 5 × 10 = 2,00,000 (20 %), marked
    # 80,100: +5,000. BN L1 1 lot at 50,000, stop 49,000: risk 30,000 (3 %), marked 51,000: +30,000.
    # Gold L2 1 lot at 80,050, stop 79,050: risk 10,000 (1 %), +500. Total 24 % > 18 %.
    # On a Gold bar only Gold's layers are candidates, least profit first: L2 (+500) ⇒ 23 %, then L1
    # (+5,000) ⇒ 3 % < 15 %. BN (more profitable, and not the bar's) stays.
    g1 = Layer(
        instrument="GOLD_MINI",
        layer=1,
        lots=5,
        entry_price=80_000,
        initial_stop=76_000,
        stop=76_000,
        highest_close=80_100,
        point_value=10,
    )
    g2 = Layer(
        instrument="GOLD_MINI",
        layer=2,
        lots=1,
        entry_price=80_050,
        initial_stop=79_050,
        stop=79_050,
        highest_close=80_100,
        point_value=10,
    )
    bn = Layer(
        instrument="BANK_NIFTY",
        layer=1,
        lots=1,
        entry_price=50_000,
        initial_stop=49_000,
        stop=49_000,
        highest_close=51_000,
        point_value=30,
    )
    snapshot = PortfolioSnapshot(
        equity=1_000_000, layers=(bn, g1, g2), price={"GOLD_MINI": 80_100.0, "BANK_NIFTY": 51_000.0}
    )
    plan = emergency_exits(snapshot, config.portfolio, instrument="GOLD_MINI")
    assert plan.exits == (g2, g1)
    assert (round(plan.risk_pct_before, 6), round(plan.risk_pct_after, 6)) == (24.0, 3.0)
