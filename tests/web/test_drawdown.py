"""Drawdown bands you can leave (docs/rules.md §2), over real HTTP with the real pipeline behind it: capital flows move
the peak with them, an operator resets it (audited, shown in /api/status and `basso status`), and every band
change is an alert. Every figure below is worked out by hand from docs/rules.md."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest

from basso.cli import main
from tests.web.conftest import ADMIN_TOKEN, SECRET, Trading, Webhook

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def gold(kind: str, at: str, **fields: Any) -> dict[str, Any]:
    """A Gold Mini signal stamped `at` (IST, today in the tests' clock) with `fields`."""
    return {"type": kind, "instrument": "GOLD_MINI", "timestamp": f"2026-11-25T{at}", "secret": SECRET, **fields}


ENTRY = gold("BASE_ENTRY", "10:26:00", position="Long_1", price=78_500, stop=78_400, atr=100, er=0.9, lots=1)


async def status(webhook: Webhook) -> dict[str, Any]:
    code, reply = await webhook.get("/api/status")
    assert code == 200, reply
    assert isinstance(reply, dict)
    return reply


async def band_alerts(webhook: Webhook) -> list[tuple[str, str]]:
    rows = await webhook.services.pool.fetch(
        "SELECT level, message FROM alerts WHERE kind = 'drawdown_band' ORDER BY id"
    )
    return [(r["level"], r["message"]) for r in rows]


async def lose_three_lakh(trading: Trading) -> None:
    """Gold Mini, ₹50 L: Lot-R = 50 L × 0.5 % × 0.9 ÷ ((78,500 − 78,400) × 10) = 22.5, Lot-V = 50 L × 0.2 % ÷
    (100 × 10) = 10, Lot-M = 30 L ÷ 1.05 L = 28.57 ⇒ 10 lots; commission 78,500 × 10 × 10 × 0.05 % = ₹3,925.
    A bar closes at 75,500 (the stop stays 78,400: 78,500 − 2 × 100 = 78,300 is lower): the layer exits there,
    (75,500 − 78,500) × 10 × 10 = −₹3,00,000, commission 75,500 × 100 × 0.05 % = ₹3,775.
    Closed equity 50,00,000 − 3,925 − 3,00,000 − 3,775 = ₹46,92,300; the peak is ₹50,00,000 (before the
    entry), so the drawdown is 3,07,700 ÷ 50,00,000 = 6.154 %: the 5–10 % band."""
    assert await trading.outcome(ENTRY) == ("executed", "10 lots, volatility-limited")
    outcome, reason = await trading.outcome(gold("MARKET_DATA", "10:27:00", price=75_500, atr=100))
    assert (outcome, reason) == ("executed", "stop hit: close 75500 below stop 78400")


async def test_a_band_entered_by_a_loss_is_an_alert_and_status_shows_the_band(trading: Trading) -> None:
    await lose_three_lakh(trading)
    now = await status(trading.webhook)
    assert now["equity"]["closed"] == "4692300.00"
    assert now["drawdown"] | {"last_reset": None} == {
        "pct": 6.154,
        "band": 1,
        "band_name": "5–10%",
        "rule": "drawdown 6.15%: risk × 0.75",
        "peak": "5000000.00",
        "peak_days": 0,
        "last_reset": None,
        "how_to_reset": 'basso drawdown reset --reason "…" (or POST /api/drawdown/reset with the admin token)',
    }
    assert await band_alerts(trading.webhook) == [
        ("warning", "drawdown band below 5% → 5–10%: drawdown 6.15%: risk × 0.75 (peak ₹5,000,000.00)")
    ]


async def test_capital_flows_move_the_peak_with_them(trading: Trading) -> None:
    await lose_three_lakh(trading)
    webhook = trading.webhook
    # Withdraw ₹10 L with nothing open (sizing equity = closed = 46,92,300): the peak scales by
    # (46,92,300 − 10,00,000) ÷ 46,92,300, so 50,00,000 × 36,92,300 ÷ 46,92,300 = ₹39,34,424.48 (to the paisa)
    # and the drawdown stays 1 − 36,92,300 ÷ 39,34,424.48 = 6.154 %: a withdrawal fakes no drawdown.
    code, reply = await webhook.post_json("/api/capital", {"kind": "withdrawal", "amount": "1000000"}, ADMIN)
    assert (code, reply["closed_equity"], reply["drawdown_peak"]) == (200, "3692300.00", "3934424.48")
    after = await status(webhook)
    assert (after["drawdown"]["peak"], after["drawdown"]["pct"], after["drawdown"]["band"]) == ("3934424.48", 6.154, 1)
    # Deposit ₹5 L: equity and peak both rise by it, 41,92,300 and 44,34,424.48: the gap stays 2,42,124.48,
    # now 2,42,124.48 ÷ 44,34,424.48 = 5.4601 %: a deposit fakes no recovery (still the 5–10 % band).
    code, reply = await webhook.post_json("/api/capital", {"kind": "deposit", "amount": "500000"}, ADMIN)
    assert (code, reply["closed_equity"], reply["drawdown_peak"]) == (200, "4192300.00", "4434424.48")
    after = await status(webhook)
    assert (after["drawdown"]["peak"], after["drawdown"]["pct"], after["drawdown"]["band"]) == ("4434424.48", 5.4601, 1)
    assert await webhook.services.pool.fetchval("SELECT peak FROM equity_peaks") == Decimal("4434424.48")
    assert len(await band_alerts(webhook)) == 1  # only the loss changed the band


async def test_the_operator_resets_the_peak_audited_alerted_and_shown(trading: Trading) -> None:
    await lose_three_lakh(trading)
    webhook = trading.webhook
    assert await webhook.post_json("/api/drawdown/reset", {"reason": "new quarter"}) == (
        401,
        {"status": "unauthorised"},
    )
    code, reply = await webhook.post_json("/api/drawdown/reset", {"reason": "  "}, ADMIN)
    assert (code, reply["field"]) == (400, "reason")
    assert "reason is required" in reply["error"]
    assert (await status(webhook))["drawdown"]["pct"] == 6.154  # refused: nothing changed

    code, reply = await webhook.post_json("/api/drawdown/reset", {"reason": "new quarter"}, ADMIN)
    assert code == 200, reply
    assert (reply["peak_before"], reply["peak"], reply["drawdown_pct_before"]) == ("5000000.00", "4692300.00", 6.154)
    shown = (await status(webhook))["drawdown"]
    assert (shown["pct"], shown["band"], shown["peak"]) == (0.0, 0, "4692300.00")
    assert (shown["last_reset"]["reason"], shown["last_reset"]["at"]) == ("new quarter", "2026-11-25T05:00:00+00:00")
    audit = await webhook.services.pool.fetch("SELECT action, detail FROM control_audit")
    assert [tuple(r) for r in audit] == [("drawdown reset", "new quarter: peak ₹5000000.00 → ₹4692300.00")]
    assert await band_alerts(webhook) == [
        ("warning", "drawdown band below 5% → 5–10%: drawdown 6.15%: risk × 0.75 (peak ₹5,000,000.00)"),
        ("info", "drawdown band 5–10% → below 5%: drawdown 0.00%: no restriction (peak ₹4,692,300.00)"),
    ]
    # The next entry is sized from a full-risk book again: Lot-R = 46,92,300 × 0.5 % × 0.9 ÷ 1,000 = 21.1,
    # Lot-V = 46,92,300 × 0.2 % ÷ 1,000 = 9.38 ⇒ 9 lots (no drawdown multiplier).
    again = gold("BASE_ENTRY", "10:28:00", position="Long_1", price=78_500, stop=78_400, atr=100, er=0.9, lots=1)
    assert await trading.outcome(again) == ("executed", "9 lots, volatility-limited")


async def test_the_cli_resets_the_peak_and_status_shows_the_band_and_how_to_reset(
    trading: Trading, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    await lose_three_lakh(trading)
    monkeypatch.setenv("COLUMNS", "200")  # one line per row, however the terminal is
    url = str(trading.webhook.server.make_url("/")).rstrip("/")
    assert await asyncio.to_thread(main, ["status", "--url", url]) == 0
    shown = capsys.readouterr().out
    assert "drawdown band" in shown
    assert "5–10%: drawdown 6.15%: risk × 0.75" in shown
    assert 'basso drawdown reset --reason "…"' in shown
    assert "last peak reset" in shown
    assert "never" in shown

    with pytest.raises(SystemExit) as refused:  # argparse: a missing --reason is a usage error, status 2
        main(["drawdown", "reset", "--url", url, "--token", ADMIN_TOKEN])
    assert refused.value.code == 2
    assert "the following arguments are required: --reason" in capsys.readouterr().err
    assert (
        await asyncio.to_thread(
            main, ["drawdown", "reset", "--reason", "fresh start", "--url", url, "--token", ADMIN_TOKEN]
        )
        == 0
    )
    assert capsys.readouterr().out == "drawdown peak reset from ₹50,00,000.00 to ₹46,92,300.00 (drawdown was 6.15%)\n"
    assert await asyncio.to_thread(main, ["status", "--url", url]) == 0
    shown = capsys.readouterr().out
    assert "below 5%: drawdown 0.00%: no restriction" in shown
    assert "fresh start" in shown


MONEY = {
    ("equity", "closed"),
    ("equity", "open"),
    ("equity", "blended"),
    ("equity", "high_water"),
    ("equity", "sizing"),
    ("unrealised_pnl",),
    ("margin_used",),
    ("drawdown", "peak"),
}


def leaves(value: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    if isinstance(value, dict):
        return [leaf for key, item in value.items() for leaf in leaves(item, (*path, key))]
    if isinstance(value, list):
        return [leaf for item in value for leaf in leaves(item, path)]
    return [(path, value)]


async def test_every_amount_of_money_in_status_is_an_exact_decimal_string(trading: Trading) -> None:
    # With a layer open the unrealised P&L, margin and blended equity are computed from floats: Gold 10 lots
    # at 78,500 marked 78,501.25 by a bar ⇒ unrealised 1.25 × 10 × 10 = ₹125.00, margin 10 × 1,05,000.
    assert (await trading.outcome(ENTRY))[0] == "executed"
    assert (await trading.outcome(gold("MARKET_DATA", "10:27:00", price=78_501.25, atr=100)))[0] == "executed"
    shown = dict(leaves(await status(trading.webhook)))
    for path in MONEY:
        assert isinstance(shown[path], str), path
        assert Decimal(shown[path]) == Decimal(shown[path]).quantize(Decimal("0.01")), path
    assert (shown[("unrealised_pnl",)], shown[("margin_used",)]) == ("125.00", "1050000.00")
    # Closed 50,00,000 − 3,925 = 49,96,075; open + 125; blended + 62.50.
    assert (shown[("equity", "closed")], shown[("equity", "open")], shown[("equity", "blended")]) == (
        "4996075.00",
        "4996200.00",
        "4996137.50",
    )
    floats = [path for path, value in shown.items() if isinstance(value, float)]
    assert floats
    assert all(
        path[-1] in ("pct", "risk_pct", "vol_pct", "margin_utilisation_pct", "drawdown_pct") for path in floats
    ), floats
