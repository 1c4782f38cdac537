"""Fixed-lot replays reproduce docs/tradingview-exports.md's figures, and the statistics follow their definitions."""

from __future__ import annotations

from decimal import Decimal

import pytest

from basso.backtest.replay import ReplayResult, replay_fixed
from basso.backtest.stats import equity_curve, per_instrument_stats, portfolio_stats
from basso.backtest.tradingview import ExportedTrade, parse_trade_list, read_trade_list
from basso.config import Config

from .exports import BANK_NIFTY_EXPORT, GOLD_EXPORT, export, trade

# docs/tradingview-exports.md: Net P&L is the sum of the Net P&L INR column; the formula lands within about ₹25 of it.
GOLD_NET = Decimal("30603208.39")
BANK_NIFTY_NET = Decimal("179625470.14")
FORMULA_TOLERANCE = Decimal(25)


@pytest.fixture(scope="module")
def gold() -> list[ExportedTrade]:
    return read_trade_list(GOLD_EXPORT, "GOLD_MINI")


@pytest.fixture(scope="module")
def bank_nifty() -> list[ExportedTrade]:
    return read_trade_list(BANK_NIFTY_EXPORT, "BANK_NIFTY")


def gold_replay(config: Config, gold: list[ExportedTrade], pnl: str = "formula") -> ReplayResult:
    return replay_fixed(
        {"GOLD_MINI": gold},
        capital=5_000_000,
        commission=0.0005,
        config=config,
        multipliers={"GOLD_MINI": 10},
        pnl_source=pnl,  # type: ignore[arg-type]
    )


def bank_nifty_replay(config: Config, bank_nifty: list[ExportedTrade], pnl: str = "formula") -> ReplayResult:
    return replay_fixed(
        {"BANK_NIFTY": bank_nifty},
        capital=5_000_000,
        commission=0.001,
        config=config,
        multipliers={"BANK_NIFTY": 35},
        pnl_source=pnl,  # type: ignore[arg-type]
    )


def test_gold_mini_fixed_replay_reproduces_the_readme_figures(config: Config, gold: list[ExportedTrade]) -> None:
    stats = portfolio_stats(gold_replay(config, gold))
    assert (stats.trades_closed, stats.trades_open, stats.winners, stats.max_lots) == (371, 0, 149, 190)
    assert stats.win_rate_pct == pytest.approx(40.16, abs=0.01)  # 149 / 371 = 40.161 %
    assert stats.profit_factor == pytest.approx(1.885, abs=0.001)
    assert abs(stats.net_pnl - GOLD_NET) <= FORMULA_TOLERANCE
    assert stats.final_equity == Decimal(5_000_000) + stats.net_pnl
    assert stats.max_drawdown_pct == pytest.approx(17.54, abs=0.01)


def test_gold_mini_export_pnl_mode_sums_the_net_pnl_column_exactly(config: Config, gold: list[ExportedTrade]) -> None:
    stats = portfolio_stats(gold_replay(config, gold, pnl="export"))
    assert stats.net_pnl == GOLD_NET
    assert (stats.winners, stats.max_lots) == (149, 190)
    assert stats.profit_factor == pytest.approx(1.885, abs=0.001)
    assert stats.max_drawdown_pct == pytest.approx(17.54, abs=0.01)


def test_every_gold_trade_is_within_half_a_rupee_of_tradingview(config: Config, gold: list[ExportedTrade]) -> None:
    replay = gold_replay(config, gold)
    by_number = {t.number: t.net_pnl for t in gold}
    assert all(abs(t.pnl - by_number[t.trade]) <= Decimal("0.5") for t in replay.closed)


def test_bank_nifty_fixed_replay_reproduces_the_readme_figures(config: Config, bank_nifty: list[ExportedTrade]) -> None:
    stats = portfolio_stats(bank_nifty_replay(config, bank_nifty))
    assert (stats.trades_closed, stats.trades_open, stats.winners, stats.max_lots) == (587, 0, 286, 395)
    assert stats.win_rate_pct == pytest.approx(48.72, abs=0.01)  # 286 / 587 = 48.722 %
    assert stats.profit_factor == pytest.approx(1.933, abs=0.001)
    assert abs(stats.net_pnl - BANK_NIFTY_NET) <= FORMULA_TOLERANCE
    assert stats.max_drawdown_pct == pytest.approx(28.26, abs=0.01)
    # CAGR from the first entry (2009-03-24) to the last exit (2025-10-31): 16 × 365 + 4 + 221 = 6,065 days
    # = 16.605 years of 365.25 days; equity grows from 50 L to 50 L + 17,96,25,470 = 36.925 × 50 L, and
    # 36.925^(1 ÷ 16.605) − 1 = e^(3.6089 ÷ 16.605) − 1 = 24.28 %.
    assert stats.cagr_pct == pytest.approx(24.28, abs=0.01)


