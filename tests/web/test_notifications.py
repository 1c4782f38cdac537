"""Notifications (docs/rules.md §10) against a fake Telegram Bot API on a real socket, sent through apprise's own
Telegram plugin: one message per filled event with the trader's numbers, none for a decision that did not
commit, none twice across a crash and restart, and a notifier that hangs never holds the pipeline up."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from basso.enums import AlertLevel
from basso.notifications import Notifier, Targets
from basso.store import notifications as outbox
from basso.store.alerts import raise_alert
from basso.store.fence import take_fence
from tests.web.conftest import NOW, Trading
from tests.web.fake_telegram import CHAT, URL, FakeTelegram
from tests.web.test_controls import ADMIN
from tests.web.test_webhook import payload

ENTRY = payload("BASE_ENTRY_BANK_NIFTY", timestamp="2026-11-25T10:28:00", signal_id="entry")
QUIET_BAR = {
    "type": "MARKET_DATA",
    "instrument": "BANK_NIFTY",
    "price": 52100,
    "atr": 350,
    "timestamp": "2026-11-25T10:29:00",
    "signal_id": "bar-1",
    "secret": ENTRY["secret"],
}
STOP_BAR = {**QUIET_BAR, "price": 51600, "timestamp": "2026-11-25T10:29:30", "signal_id": "bar-2"}


@dataclass
class Clock:
    """The notifier's wall clock, moved by hand."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def trading(trading: Trading) -> Trading:
    """The trading instance, its outbox emptied of the one row its start made: the alert that it gained the lead
    (tests/leadership/test_alerts.py tells that one), so each test here counts only its own messages."""
    pool = trading.webhook.services.pool
    kinds = await pool.fetch("SELECT a.kind FROM notifications n JOIN alerts a ON a.id = n.source_id")
    assert [row["kind"] for row in kinds] == ["leadership_gained"]
    await pool.execute("DELETE FROM notifications")
    return trading


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram().running() as fake:
        yield fake


def notifier_for(trading: Trading, telegram: FakeTelegram, clock: Clock, **settings: Any) -> Notifier:
    """A notifier of the trading instance, sending to the fake Telegram."""
    services = trading.webhook.services
    chosen = replace(services.config.notifications, urls=(URL,), **settings)
    return Notifier(
        pool=services.pool,
        settings=chosen,
        targets=telegram.point_at(Targets(chosen.urls, chosen.timeout_s)),
        epoch=services.epoch,
        wall_clock=clock,
    )


async def signal(trading: Trading, body: dict[str, Any]) -> None:
    status, reply = await trading.webhook.post(orjson.dumps(body))
    assert (status, reply["status"]) == (200, "accepted"), reply
    await trading.outcomes.wait_until_none_pending(trading.webhook.services.pool)


async def test_one_message_per_filled_event_with_the_numbers_a_trader_wants(
    trading: Trading, telegram: FakeTelegram
) -> None:
    pool = trading.webhook.services.pool
    await signal(trading, ENTRY)
    await signal(trading, QUIET_BAR)  # trails nothing out, fills nothing: no message
    await signal(trading, STOP_BAR)
    await raise_alert(
        pool,
        at=NOW,
        level=AlertLevel.CRITICAL,
        kind="reconciliation",
        instrument="GOLD_MINI",
        message="quantity mismatch: broker 100, here 200",
    )
    notifier = notifier_for(trading, telegram, Clock(NOW))

    assert await notifier.send_due() == 3
    entry, stop, alert = telegram.texts()
    # 1 lot (docs/rules.md §3 at ₹50 L); entry commission 0.05 % × 52,000 × 30 = ₹780 ⇒ equity ₹49,99,220.00.
    assert "Entry filled: BANK_NIFTY Long_1" in entry
    assert (
        "Bought 1 lot of BANK_NIFTY Long_1 (BANKNIFTY29DEC26FUT) at 52000.00; stop 51650.00. Equity ₹49,99,220.00."
    ) in entry
    # The bar closes at 51,600, below the stop (51,650): P&L (51,600 − 52,000) × 1 × 30 = −₹12,000; exit
    # commission 0.05 % × 51,600 × 30 = ₹774 ⇒ equity 49,99,220 − 12,000 − 774 = ₹49,86,446.00.
    assert "Stop hit: BANK_NIFTY Long_1" in stop
    assert (
        "Sold 1 lot of BANK_NIFTY Long_1 at 51600.00 (entry 52000.00): P&L −₹12,000.00. stop hit: close 51600 "
        "below stop 51650. Equity ₹49,86,446.00."
    ) in stop
    assert "Alert (critical): reconciliation" in alert
    assert "GOLD_MINI: quantity mismatch: broker 100, here 200" in alert
    assert [m["chat_id"] for m in telegram.messages] == [int(CHAT)] * 3
    assert [m["disable_notification"] for m in telegram.messages] == [False] * 3

    assert await notifier.send_due() == 0  # each at most once
    assert len(telegram.messages) == 3
    assert {row["state"] for row in await outbox.states(pool)} == {"sent"}


