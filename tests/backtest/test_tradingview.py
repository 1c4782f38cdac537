"""Reading TradingView "List of trades" exports and the signals they imply."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

import pytest

from basso.backtest.tradingview import (
    TradeListError,
    merge_signals,
    parse_trade_list,
    read_trade_list,
    signals_from_trades,
)
from basso.rules.signals import SignalType
from basso.timeutil import IST

from .exports import BANK_NIFTY_EXPORT, GOLD_EXPORT, HEADER, export, row, trade


def ist(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=IST)


def test_gold_export_reads_371_trades_with_their_layers_lots_and_ist_times() -> None:
    trades = read_trade_list(GOLD_EXPORT, "GOLD_MINI")
    assert len(trades) == 371
    # docs/tradingview-exports.md and the file itself: ENTRY labels 369, PYR1 labels 2 (trades 160 and 243).
    assert Counter(t.layer for t in trades) == {1: 369, 2: 2}
    first = trades[0]
    # Line 2: "1,Exit long,2015-03-23 10:00,EXIT - Basso Stop,26123,43,..."; line 3: the entry at 26220.
    assert (first.number, first.lots, first.entry_price, first.exit_price) == (1, 43, 26220.0, 26123.0)
    assert first.entry_time == ist("2015-03-20T21:00")
    assert first.exit_time == ist("2015-03-23T10:00")
    assert first.net_pnl == Decimal("-52963.75")
    assert first.line == 2
    assert not any(t.is_open for t in trades)


def test_bank_nifty_export_reads_eod_entries_as_base_and_pyr_k_as_layer_k_plus_1() -> None:
    trades = read_trade_list(BANK_NIFTY_EXPORT, "BANK_NIFTY")
    assert len(trades) == 587
    # Labels counted with grep: ENTRY 202 + EOD-ENTRY 47 = 249 bases, PYR1 188, PYR2 150.
    assert Counter(t.layer for t in trades) == {1: 249, 2: 188, 3: 150}
    assert max(t.lots for t in trades) == 395


def test_a_file_without_a_byte_order_mark_reads_the_same() -> None:
    text = export(trade(1, ("2024-01-02 10:00", 100.0), ("2024-01-03 10:00", 110.0), 2))
    with_bom = parse_trade_list(text, "GOLD_MINI")
    without = parse_trade_list(text.removeprefix("\ufeff"), "GOLD_MINI")
    assert with_bom == without


def test_open_trade_is_marked_open_and_implies_its_entry_only() -> None:
    text = export(
        trade(1, ("2024-01-02 10:00", 100.0), ("2024-01-03 10:00", 110.0), 2),
        trade(2, ("2024-01-04 10:00", 120.0), ("2024-01-05 15:00", 125.0), 3, reason="Open"),
    )
    trades = parse_trade_list(text, "GOLD_MINI")
    assert [t.is_open for t in trades] == [False, True]
    signals = signals_from_trades(trades)
    assert [(s.type, s.trades) for s in signals] == [
        (SignalType.BASE_ENTRY, (1,)),
        (SignalType.EXIT, (1,)),
        (SignalType.BASE_ENTRY, (2,)),
    ]


def test_signals_are_entries_pyramids_and_per_layer_exits_in_time_order() -> None:
    text = export(
        trade(1, ("2024-01-02 10:00", 100.0), ("2024-01-09 10:00", 130.0), 4),
        trade(2, ("2024-01-04 10:00", 115.0), ("2024-01-08 10:00", 125.0), 2, label="PYR1-2L"),
        trade(3, ("2024-01-05 10:00", 120.0), ("2024-01-09 10:00", 130.0), 1, label="PYR2-1L"),
    )
    signals = signals_from_trades(parse_trade_list(text, "GOLD_MINI"))
    assert [(s.time.day, s.type, s.layer, s.lots, s.lots_left) for s in signals] == [
        (2, SignalType.BASE_ENTRY, 1, 4, 4),
        (4, SignalType.PYRAMID, 2, 2, 2),
        (5, SignalType.PYRAMID, 3, 1, 1),
        (8, SignalType.EXIT, 2, 2, 0),
        (9, SignalType.EXIT, 1, 4, 0),
        (9, SignalType.EXIT, 3, 1, 0),
    ]


def test_an_entry_split_by_a_partial_exit_is_one_entry_and_two_partial_exits() -> None:
    # Gold Mini trades 241 and 242: one ENTRY-30L order that TradingView split into two 15-lot trades.
    trades = [t for t in read_trade_list(GOLD_EXPORT, "GOLD_MINI") if t.number in (241, 242)]
    signals = signals_from_trades(trades)
    assert [(s.type, s.lots, s.lots_left, s.trades) for s in signals] == [
        (SignalType.BASE_ENTRY, 30, 30, (241, 242)),
        (SignalType.EXIT, 15, 15, (241,)),
        (SignalType.EXIT, 15, 0, (242,)),
    ]
    assert [s.time for s in signals] == [ist("2022-02-24T09:00"), ist("2022-02-24T17:00"), ist("2022-02-24T20:00")]


def test_at_the_same_minute_an_exit_comes_before_a_new_entry() -> None:
    text = export(
        trade(1, ("2024-01-02 10:00", 100.0), ("2024-01-03 10:00", 105.0), 2),
        trade(2, ("2024-01-03 10:00", 105.0), ("2024-01-04 10:00", 110.0), 3),
    )
    signals = signals_from_trades(parse_trade_list(text, "GOLD_MINI"))
    assert [(s.type, s.trades) for s in signals] == [
        (SignalType.BASE_ENTRY, (1,)),
        (SignalType.EXIT, (1,)),
        (SignalType.BASE_ENTRY, (2,)),
        (SignalType.EXIT, (2,)),
    ]


def test_a_zero_length_trade_still_enters_before_it_exits() -> None:
    text = export(trade(1, ("2024-01-02 10:00", 100.0), ("2024-01-02 10:00", 99.0), 2))
    signals = signals_from_trades(parse_trade_list(text, "GOLD_MINI"))
    assert [s.type for s in signals] == [SignalType.BASE_ENTRY, SignalType.EXIT]


def test_instruments_merge_in_time_order_and_ties_keep_the_order_given() -> None:
    gold = signals_from_trades(
        parse_trade_list(export(trade(1, ("2024-01-02 10:00", 100.0), ("2024-01-05 10:00", 110.0), 1)), "GOLD_MINI")
    )
    bank = signals_from_trades(
        parse_trade_list(export(trade(1, ("2024-01-02 10:00", 500.0), ("2024-01-04 10:00", 510.0), 1)), "BANK_NIFTY")
    )
    merged = merge_signals([gold, bank])
    assert [(s.instrument, s.type, s.time.day) for s in merged] == [
        ("GOLD_MINI", SignalType.BASE_ENTRY, 2),
        ("BANK_NIFTY", SignalType.BASE_ENTRY, 2),
        ("BANK_NIFTY", SignalType.EXIT, 4),
        ("GOLD_MINI", SignalType.EXIT, 5),
    ]


def test_both_bundled_exports_merge_into_one_time_ordered_stream() -> None:
    gold = signals_from_trades(read_trade_list(GOLD_EXPORT, "GOLD_MINI"))
    bank = signals_from_trades(read_trade_list(BANK_NIFTY_EXPORT, "BANK_NIFTY"))
    merged = merge_signals([gold, bank])
    assert len(merged) == len(gold) + len(bank)
    assert all(a.time <= b.time for a, b in pairwise(merged))
    # 371 Gold trades give 370 entries (241/242 share one) and 371 exits; Bank Nifty 587 of each.
    assert Counter(s.type for s in merged) == {
        SignalType.BASE_ENTRY: 368 + 249,
        SignalType.PYRAMID: 2 + 338,
        SignalType.EXIT: 371 + 587,
    }


GOOD_EXIT = row(1, "Exit long", "2024-01-03 10:00", "EXIT - Basso Stop", 110, 2)
GOOD_ENTRY = row(1, "Entry long", "2024-01-02 10:00", "ENTRY-2L", 100, 2)


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("", 1, "empty file"),
        ("\ufeff", 1, "empty file"),
        ("Trade,Type\n" + GOOD_EXIT, 1, "not a TradingView List of trades header"),
        (HEADER, 2, "no trades after the header"),
        (HEADER + "\n" + GOOD_EXIT, 2, "trade 1 has no entry row after its exit row"),
        (HEADER + "\n" + GOOD_ENTRY + "\n" + GOOD_EXIT, 2, "Type 'Entry long' where 'Exit long' was expected"),
        (HEADER + "\n" + GOOD_EXIT + ",extra\n" + GOOD_ENTRY, 2, "expected 15 columns, got 16"),
        (
            HEADER + "\n" + GOOD_EXIT + "\n" + GOOD_ENTRY.replace("2024-01-02 10:00", "02/01/2024 10:00"),
            3,
            "Date/Time must be YYYY-MM-DD HH:MM, got '02/01/2024 10:00'",
        ),
        (
            HEADER + "\n" + GOOD_EXIT.replace(",110,", ",abc,") + "\n" + GOOD_ENTRY,
            2,
            "Price INR must be a number, got 'abc'",
        ),
        (
            HEADER + "\n" + GOOD_EXIT.replace(",110,", ",-5,") + "\n" + GOOD_ENTRY,
            2,
            "Price INR must be a finite number above 0",
        ),
        (
            HEADER + "\n" + GOOD_EXIT.replace(",110,", ",nan,") + "\n" + GOOD_ENTRY,
            2,
            "Price INR must be a finite number above 0",
        ),
        (
            HEADER + "\n" + GOOD_EXIT + "\n" + GOOD_ENTRY.replace("ENTRY-2L", "BUY"),
            3,
            "entry Signal 'BUY' is not ENTRY-<n>L",
        ),
        (HEADER + "\n" + GOOD_EXIT + "\n" + GOOD_ENTRY.replace("ENTRY-2L", "PYR0-2L"), 3, "entry Signal 'PYR0-2L'"),
        (
            HEADER + "\n" + GOOD_EXIT + "\n" + GOOD_ENTRY.replace("2024-01-02", "2024-01-04"),
            2,
            "trade 1 exits at 2024-01-03 10:00, before its entry at 2024-01-04 10:00",
        ),
        (
            HEADER + "\n" + GOOD_EXIT + "\n" + GOOD_ENTRY.replace(",2,0,", ",3,0,"),
            2,
            "exit of trade 1 is 2 lots but its entry is 3",
        ),
        (
            HEADER + "\n" + GOOD_EXIT + "\n" + GOOD_ENTRY.replace(",2,0,", ",2.5,0,"),
            3,
            "Position size (qty) must be a whole number, got '2.5'",
        ),
        (
            HEADER + "\n" + GOOD_EXIT + "\n" + GOOD_ENTRY.replace(",2,0,", ",0,0,"),
            3,
            "Position size (qty) must be greater than 0",
        ),
        (
            HEADER + "\n" + GOOD_EXIT + "\n" + GOOD_ENTRY.replace("1,Entry", "2,Entry"),
            3,
            "entry row of trade 2 follows the exit row of trade 1",
        ),
        (
            HEADER + "\n" + GOOD_EXIT + "\n" + GOOD_ENTRY + "\n" + GOOD_EXIT + "\n" + GOOD_ENTRY,
            4,
            "trade 1 after trade 1: Trade # must rise",
        ),
        (
            HEADER + "\n" + GOOD_EXIT.replace("Exit long", "Exit short") + "\n" + GOOD_ENTRY,
            2,
            "short trades are not supported",
        ),
        (
            HEADER + "\n" + row(1, "Exit long", "2024-01-03 10:00", "EXIT", 110, 2, net="x") + "\n" + GOOD_ENTRY,
            2,
            "Net P&L INR must be a number, got 'x'",
        ),
        (HEADER + '\n1,"Exit long', 2, "not valid CSV"),
        (HEADER + '\n1,"Exit" long,2024', 2, "not valid CSV"),
    ],
)
def test_malformed_export_is_refused_with_its_line_and_problem(text: str, line: int, problem: str) -> None:
    with pytest.raises(TradeListError) as caught:
        parse_trade_list(text, "GOLD_MINI", source="gold.csv")
    assert caught.value.line == line
    assert problem in caught.value.problem
    assert str(caught.value).startswith(f"gold.csv, line {line}: ")


def test_unreadable_and_non_utf8_files_are_refused_by_name(tmp_path: Path) -> None:
    missing = tmp_path / "missing.csv"
    with pytest.raises(TradeListError, match=r"missing\.csv: cannot read"):
        read_trade_list(missing, "GOLD_MINI")
    latin = tmp_path / "latin.csv"
    latin.write_bytes(HEADER.encode() + b"\n\xe9")
    with pytest.raises(TradeListError, match=r"latin\.csv, line 1: not UTF-8 text"):
        read_trade_list(latin, "GOLD_MINI")
