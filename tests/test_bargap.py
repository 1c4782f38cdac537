"""The bar-gap rule (docs/rules.md §10), worked out by hand on Bank Nifty's session (09:15–15:30 IST)."""

from __future__ import annotations

from datetime import datetime

from basso.config import Config
from basso.rules.bargap import bar_gap_s
from basso.rules.calendars import calendar_for
from basso.timeutil import IST


def gap(config: Config, now: str, *, last_bar: str | None, opened: str) -> float | None:
    bank_nifty = config.instruments["BANK_NIFTY"]
    return bar_gap_s(
        bank_nifty,
        calendar_for(config, bank_nifty),
        now=datetime.fromisoformat(now).replace(tzinfo=IST),
        last_bar_at=None if last_bar is None else datetime.fromisoformat(last_bar).replace(tzinfo=IST),
        opened_at=datetime.fromisoformat(opened).replace(tzinfo=IST),
        limit_s=900,
    )


def test_a_gap_counts_from_the_latest_of_the_last_bar_the_newest_layer_and_the_session_open(config: Config) -> None:
    # Wednesday 25 Nov 2026. Last bar 10:00, now 10:16: 16 min = 960 s > 900 s.
    assert gap(config, "2026-11-25T10:16:00", last_bar="2026-11-25T10:00:00", opened="2026-11-24T14:00:00") == 960
    # 10:14: 14 min, under the limit.
    assert gap(config, "2026-11-25T10:14:00", last_bar="2026-11-25T10:00:00", opened="2026-11-24T14:00:00") is None
    # Last bar yesterday 15:29: the night is no gap; counted from 09:15 today, 09:31 is 16 min = 960 s.
    assert gap(config, "2026-11-25T09:31:00", last_bar="2026-11-24T15:29:00", opened="2026-11-24T14:00:00") == 960
    assert gap(config, "2026-11-25T09:29:00", last_bar="2026-11-24T15:29:00", opened="2026-11-24T14:00:00") is None
    # No bar ever: from the layer's opening at 11:00; 11:20 is 20 min = 1,200 s.
    assert gap(config, "2026-11-25T11:20:00", last_bar=None, opened="2026-11-25T11:00:00") == 1200


def test_no_gap_outside_market_hours(config: Config) -> None:
    # 16:00 is after the 15:30 close; Saturday 28 Nov is no trading day.
    assert gap(config, "2026-11-25T16:00:00", last_bar="2026-11-25T10:00:00", opened="2026-11-24T14:00:00") is None
    assert gap(config, "2026-11-28T11:00:00", last_bar="2026-11-25T10:00:00", opened="2026-11-24T14:00:00") is None
