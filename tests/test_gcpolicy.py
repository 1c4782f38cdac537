"""The collector policy of `basso run` (basso/gcpolicy.py) and the metrics that make a stall visible."""

from __future__ import annotations

import gc
import logging
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from basso.config import Config
from basso.gcpolicy import GEN0_THRESHOLD, collect_and_freeze, freeze_survivors, tune_collector, watch_collections
from basso.http.metrics import Metrics
from basso.rules.calendars import trading_calendar
from basso.server import warm_up


@pytest.fixture
def restored_collector() -> Iterator[None]:
    """The test process's own collector settings, put back afterwards."""
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_the_young_threshold_is_raised_and_the_older_ratios_kept(restored_collector: None) -> None:
    gc.set_threshold(700, 10, 10)
    tune_collector()
    assert gc.get_threshold() == (GEN0_THRESHOLD, 10, 10)


def test_what_exists_at_a_freeze_is_kept_out_of_later_collections(restored_collector: None) -> None:
    gc.unfreeze()
    collect_and_freeze()
    frozen = gc.get_freeze_count()
    assert frozen > 0
    survivors = [[n] for n in range(1000)]  # 1,000 tracked lists made after the first freeze
    freeze_survivors()
    assert gc.get_freeze_count() >= frozen + len(survivors)


def test_every_collection_is_reported_with_its_generation(restored_collector: None) -> None:
    seen: list[tuple[int, float]] = []
    stop = watch_collections(lambda generation, seconds: seen.append((generation, seconds)))
    try:
        gc.collect(2)
    finally:
        stop()
    assert [generation for generation, _ in seen] == [2]
    assert seen[0][1] >= 0.0
    gc.collect(2)  # after stop(), nothing more is reported
    assert len(seen) == 1


def test_metrics_expose_the_lag_histogram_its_maximum_and_the_pauses() -> None:
    metrics = Metrics()
    for lag, busy in ((0.001, 0.2), (0.250, 0.9), (0.003, 0.1)):  # the loop woke 1 ms, 250 ms, then 3 ms late
        metrics.loop_lagged(lag, busy)
    metrics.collected(2, 0.030)
    text = metrics.exposition().decode()
    assert re.search(r"^basso_event_loop_lag_max_seconds 0\.25$", text, re.M)
    assert re.search(r"^basso_event_loop_lag_max_busy_ratio 0\.9$", text, re.M)  # the longest one's
    assert re.search(r"^basso_event_loop_lag_seconds_count 3\.0$", text, re.M)
    # Two of the three within 5 ms; the 250 ms one only in the 0.25 s bucket and above.
    assert re.search(r'^basso_event_loop_lag_seconds_bucket\{le="0\.005"\} 2\.0$', text, re.M)
    assert re.search(r'^basso_event_loop_lag_seconds_bucket\{le="0\.25"\} 3\.0$', text, re.M)
    assert re.search(r'^basso_gc_pause_seconds_bucket\{generation="2",le="0\.05"\} 1\.0$', text, re.M)
    assert re.search(r'^basso_gc_pause_seconds_bucket\{generation="2",le="0\.02"\} 0\.0$', text, re.M)


def test_start_up_builds_every_calendar_the_first_decisions_would_build_on_the_event_loop(config: Config) -> None:
    # The first Bank Nifty entry used to make the `holidays` package import its exchange calendars (some 300
    # modules, 150 ms) inside the Persister's commit: the soak's longest stall. `warm_up` does it before serving,
    # so it is frozen with the rest of start-up.
    trading_calendar.cache_clear()
    warm_up(config, datetime(2026, 11, 30, 6, 0, tzinfo=UTC))
    wanted = {config.calendars[x.calendar] for x in config.instruments.values()}
    assert trading_calendar.cache_info().currsize == len(wanted)


def test_an_instrument_whose_contract_cannot_be_worked_out_is_named_and_start_up_goes_on(
    config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    # The configuration is validated when it is read; should an instrument's contract still fail (here, a calendar
    # taken away behind the validation's back), its first order meets the error, and `basso run` still starts.
    broken = replace(config, calendars={k: v for k, v in config.calendars.items() if k != "NSE"})
    trading_calendar.cache_clear()
    with caplog.at_level(logging.WARNING, logger="basso.server"):
        warm_up(broken, datetime(2026, 11, 30, 6, 0, tzinfo=UTC))
    assert "BANK_NIFTY: its current contract could not be worked out at start-up" in caplog.text
    assert "GOLD_MINI" not in caplog.text  # the others were built
    assert trading_calendar.cache_info().currsize >= 1