async def test_silent_events_arrive_without_a_sound_and_off_events_not_at_all(
    trading: Trading, telegram: FakeTelegram
) -> None:
    await signal(trading, ENTRY)
    await signal(trading, STOP_BAR)
    events = {**trading.webhook.services.config.notifications.events, "entry_filled": "silent", "stop_hit": "off"}
    notifier = notifier_for(trading, telegram, Clock(NOW), events=events)
    assert await notifier.send_due() == 1
    [entry] = telegram.messages
    assert "Entry filled" in entry["text"]
    assert entry["disable_notification"] is True
    assert [row["state"] for row in await outbox.states(trading.webhook.services.pool)] == ["sent", "skipped"]


async def test_nothing_is_told_of_a_decision_that_did_not_commit(trading: Trading, telegram: FakeTelegram) -> None:
    pool = trading.webhook.services.pool
    assert (await trading.webhook.post_json("/api/kill-switch", {"on": True, "reason": "test"}, ADMIN))[0] == 200
    await signal(trading, ENTRY)  # blocked by the kill switch: no order, no fill
    assert await pool.fetchval("SELECT outcome FROM signals WHERE key = 'entry'") == "blocked"

    async with pool.acquire() as conn:  # an alert raised in a transaction that then rolls back is no fact
        transaction = conn.transaction()
        await transaction.start()
        await raise_alert(conn, at=NOW, level=AlertLevel.WARNING, kind="drawdown", message="entered 5 %")
        await transaction.rollback()

    assert await notifier_for(trading, telegram, Clock(NOW)).send_due() == 0
    assert telegram.messages == []
    assert await outbox.states(pool) == []


async def test_none_is_sent_twice_across_a_crash_and_restart(trading: Trading, telegram: FakeTelegram) -> None:
    pool = trading.webhook.services.pool
    await signal(trading, ENTRY)
    first = notifier_for(trading, telegram, Clock(NOW))
    assert await first.send_due() == 1

    await raise_alert(
        pool,
        at=NOW,
        level=AlertLevel.WARNING,
        kind="bar_gap",
        instrument="BANK_NIFTY",
        message="no bar close for 20 minutes",
    )
    telegram.mode = "hang"
    telegram.arrived.clear()
    round_ = asyncio.create_task(first.send_due())
    await asyncio.wait_for(telegram.arrived.wait(), 5)
    round_.cancel()  # the process dies mid-send: the alert's row stays claimed ('sending')
    with pytest.raises(asyncio.CancelledError):
        await round_
    assert [row["state"] for row in await outbox.states(pool)] == ["sent", "sending"]

    telegram.mode = "ok"
    restarted = notifier_for(trading, telegram, Clock(NOW))
    assert await restarted.send_due() == 0  # the entry was sent; the alert may have gone out: neither again
    assert [row["state"] for row in await outbox.states(pool)] == ["sent", "unknown"]
    await signal(trading, STOP_BAR)
    assert await restarted.send_due() == 1  # what happens after the restart is told, once
    assert [m["text"].count("Entry filled") for m in telegram.messages] == [1, 0]
    assert "Stop hit" in telegram.messages[1]["text"]


async def test_a_notifier_that_hangs_never_holds_the_pipeline_up(trading: Trading, telegram: FakeTelegram) -> None:
    pool = trading.webhook.services.pool
    notifier = notifier_for(trading, telegram, Clock(NOW), timeout_s=60.0)
    await signal(trading, ENTRY)
    telegram.mode = "hang"
    round_ = asyncio.create_task(notifier.send_due())
    await asyncio.wait_for(telegram.arrived.wait(), 5)
    # The notifier is stuck on Telegram (until released, or for a minute); the pipeline decides and commits the
    # next signal regardless.
    await asyncio.wait_for(signal(trading, STOP_BAR), 30)
    assert not round_.done()
    assert await pool.fetchval("SELECT outcome FROM signals WHERE key = 'bar-2'") == "executed"
    telegram.release()  # Telegram answers at last, with an error: the message waits for its retry
    assert await asyncio.wait_for(round_, 30) == 0
    entry = (await outbox.states(pool))[0]
    assert (entry["state"], entry["attempts"]) == ("pending", 1)


async def test_a_send_that_times_out_is_retried_with_doubling_backoff(trading: Trading, telegram: FakeTelegram) -> None:
    pool = trading.webhook.services.pool
    clock = Clock(NOW)
    notifier = notifier_for(trading, telegram, clock, timeout_s=0.5, retry_first_s=5.0, retry_max_s=600.0)
    await signal(trading, ENTRY)
    telegram.mode = "hang"
    assert await notifier.send_due() == 0
    [entry] = await outbox.states(pool)
    assert (entry["state"], entry["attempts"], entry["last_error"]) == ("pending", 1, "no answer within 0.5 s")
    assert entry["next_attempt_at"] == NOW + timedelta(seconds=5)  # the first retry after retry_first_s
    assert await notifier.send_due() == 0  # not yet due: nothing is tried
    assert telegram.requests == 1

    telegram.mode = "fail"
    clock.now = NOW + timedelta(seconds=5)
    assert await notifier.send_due() == 0
    [entry] = await outbox.states(pool)
    assert (entry["attempts"], entry["next_attempt_at"]) == (2, clock.now + timedelta(seconds=10))  # doubled

    telegram.mode = "ok"
    clock.now += timedelta(seconds=10)
    await signal(trading, STOP_BAR)
    assert await notifier.send_due() == 2
    assert [("Entry filled" in t, "Stop hit" in t) for t in telegram.texts()] == [(True, False), (False, True)]
    assert [row["state"] for row in await outbox.states(pool)] == ["sent", "sent"]