def test_bank_nifty_export_pnl_mode_sums_the_net_pnl_column_exactly(
    config: Config, bank_nifty: list[ExportedTrade]
) -> None:
    stats = portfolio_stats(bank_nifty_replay(config, bank_nifty, pnl="export"))
    assert stats.net_pnl == BANK_NIFTY_NET
    assert stats.max_drawdown_pct == pytest.approx(28.26, abs=0.01)


def test_merged_portfolio_net_pnl_is_the_sum_of_both_and_per_instrument_figures_stand_alone(
    config: Config, gold: list[ExportedTrade], bank_nifty: list[ExportedTrade]
) -> None:
    merged = replay_fixed(
        {"GOLD_MINI": gold, "BANK_NIFTY": bank_nifty},
        capital=5_000_000,
        commission=0.0005,
        commissions={"BANK_NIFTY": 0.001},
        multipliers={"GOLD_MINI": 10, "BANK_NIFTY": 35},
        config=config,
    )
    alone_gold = portfolio_stats(gold_replay(config, gold))
    alone_bank = portfolio_stats(bank_nifty_replay(config, bank_nifty))
    stats = portfolio_stats(merged)
    assert stats.net_pnl == alone_gold.net_pnl + alone_bank.net_pnl
    assert abs(stats.net_pnl - (GOLD_NET + BANK_NIFTY_NET)) <= 2 * FORMULA_TOLERANCE
    assert (stats.trades_closed, stats.winners, stats.max_lots) == (371 + 587, 149 + 286, 395)
    assert stats.win_rate_pct == pytest.approx(100 * 435 / 958)
    assert stats.profit_factor == pytest.approx(
        float((alone_gold.gross_profit + alone_bank.gross_profit) / (alone_gold.gross_loss + alone_bank.gross_loss))
    )
    assert [t.exit_time for t in merged.closed] == sorted(t.exit_time for t in merged.closed)
    per = per_instrument_stats(merged)
    assert list(per) == ["GOLD_MINI", "BANK_NIFTY"]
    assert per["GOLD_MINI"] == alone_gold
    assert per["BANK_NIFTY"] == alone_bank


def test_merged_export_pnl_mode_is_the_exact_sum_of_both_columns(
    config: Config, gold: list[ExportedTrade], bank_nifty: list[ExportedTrade]
) -> None:
    merged = replay_fixed(
        {"GOLD_MINI": gold, "BANK_NIFTY": bank_nifty},
        capital=5_000_000,
        commission=0.0005,
        config=config,
        pnl_source="export",
    )
    assert portfolio_stats(merged).net_pnl == GOLD_NET + BANK_NIFTY_NET  # ₹20,82,28,678.53


def small_replay(
    config: Config, text: str, instrument: str = "GOLD_MINI", *, commission: float = 0.0005, capital: float = 5_000_000
) -> ReplayResult:
    return replay_fixed(
        {instrument: parse_trade_list(text, instrument)}, capital=capital, commission=commission, config=config
    )


def test_trade_pnl_is_lots_times_m_times_the_move_less_commission_on_both_sides(config: Config) -> None:
    text = export(
        trade(1, ("2024-01-02 10:00", 70000.0), ("2024-01-05 10:00", 70500.0), 2),
        trade(2, ("2024-01-08 10:00", 71000.0), ("2024-01-09 10:00", 70800.0), 1),
    )
    replay = small_replay(config, text)  # Gold Mini's point value is 10
    # Trade 1: 2 × 10 × 500 = 10,000 − 0.0005 × 10 × 2 × (70,000 + 70,500) = 1,405 ⇒ 8,595.
    # Trade 2: 1 × 10 × −200 = −2,000 − 0.0005 × 10 × 1 × (71,000 + 70,800) = 709 ⇒ −2,709.
    assert [t.pnl for t in replay.closed] == [Decimal("8595.00"), Decimal("-2709.00")]
    assert [t.commission for t in replay.closed] == [Decimal("1405.00"), Decimal("709.00")]
    stats = portfolio_stats(replay)
    assert stats.net_pnl == Decimal("5886.00")
    assert (stats.winners, stats.losers) == (1, 1)
    assert stats.profit_factor == pytest.approx(8595 / 2709)
    # Equity 50,00,000 → 50,08,595 (peak) → 50,05,886: drawdown 2,709 ÷ 50,08,595 = 0.054087 %.
    assert stats.max_drawdown_pct == pytest.approx(100 * 2709 / 5_008_595)
    assert (stats.average_win, stats.average_loss, stats.largest_loss) == (
        Decimal("8595.00"),
        Decimal("2709.00"),
        Decimal("2709.00"),
    )


