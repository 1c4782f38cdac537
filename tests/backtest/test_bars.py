"""Bars CSV files and ATR(n) from them."""

from __future__ import annotations

import math
from datetime import datetime

import pytest

from basso.backtest.bars import BarsError, average_true_range, parse_bars
from basso.timeutil import IST


def test_iso_and_unix_timestamps_read_as_the_same_instants() -> None:
    text = (
        "timestamp,open,high,low,close,volume\n"
        "2024-01-02 09:15,100,110,95,105,7\n"
        "2024-01-02T10:15:00+05:30,105,106,101,102,3\n"
        f"{int(datetime(2024, 1, 2, 11, 15, tzinfo=IST).timestamp())},102,104,100,103,1\n"
    )
    bars = parse_bars(text, "GOLD_MINI")
    assert [bars.time_of(i).strftime("%H:%M") for i in range(3)] == ["09:15", "10:15", "11:15"]
    assert bars.time_of(0).utcoffset() == datetime(2024, 1, 2, tzinfo=IST).utcoffset()
    assert (bars.opens, bars.highs, bars.lows, bars.closes) == (
        [100.0, 105.0, 102.0],
        [110.0, 106.0, 104.0],
        [95.0, 101.0, 100.0],
        [105.0, 102.0, 103.0],
    )


def test_atr_is_wilders_average_of_true_ranges_and_nan_until_n_bars() -> None:
    highs = [110.0, 112.0, 125.0, 120.0]
    lows = [100.0, 104.0, 111.0, 90.0]
    closes = [105.0, 110.0, 120.0, 95.0]
    # TR: 110 − 100 = 10; max(8, |112 − 105| = 7, |104 − 105| = 1) = 8; max(14, 15, 1) = 15; max(30, 0, 30) = 30.
    # ATR(3): NaN, NaN, (10 + 8 + 15) ÷ 3 = 11; then (11 × 2 + 30) ÷ 3 = 17.333…
    atr = average_true_range(highs, lows, closes, 3)
    assert math.isnan(atr[0])
    assert math.isnan(atr[1])
    assert atr[2:] == [pytest.approx(11.0), pytest.approx(52 / 3)]


def test_atr_of_one_bar_is_that_bars_true_range() -> None:
    assert average_true_range([110.0, 112.0], [100.0, 104.0], [105.0, 110.0], 1) == [10.0, 8.0]


def test_atr_period_must_be_positive() -> None:
    with pytest.raises(ValueError, match="ATR period must be at least 1"):
        average_true_range([1.0], [1.0], [1.0], 0)


HEADER = "timestamp,open,high,low,close\n"


def test_comment_lines_before_the_header_are_skipped() -> None:
    bars = parse_bars("# Generated, not market data\n#\n" + HEADER + "2024-01-02 09:15,100,110,95,105\n", "GOLD_MINI")
    assert (bars.opens, bars.highs, bars.lows, bars.closes) == ([100.0], [110.0], [95.0], [105.0])


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("", 1, "header must be timestamp,open,high,low,close[,volume]"),
        ("time,o,h,l,c\n", 1, "header must be"),
        (HEADER, 2, "no bars after the header"),
        (HEADER + "2024-01-02 09:15,100,110,95\n", 2, "expected 5 columns, got 4"),
        (HEADER + "yesterday,100,110,95,105\n", 2, "timestamp must be ISO-8601 or Unix seconds, got 'yesterday'"),
        (HEADER + "2024-01-02 09:15,100,110,95,105\n2024-01-02 09:15,100,110,95,105\n", 3, "is not after the previous"),
        (HEADER + "2024-01-02 09:15,100,x,95,105\n", 2, "high must be a number, got 'x'"),
        (HEADER + "2024-01-02 09:15,100,110,95,inf\n", 2, "close must be a finite number above 0"),
        (HEADER + "2024-01-02 09:15,100,110,0,105\n", 2, "low must be a finite number above 0"),
        (HEADER + "2024-01-02 09:15,100,104,95,105\n", 2, "needs low ≤ open, close ≤ high"),
        (HEADER + "2024-01-02 09:15,100,110,101,105\n", 2, "needs low ≤ open, close ≤ high"),
        # Comment lines before the header count in the line numbers, so a message points at the right line.
        ("# generated\n# by a script\n" + HEADER + "2024-01-02 09:15,100,x,95,105\n", 4, "high must be a number"),
        ("# only a comment\n", 2, "header must be"),
    ],
)
def test_malformed_bars_are_refused_with_line_and_problem(text: str, line: int, problem: str) -> None:
    with pytest.raises(BarsError) as caught:
        parse_bars(text, "GOLD_MINI", source="bars.csv")
    assert caught.value.line == line
    assert problem in caught.value.problem
    assert str(caught.value).startswith(f"bars.csv, line {line}: ")
