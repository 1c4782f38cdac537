"""The operator's controls over real HTTP: the kill switch and capital moves, and their CLI commands."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from basso.cli import main
from tests.web.conftest import ADMIN_TOKEN, Trading, Webhook
from tests.web.test_webhook import JSON_VALUES, payload

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.mark.parametrize(
    "headers",
    [
        None,
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {ADMIN_TOKEN}"},
        {"Authorization": ADMIN_TOKEN},
    ],
)
async def test_the_controls_refuse_a_missing_or_wrong_admin_token(
    webhook: Webhook, headers: dict[str, str] | None
) -> None:
    for path, body in (
        ("/api/kill-switch", {"on": True}),
        ("/api/capital", {"kind": "deposit", "amount": 1}),
        ("/api/flatten", {"confirm": True}),
    ):
        status, reply = await webhook.post_json(path, body, headers)
        assert (status, reply) == (401, {"status": "unauthorised"})
    assert await webhook.services.pool.fetchval("SELECT kill_switch FROM controls") is False


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/kill-switch", b"not json", "body"),
        ("/api/kill-switch", b"[true]", "body"),
        ("/api/kill-switch", {}, "on"),
        ("/api/kill-switch", {"on": "yes"}, "on"),
        ("/api/kill-switch", {"on": 1}, "on"),
        ("/api/kill-switch", {"on": True, "reason": 5}, "reason"),
        ("/api/kill-switch", {"on": True, "reason": "x" * 201}, "reason"),
        ("/api/flatten", {}, "confirm"),
        ("/api/flatten", {"confirm": "yes"}, "confirm"),
        ("/api/flatten", {"confirm": True, "reason": 1}, "reason"),
        ("/api/capital", {"kind": "gift", "amount": 1}, "kind"),
        ("/api/capital", {"amount": 1}, "kind"),
        ("/api/capital", {"kind": "deposit"}, "amount"),
        ("/api/capital", {"kind": "deposit", "amount": "lots"}, "amount"),
        ("/api/capital", {"kind": "deposit", "amount": -5}, "amount"),
        ("/api/capital", {"kind": "deposit", "amount": 0}, "amount"),
        ("/api/capital", {"kind": "deposit", "amount": "1.001"}, "amount"),
        ("/api/capital", {"kind": "deposit", "amount": True}, "amount"),
        ("/api/capital", {"kind": "deposit", "amount": "1e15"}, "amount"),
        ("/api/capital", {"kind": "deposit", "amount": "NaN"}, "amount"),
        ("/api/capital", {"kind": "withdrawal", "amount": "5000000.01"}, "amount"),  # more than the equity
        ("/api/capital", {"kind": "deposit", "amount": 1, "note": ["x"]}, "note"),
    ],
)
async def test_bad_control_bodies_name_the_field_and_change_nothing(
    trading: Trading, path: str, body: object, field: str
) -> None:
    status, reply = await trading.webhook.post_json(path, body, ADMIN)
    assert (status, reply["status"], reply["field"]) == (400, "error", field), reply
    pool = trading.webhook.services.pool
    assert await pool.fetchval("SELECT kill_switch FROM controls") is False
    assert await pool.fetchval("SELECT sum(amount) FROM ledger") == Decimal("5000000.00")
    assert await pool.fetchval("SELECT count(*) FROM control_audit") == 0
    assert await pool.fetchval("SELECT count(*) FROM signals") == 0


async def test_the_kill_switch_blocks_entries_never_exits_and_is_audited(trading: Trading) -> None:
    webhook = trading.webhook
    assert await trading.outcome(payload("BASE_ENTRY_BANK_NIFTY")) == ("executed", "1 lot, risk-limited")

    assert await webhook.post_json("/api/kill-switch", {"on": True, "reason": "RBI news"}, ADMIN) == (
        200,
        {"kill_switch": True, "changed": True},
    )
    assert await webhook.post_json("/api/kill-switch", {"on": True}, ADMIN) == (
        200,
        {"kill_switch": True, "changed": False},
    )
    _, status = await webhook.get("/api/status")
    assert isinstance(status, dict)
    assert status["kill_switch"] is True
    assert await trading.outcome(payload("BASE_ENTRY_GOLD_MINI")) == ("blocked", "kill switch is on")
    exit_outcome, _ = await trading.outcome(payload("EXIT_STOP_LOSS", timestamp="2026-11-25T10:30:10"))
    assert exit_outcome == "executed"  # exits are never blocked

    assert await webhook.post_json("/api/kill-switch", {"on": False}, ADMIN) == (
        200,
        {"kill_switch": False, "changed": True},
    )
    gold_again = payload("BASE_ENTRY_GOLD_MINI", signal_id="gold-after-kill-switch")
    assert (await trading.outcome(gold_again))[0] == "executed"
    audit = await webhook.services.pool.fetch("SELECT action, detail FROM control_audit ORDER BY id")
    assert [tuple(r) for r in audit] == [("kill switch on", "RBI news"), ("kill switch off", "")]


async def test_capital_moves_are_signed_ledger_rows_and_followers_refuse_them(trading: Trading) -> None:
    status, reply = await trading.webhook.post_json(
        "/api/capital", {"kind": "deposit", "amount": "250000.50", "note": "top-up"}, ADMIN
    )
    # Nothing open, no drawdown: the peak was the ₹50 L deposited and rises by the deposit with it (docs/rules.md §2).
    assert (status, reply) == (
        200,
        {"kind": "deposit", "amount": "250000.50", "closed_equity": "5250000.50", "drawdown_peak": "5250000.50"},
    )
    status, reply = await trading.webhook.post_json("/api/capital", {"kind": "withdrawal", "amount": 1000}, ADMIN)
    assert (status, reply["closed_equity"]) == (200, "5249000.50")
    rows = await trading.webhook.services.pool.fetch("SELECT kind, amount, note FROM ledger ORDER BY id")
    assert [tuple(r) for r in rows] == [
        ("deposit", Decimal("5000000.00"), "initial capital"),
        ("deposit", Decimal("250000.50"), "top-up"),
        ("withdrawal", Decimal("-1000.00"), "withdrawal"),
    ]
    trading.pipeline.gate.set_leader(False)  # this instance no longer leads
    status, reply = await trading.webhook.post_json("/api/capital", {"kind": "deposit", "amount": 1}, ADMIN)
    assert (status, reply["field"]) == (503, "instance")


async def test_the_cli_sends_the_controls_with_the_admin_token(
    trading: Trading, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = str(trading.webhook.server.make_url("/")).rstrip("/")
    (tmp_path / "admin-token").write_text(ADMIN_TOKEN + "\n")  # as `basso run` keeps it
    assert await asyncio.to_thread(main, ["kill-switch", "on", "--url", url, "--data-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out == "kill switch on\n"
    assert await asyncio.to_thread(main, ["capital", "deposit", "100000", "--url", url, "--token", ADMIN_TOKEN]) == 0
    assert capsys.readouterr().out == "deposit of ₹1,00,000.00: closed equity ₹51,00,000.00\n"
    assert await asyncio.to_thread(main, ["kill-switch", "off", "--url", url, "--token", "wrong"]) == 2
    assert capsys.readouterr().err == "basso kill-switch: error: --token: the server refused the admin token\n"
    assert await asyncio.to_thread(main, ["capital", "withdraw", "1.001", "--url", url, "--token", ADMIN_TOKEN]) == 2
    assert "amount: amount has more than two decimals" in capsys.readouterr().err
    assert await trading.webhook.services.pool.fetchval("SELECT kill_switch FROM controls") is True
    assert await asyncio.to_thread(main, ["flatten", "--url", url, "--token", ADMIN_TOKEN]) == 2
    assert capsys.readouterr().err.startswith("basso flatten: error: --yes: flatten closes every open position")
    assert await asyncio.to_thread(main, ["flatten", "--yes", "--url", url, "--token", ADMIN_TOKEN]) == 0
    assert capsys.readouterr().out == "flatten: nothing open\n"


async def test_flatten_closes_every_open_layer_at_its_mark_once(trading: Trading) -> None:
    webhook = trading.webhook
    assert (await trading.outcome(payload("BASE_ENTRY_BANK_NIFTY")))[0] == "executed"  # 1 lot at 52,000
    assert (await trading.outcome(payload("BASE_ENTRY_GOLD_MINI")))[0] == "executed"  # 1 lot at 72,000
    status, reply = await webhook.post_json("/api/flatten", {"confirm": True, "reason": "end of month"}, ADMIN)
    assert status == 200
    assert reply["status"] == "accepted"
    signals = reply["signals"]
    assert isinstance(signals, list)
    assert [key.rsplit("-", 1)[1] for key in signals] == ["BANK_NIFTY", "GOLD_MINI"]
    await trading.outcomes.wait_until_none_pending(webhook.services.pool)
    pool = webhook.services.pool
    rows = await pool.fetch("SELECT instrument, exit_price, realised_pnl, exit_reason FROM positions ORDER BY id")
    assert [tuple(r) for r in rows] == [
        ("BANK_NIFTY", Decimal("52000.0000"), Decimal("0.00"), "flatten: end of month"),
        ("GOLD_MINI", Decimal("72000.0000"), Decimal("0.00"), "flatten: end of month"),
    ]
    # Closed at the marks, so only costs: BN 52,000 × 30 × 0.05 % = ₹780 a side, Gold 72,000 × 10 × 0.05 % = ₹360.
    assert await pool.fetchval("SELECT sum(amount) FROM ledger") == Decimal("4997720.00")
    assert await webhook.post_json("/api/flatten", {"confirm": True}, ADMIN) == (
        200,
        {"status": "nothing open", "signals": []},
    )
    audit = await pool.fetch("SELECT action, detail FROM control_audit ORDER BY id")
    assert [tuple(r) for r in audit] == [
        ("flatten", "end of month: BANK_NIFTY, GOLD_MINI"),
        ("flatten", "no reason given: nothing open"),
    ]


CONTROL_FIELDS = st.sampled_from(["on", "reason", "confirm", "kind", "amount", "note", "other"])


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    path=st.sampled_from(["/api/kill-switch", "/api/flatten", "/api/capital"]),
    body=st.one_of(
        st.binary(max_size=200),
        st.dictionaries(CONTROL_FIELDS, JSON_VALUES, max_size=6).map(lambda d: json.dumps(d).encode()),
    ),
)
async def test_random_control_bodies_never_get_a_5xx(webhook: Webhook, path: str, body: bytes) -> None:
    status, reply = await webhook.post_json(path, body, ADMIN)
    # This app does not lead, so a valid capital move is 503 "send it to the leader"; nothing else may be 5xx.
    assert status in (200, 400) or (status, reply.get("field")) == (503, "instance"), (status, reply)


async def test_every_server_command_talks_to_the_port_and_data_dir_of_its_config_file(
    trading: Trading, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = trading.webhook.server
    (tmp_path / "admin-token").write_text(ADMIN_TOKEN + "\n")
    config = tmp_path / "basso.toml"
    config.write_text(f'[server]\nhost = "{server.host}"\nport = {server.port}\ndata_dir = "{tmp_path}"\n', "utf-8")
    for argv, printed in [
        (["status", "--json"], '"kill_switch": false'),
        (["kill-switch", "on"], "kill switch on"),
        (["capital", "deposit", "100000"], "deposit of"),
        (["flatten", "--yes"], "flatten: nothing open"),
    ]:
        assert await asyncio.to_thread(main, ["--config", str(config), *argv]) == 0, capsys.readouterr().err
        assert printed in capsys.readouterr().out
    assert await trading.webhook.services.pool.fetchval("SELECT kill_switch FROM controls") is True