def test_default_multiplier_is_the_point_value_on_the_trades_entry_date(config: Config) -> None:
    text = export(
        trade(1, ("2016-05-02 10:00", 10000.0), ("2016-05-03 10:00", 10100.0), 1),  # lot size 40 from 2016-04-29
        trade(2, ("2025-05-02 10:00", 50000.0), ("2025-05-05 10:00", 50100.0), 1),  # lot size 35 from 2025-04-25
    )
    replay = small_replay(config, text, "BANK_NIFTY", commission=0.0)
    assert [t.multiplier for t in replay.closed] == [40.0, 35.0]
    assert [t.pnl for t in replay.closed] == [Decimal("4000.00"), Decimal("3500.00")]  # 1 × M × 100 points


def test_open_trades_are_counted_apart_and_marked_at_the_export_price(config: Config) -> None:
    text = export(
        trade(1, ("2024-01-02 10:00", 70000.0), ("2024-01-05 10:00", 70500.0), 2),
        trade(2, ("2024-01-08 10:00", 71000.0), ("2024-01-10 10:00", 71300.0), 3, reason="Open"),
    )
    stats = portfolio_stats(small_replay(config, text, commission=0.0))
    assert (stats.trades_closed, stats.trades_open) == (1, 1)
    assert stats.net_pnl == Decimal("10000.00")  # 2 × 10 × 500; the open trade is not realised
    assert stats.unrealised == Decimal("9000.00")  # 3 × 10 × 300
    assert stats.max_open_lots == 3
    assert stats.end == parse_trade_list(text, "GOLD_MINI")[1].exit_time


def test_cagr_is_compounded_over_the_years_from_first_entry_to_last_exit(config: Config) -> None:
    # 730.5 days = 2 years of 365.25 days; 10,00,000 → 12,10,000 is 1.1² ⇒ 10 % a year.
    text = export(trade(1, ("2020-01-01 12:00", 100.0), ("2022-01-01 00:00", 121.0), 1000))
    stats = portfolio_stats(small_replay(config, text, commission=0.0, capital=1_000_000))
    assert stats.years == pytest.approx(2.0)
    assert stats.net_pnl == Decimal("210000.00")  # 1,000 × 10 × 21
    assert stats.cagr_pct == pytest.approx(10.0)


def test_time_in_market_and_max_open_lots_count_overlapping_layers_once(config: Config) -> None:
    # Held 1st–3rd (base) and 2nd–5th (pyramid), then 9th–11th: in the market 4 + 2 of the 10 days from the
    # 1st to the 11th ⇒ 60 %. Most held at once: 5 + 2 on the 2nd.
    text = export(
        trade(1, ("2024-01-01 00:00", 100.0), ("2024-01-03 00:00", 101.0), 5),
        trade(2, ("2024-01-02 00:00", 102.0), ("2024-01-05 00:00", 103.0), 2, label="PYR1-2L"),
        trade(3, ("2024-01-09 00:00", 100.0), ("2024-01-11 00:00", 101.0), 4),
    )
    stats = portfolio_stats(small_replay(config, text, commission=0.0))
    assert stats.time_in_market_pct == pytest.approx(100 * (4 + 2) / 10)
    assert (stats.max_lots, stats.max_open_lots) == (5, 7)


def test_trades_exiting_at_the_same_minute_make_one_equity_step(config: Config) -> None:
    text = export(
        trade(1, ("2024-01-01 10:00", 100.0), ("2024-01-03 10:00", 90.0), 10),
        trade(2, ("2024-01-02 10:00", 95.0), ("2024-01-03 10:00", 90.0), 10, label="PYR1-10L"),
    )
    replay = small_replay(config, text, commission=0.0)
    curve = equity_curve(replay.closed, replay.capital)
    # −10 × 10 × 10 = −1,000 and −10 × 10 × 5 = −500 at the same minute: one point at 49,98,500.
    assert [p.equity for p in curve] == [Decimal("4998500.00")]
    assert curve[0].drawdown_pct == pytest.approx(0.03)  # 1,500 ÷ 50,00,000