async def test_a_follower_sends_nothing(trading: Trading, telegram: FakeTelegram) -> None:
    await signal(trading, ENTRY)
    notifier = notifier_for(trading, telegram, Clock(NOW))
    notifier.epoch = lambda: None
    assert await notifier.send_due() == 0
    assert telegram.messages == []


def test_a_url_apprise_cannot_use_is_refused_at_start_without_its_secret() -> None:
    from basso.config import ConfigError

    with pytest.raises(ConfigError, match=r"notifications.urls: apprise cannot use nosuchservice://…"):
        Targets(["nosuchservice://secret-token@host"], 10.0)


async def test_the_server_notifies_from_the_leader_as_it_commits(trading: Trading, telegram: FakeTelegram) -> None:
    """`run()` as `basso run` starts it: a commit wakes it, and the message arrives without anyone calling it."""
    notifier = notifier_for(trading, telegram, Clock(datetime.now(UTC)), poll_s=30.0)
    running = asyncio.create_task(notifier.run())
    try:
        await signal(trading, ENTRY)
        notifier.wake()  # what the server's on_commit does
        await asyncio.wait_for(telegram.arrived.wait(), 5)
        while not telegram.messages:
            telegram.arrived.clear()
            await asyncio.wait_for(telegram.arrived.wait(), 5)
    finally:
        running.cancel()
    assert "Entry filled" in telegram.texts()[0]


async def test_without_urls_nothing_is_sent_and_the_outbox_does_not_grow(trading: Trading) -> None:
    pool = trading.webhook.services.pool
    await signal(trading, ENTRY)
    await raise_alert(pool, at=NOW, level=AlertLevel.INFO, kind="test", message="hello")
    settings = trading.webhook.services.config.notifications  # the default: urls = []
    notifier = Notifier(
        pool=pool,
        settings=settings,
        targets=Targets(settings.urls, settings.timeout_s),
        epoch=trading.webhook.services.epoch,
        wall_clock=Clock(NOW),
    )
    assert await notifier.send_due() == 0
    assert [(row["state"], row["last_error"]) for row in await outbox.states(pool)] == [
        ("skipped", "no [notifications] urls configured")
    ] * 2


async def test_a_backlog_larger_than_a_batch_goes_out_in_one_round(trading: Trading, telegram: FakeTelegram) -> None:
    pool = trading.webhook.services.pool
    for n in range(25):  # more than the notifier's batch of 20
        await raise_alert(pool, at=NOW, level=AlertLevel.INFO, kind="test", message=f"alert {n}")
    assert await notifier_for(trading, telegram, Clock(NOW)).send_due() == 25
    assert [text.rsplit(" ", 1)[-1] for text in telegram.texts()] == [str(n) for n in range(25)]


async def test_an_instance_whose_fence_was_taken_sends_nothing_more(trading: Trading, telegram: FakeTelegram) -> None:
    pool = trading.webhook.services.pool
    await signal(trading, ENTRY)
    notifier = notifier_for(trading, telegram, Clock(NOW))
    async with pool.acquire() as conn:
        await take_fence(conn, "another-host", "elected elsewhere")
    assert await notifier.send_due() == 0  # it still believes it leads; the claim under the fence says no
    assert telegram.messages == []
    # The entry, the end of this instance's epoch (superseded) and another-host's lead: for the new leader to send.
    assert [row["state"] for row in await outbox.states(pool)] == ["pending"] * 3


async def test_changes_of_leader_are_an_event_of_their_own(trading: Trading, telegram: FakeTelegram) -> None:
    """A trader can silence (or turn off) the routine changes of leader and keep every other alert loud."""
    pool = trading.webhook.services.pool
    await raise_alert(
        pool, at=NOW, level=AlertLevel.INFO, kind="leadership_released", message="host-z stepped down from epoch 7"
    )
    await raise_alert(pool, at=NOW, level=AlertLevel.WARNING, kind="reconciliation", message="quantity mismatch")
    events = {**trading.webhook.services.config.notifications.events, "leadership": "off"}
    assert await notifier_for(trading, telegram, Clock(NOW), events=events).send_due() == 1
    assert [row["state"] for row in await outbox.states(pool)] == ["skipped", "sent"]
    assert telegram.texts() == ["<b>Alert (warning): reconciliation</b>\r\nquantity mismatch"]
