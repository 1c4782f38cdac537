"""Alerts (docs/rules.md §10) over real HTTP: raised once per open condition, listed, acknowledged with the admin token."""

from __future__ import annotations

from datetime import UTC, datetime

from basso.enums import AlertLevel
from basso.store.alerts import raise_alert
from tests.web.conftest import Webhook
from tests.web.test_controls import ADMIN

AT = datetime(2026, 11, 30, 4, 0, tzinfo=UTC)


async def get(webhook: Webhook, path: str) -> tuple[int, dict[str, object]]:
    async with webhook.session.get(webhook.server.make_url(path)) as response:
        return response.status, await response.json(content_type=None)


async def test_an_alert_raised_twice_while_open_is_one_alert_and_is_raised_again_once_acknowledged(
    webhook: Webhook,
) -> None:
    pool = webhook.services.pool
    first = await raise_alert(
        pool,
        at=AT,
        level=AlertLevel.WARNING,
        kind="reconciliation",
        instrument="GOLD_MINI",
        message="quantity mismatch",
        detail={"broker": 100, "here": 200},
        dedupe="reconciliation:GOLD_MINI",
    )
    again = await raise_alert(
        pool,
        at=AT,
        level=AlertLevel.WARNING,
        kind="reconciliation",
        instrument="GOLD_MINI",
        message="quantity mismatch",
        dedupe="reconciliation:GOLD_MINI",
    )
    other = await raise_alert(pool, at=AT, level=AlertLevel.CRITICAL, kind="dead_letter", message="signal 7 died")
    assert first is not None
    assert again is None
    assert other is not None

    status, reply = await get(webhook, "/api/alerts")
    assert status == 200
    assert reply["unacknowledged"] == 2
    alerts = reply["alerts"]
    assert isinstance(alerts, list)
    assert [(a["id"], a["level"], a["kind"], a["instrument"]) for a in alerts] == [
        (other, "critical", "dead_letter", None),
        (first, "warning", "reconciliation", "GOLD_MINI"),
    ]
    assert alerts[1]["detail"] == {"broker": 100, "here": 200}

    assert await webhook.post_json("/api/alerts/ack", {"id": first}, ADMIN) == (
        200,
        {"id": first, "acknowledged": True, "changed": True},
    )
    assert await webhook.post_json("/api/alerts/ack", {"id": first}, ADMIN) == (
        200,
        {"id": first, "acknowledged": True, "changed": False},
    )
    status, reply = await get(webhook, "/api/alerts?open=true")
    assert [a["id"] for a in reply["alerts"]] == [other]  # type: ignore[attr-defined]
    # Acknowledged, the condition may be raised again as a new alert.
    assert await raise_alert(
        pool,
        at=AT,
        level=AlertLevel.WARNING,
        kind="reconciliation",
        message="quantity mismatch",
        dedupe="reconciliation:GOLD_MINI",
    ) not in (None, first)


async def test_acknowledging_needs_the_admin_token_and_a_real_alert_id(webhook: Webhook) -> None:
    alert = await raise_alert(
        webhook.services.pool, at=AT, level=AlertLevel.INFO, kind="leadership", message="this instance leads at epoch 3"
    )
    assert await webhook.post_json("/api/alerts/ack", {"id": alert}) == (401, {"status": "unauthorised"})
    assert (await webhook.post_json("/api/alerts/ack", {"id": 10**9}, ADMIN))[0] == 404
    for bad in ({}, {"id": "1"}, {"id": True}, {"id": -1}, {"id": 1.5}):
        status, reply = await webhook.post_json("/api/alerts/ack", bad, ADMIN)
        assert (status, reply["field"]) == (400, "id")
    assert (await get(webhook, "/api/alerts?open=maybe"))[0] == 400
    assert (await get(webhook, "/api/alerts"))[1]["unacknowledged"] == 1
