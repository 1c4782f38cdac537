"""The read API, /metrics and `basso status` against a live pipeline."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import orjson
import pytest

from basso.cli import main
from basso.http.health import stale_heartbeat
from tests.web.conftest import Trading, Webhook
from tests.web.test_webhook import payload


@pytest.fixture
async def one_position(trading: Trading) -> Webhook:
    """The webhook app after a Bank Nifty base entry (1 lot at 52,000, stop 51,650) was processed."""
    await trading.webhook.post(orjson.dumps(payload("BASE_ENTRY_BANK_NIFTY")))
    await trading.outcomes.wait_for(1)
    return trading.webhook


async def test_status_reports_equity_risk_and_zones(one_position: Webhook) -> None:
    status, body = await one_position.get("/api/status")
    assert status == 200
    assert isinstance(body, dict)
    # Closed equity = 50,00,000 − 780 commission; open risk = (52,000 − 51,650) × 1 × 30 = ₹10,500, which is
    # 10,500 ÷ 49,99,220 = 0.2100 % of the blended equity (nothing unrealised at the entry price).
    assert body["equity"]["closed"] == "4999220.00"
    assert body["equity"]["high_water"] == "5000000.00"
    assert round(body["risk_pct"], 4) == 0.21
    assert (body["risk_zone"], body["vol_zone"], body["kill_switch"]) == ("green", "green", False)
    assert body["margin_used"] == "270000.00"  # money is an exact decimal string
    fence = await one_position.services.pool.fetchrow("SELECT epoch, changed_at FROM leader_fence")
    assert fence is not None
    assert body["leader"] is True
    assert body["leadership"] == {
        "epoch": fence["epoch"],
        "holder": "test",  # pipeline_support's solo leader
        "since": fence["changed_at"].isoformat(),
    }


async def test_positions_lists_the_open_layer_with_its_stops(one_position: Webhook) -> None:
    _, body = await one_position.get("/api/positions")
    assert isinstance(body, dict)
    (layer,) = body["positions"]
    assert (layer["instrument"], layer["layer"], layer["lots"]) == ("BANK_NIFTY", "Long_1", 1)
    assert (layer["entry_price"], layer["initial_stop"], layer["unrealised_pnl"]) == (
        "52000.0000",
        "51650.0000",
        "0.00",
    )


async def test_positions_name_their_contract_and_status_warns_before_expiry(one_position: Webhook) -> None:
    # Bank Nifty expires on the last Tuesday of the month (docs/rules.md §1). The entry on Wed 25 Nov 2026 comes after
    # November's (Tue 24 Nov), so it goes into December's: Tue 29 Dec 2026, 34 days away (roll window: 7).
    _, body = await one_position.get("/api/positions")
    assert isinstance(body, dict)
    (layer,) = body["positions"]
    assert (layer["contract"], layer["expiry"]) == ("BANKNIFTY29DEC26FUT", "2026-12-29")
    alerts = []
    # 10:30 IST on 25 Nov and 23 Dec; 19:00 UTC on 27 Dec, which is already 00:30 on the 28th in India.
    for moment in (
        datetime(2026, 11, 25, 5, tzinfo=UTC),
        datetime(2026, 12, 23, 5, tzinfo=UTC),
        datetime(2026, 12, 27, 19, tzinfo=UTC),
    ):
        one_position.services.wall_clock = lambda moment=moment: moment  # type: ignore[misc]
        _, status = await one_position.get("/api/status")
        assert isinstance(status, dict)
        alerts.append([(a["level"], a["layer"], a["days_to_expiry"]) for a in status["alerts"]])
    # 25 Nov: nothing. 23 Dec: 6 days, inside the 7-day window: roll it (a warning). 28 Dec: 1 day, fewer than
    # expiry_alert_days (2) and not rolled: critical.
    assert alerts == [[], [("warning", "Long_1", 6)], [("critical", "Long_1", 1)]]


async def test_rollover_lists_the_layers_to_roll_and_what_they_roll_into(one_position: Webhook) -> None:
    # The Long_1 in December's contract (expiry Tue 29 Dec 2026). On 25 Nov it is 34 days away: nothing to roll.
    assert await one_position.get("/api/rollover") == (200, {"as_of": "2026-11-25", "candidates": []})
    # On 23 Dec it is 6 days away, inside the 7-day window. Today's entry rule picks January's contract: the last
    # Tuesday, 26 Jan 2027, is Republic Day, so Mon 25 Jan. The synthetic's new strike is ATM at the mark:
    # 52,000 is a multiple of 500, so 52,000.
    one_position.services.wall_clock = lambda: datetime(2026, 12, 23, 5, tzinfo=UTC)
    status, body = await one_position.get("/api/rollover")
    assert (status, body) == (
        200,
        {
            "as_of": "2026-12-23",
            "candidates": [
                {
                    "instrument": "BANK_NIFTY",
                    "layer": "Long_1",
                    "lots": 1,
                    "contract": "BANKNIFTY29DEC26FUT",
                    "expiry": "2026-12-29",
                    "days_to_expiry": 6,
                    "roll_to": "BANKNIFTY25JAN27FUT",
                    "roll_to_expiry": "2027-01-25",
                    "strike": 52000,
                }
            ],
        },
    )


async def test_trades_and_an_unknown_signal(one_position: Webhook) -> None:
    assert await one_position.get("/api/trades") == (200, {"trades": []})
    status, body = await one_position.get("/api/signals/no-such-signal")
    assert (status, body) == (404, {"status": "error", "error": "no such signal"})
    status, body = await one_position.get("/api/signals?limit=0")
    assert status == 400
    assert isinstance(body, dict)
    assert body["field"] == "limit"


async def test_metrics_expose_outcomes_latency_portfolio_and_actor_statistics(one_position: Webhook) -> None:
    url = one_position.server.make_url("/metrics")
    async with one_position.session.get(url) as response:
        text = await response.text()
    assert response.status == 200
    assert 'basso_webhook_requests_total{verdict="accepted"} 1.0' in text
    assert "basso_webhook_latency_seconds_count 1.0" in text
    # Two Persister messages for the entry: its decision, then its paper fill (orders take two steps).
    assert 'basso_actor_handled{actor="basso/persister"} 2.0' in text
    assert 'basso_signals_total{outcome="executed"} 1.0' in text
    # 1 lot of Bank Nifty at 52,000, stop 51,650, ATR 350, ₹30 a point, margin ₹2,70,000, on equity ₹49,99,220:
    # risk = volatility = 350 × 30 = ₹10,500 = 0.2100 %; margin 2,70,000 ÷ 49,99,220 = 5.4008 %.
    gauges = {
        line.split()[0]: float(line.split()[1])
        for line in text.splitlines()
        if line.startswith(("basso_portfolio_", "basso_margin_", "basso_open_"))
    }
    assert {name: round(value, 4) for name, value in gauges.items()} == {
        "basso_portfolio_risk_pct": 0.21,
        "basso_portfolio_vol_pct": 0.21,
        "basso_margin_utilisation_pct": 5.4008,
        "basso_open_positions": 1.0,
    }


async def test_basso_status_prints_the_portfolio(one_position: Webhook, capsys: pytest.CaptureFixture[str]) -> None:
    url = str(one_position.server.make_url("/")).rstrip("/")
    code = await asyncio.to_thread(main, ["status", "--url", url, "--json"])
    assert code == 0
    printed = orjson.loads(capsys.readouterr().out)
    assert printed["status"]["equity"]["closed"] == "4999220.00"
    assert [p["layer"] for p in printed["positions"]] == ["Long_1"]


async def test_basso_status_prints_a_table_with_who_leads(
    one_position: Webhook, capsys: pytest.CaptureFixture[str]
) -> None:
    url = str(one_position.server.make_url("/")).rstrip("/")
    assert await asyncio.to_thread(main, ["status", "--url", url]) == 0
    printed = capsys.readouterr().out
    epoch = await one_position.services.pool.fetchval("SELECT epoch FROM leader_fence")
    assert "₹49,99,220.00" in printed
    assert f"epoch {epoch}, test" in printed
    assert "BANK_NIFTY" in printed
    assert "CRITICAL" not in printed  # 34 days from expiry on 25 Nov
    assert "WARNING" not in printed
    # 28 Dec (IST): 1 day before the December contract expires, not rolled.
    one_position.services.wall_clock = lambda: datetime(2026, 12, 28, 5, tzinfo=UTC)
    assert await asyncio.to_thread(main, ["status", "--url", url]) == 0
    printed = " ".join(capsys.readouterr().out.split())  # the console may wrap the long line
    assert (
        "CRITICAL: BANK_NIFTY Long_1 in BANKNIFTY29DEC26FUT (expires 2026-12-29): 1 day(s) to expiry and not "
        "rolled: roll or close it now"
    ) in printed


def test_basso_status_without_a_server_is_one_line_and_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--url", "http://127.0.0.1:1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("basso status: error: --url: no Basso server answered at http://127.0.0.1:1")
    assert "\n" not in err


async def test_health_endpoints(one_position: Webhook) -> None:
    assert await one_position.get("/health/ready") == (200, {"status": "ready"})
    assert await one_position.get("/health/live") == (200, {"status": "live"})
    assert await one_position.get("/leader") == (200, {"leader": True})  # its pipeline holds the fence


def test_an_actor_silent_longer_than_the_lease_ttl_is_named_by_liveness() -> None:
    statistics: dict[str, dict[str, float | None]] = {
        "basso/persister": {"last_heartbeat": 100.0},
        "basso/trading/sizer": {"last_heartbeat": 96.5},
        "basso/trading": {"last_heartbeat": None},
    }
    assert stale_heartbeat(statistics, now=100.0, limit_s=3.0) == (
        "basso/trading/sizer has not reported a heartbeat for 3.5 s (stuck in one message?)"
    )
    assert stale_heartbeat(statistics, now=99.5, limit_s=3.0) is None  # 3.0 s exactly is still live


async def test_basso_status_shows_every_amount_in_rupees_and_cuts_no_column(
    one_position: Webhook, capsys: pytest.CaptureFixture[str]
) -> None:
    url = str(one_position.server.make_url("/")).rstrip("/")
    assert await asyncio.to_thread(main, ["status", "--url", url]) == 0
    out = capsys.readouterr().out  # captured, so not a terminal: no 80-column limit to cut anything at
    rows = {
        cells[0]: cells[1:]
        for line in out.splitlines()
        if len(cells := [cell.strip() for cell in line.strip("│┃║ ").split("│")]) > 1
    }
    # Closed equity = 50,00,000 − 780 commission (52,000 × 1 × 30 × 0.05 %); nothing unrealised at the entry
    # price, so open and blended equity are the same; high water is the deposit.
    assert rows["closed equity"] == ["₹49,99,220.00"]
    assert rows["open equity"] == ["₹49,99,220.00"]
    assert rows["blended equity"] == ["₹49,99,220.00"]
    assert rows["high water"] == ["₹50,00,000.00"]
    # Margin: 1 lot × Bank Nifty's margin_per_lot of ₹2,70,000 (basso/defaults.toml).
    assert rows["margin used"][0].startswith("₹2,70,000.00 (")
    assert rows["BANK_NIFTY"] == ["Long_1", "1", "2026-12-29", "52000.0000", "51650.0000", "52000.0000", "₹0.00"]
    assert not [cell for cells in rows.values() for cell in cells if cell.endswith("…")]  # rich's cut mark
