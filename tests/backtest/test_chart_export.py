"""Bars straight from TradingView's "Export chart data": a `time` column (Unix seconds or ISO) and whatever
indicator columns the chart showed, read past."""

from __future__ import annotations

from datetime import datetime

import pytest

from basso.backtest.bars import BarsError, parse_bars
from basso.timeutil import IST

NINE_FIFTEEN = int(datetime(2025, 12, 22, 9, 15, tzinfo=IST).timestamp())


def test_unix_time_and_indicator_columns_as_tradingview_writes_them() -> None:
    text = (
        "time,open,high,low,close,Volume,Supertrend,Up Trend,Down Trend,ATR\n"
        f"{NINE_FIFTEEN},59000,59200,58900,59100,1200,58700.5,58700.5,NaN,180.2\n"
        f"{NINE_FIFTEEN + 3600},59100,59300,59050,59250,900,NaN,,NaN,175\n"
    )
    bars = parse_bars(text, "BANK_NIFTY", source="BANKNIFTY1!, 60.csv")
    assert [bars.time_of(i).strftime("%Y-%m-%d %H:%M") for i in range(2)] == ["2025-12-22 09:15", "2025-12-22 10:15"]
    assert (bars.opens, bars.highs, bars.lows, bars.closes) == (
        [59000.0, 59100.0],
        [59200.0, 59300.0],
        [58900.0, 59050.0],
        [59100.0, 59250.0],
    )


def test_iso_time_as_the_export_writes_it_with_its_offset() -> None:
    text = (
        "\ufefftime,open,high,low,close,Plot,Plot\n"
        "2025-12-22T09:15:00+05:30,59000,59200,58900,59100,1,2\n"
        "2025-12-22T03:45:00Z,59100,59300,59050,59250,1,2\n"
    )  # 03:45 UTC = 09:15 IST … refused: same bar
    with pytest.raises(BarsError) as refused:
        parse_bars(text, "BANK_NIFTY", source="chart.csv")
    assert str(refused.value) == ("chart.csv, line 3: timestamp 2025-12-22T03:45:00Z is not after the previous bar's")
    good = text.replace("2025-12-22T03:45:00Z", "2025-12-22T04:45:00Z")  # 10:15 IST
    assert parse_bars(good, "BANK_NIFTY").time_of(1).strftime("%H:%M") == "10:15"


@pytest.mark.parametrize("header", ["date,open,high,low,close", "time,high,open,low,close", "time,open,high,low"])
def test_a_header_without_time_open_high_low_close_in_order_is_refused(header: str) -> None:
    with pytest.raises(BarsError) as refused:
        parse_bars(header + "\n", "BANK_NIFTY", source="chart.csv")
    assert refused.value.line == 1
    assert "header must be timestamp,open,high,low,close[,volume] (or TradingView's chart export" in str(refused.value)
