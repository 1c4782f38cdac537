"""Notifications across a `kill -9`: a `basso run` process killed while a message is on its way never sends
that message again after the restart (it may have gone out), never repeats one it sent, and tells what happens
after the restart once.

The process sends through apprise's generic `json://` service to the fake at `/notify`: apprise has no setting
for Telegram's host, and a test cannot reach into another process to redirect it (tests/web/test_notifications.py
covers the Telegram requests themselves)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import orjson
import pytest

from basso.embedded import EmbeddedRedis
from basso.enums import AlertLevel
from basso.store import notifications as outbox
from basso.store.alerts import raise_alert
from tests.processes import SECRET, Instance, running
from tests.web.fake_telegram import FakeTelegram

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram().running() as server:
        yield server


def _signal(now: datetime, **fields: object) -> bytes:
    return orjson.dumps({"instrument": "BANK_NIFTY", "timestamp": now.isoformat(), "secret": SECRET, **fields})


async def _wait_messages(fake: FakeTelegram, count: int) -> None:
    while len(fake.messages) < count:
        fake.arrived.clear()
        await asyncio.wait_for(fake.arrived.wait(), 30)


async def _traded(instance: Instance, body: bytes) -> None:
    status, reply = await instance.post(body)
    assert status == 200, reply
    await asyncio.wait_for(instance.wait_processed(reply["signal_id"]), 30)


async def test_a_message_cut_off_by_kill_9_is_not_sent_again_and_none_is_repeated(
    fresh_database: str, redis_server: EmbeddedRedis, tmp_path: Path, fake: FakeTelegram
) -> None:
    settings = tmp_path / "basso.toml"
    settings.write_text(
        f'[notifications]\nurls = ["json://127.0.0.1:{fake.port}/notify"]\npoll_s = 0.2\ntimeout_s = 60.0\n'
    )
    env = {"BASSO_CONFIG": str(settings)}
    now = datetime.now(UTC)
    async with running(fresh_database, redis_server.url, tmp_path / "data", env) as first:
        await _traded(
            first,
            _signal(
                now,
                type="BASE_ENTRY",
                position="Long_1",
                price=52000,
                stop=51650,
                lots=5,
                atr=350,
                er=0.82,
                supertrend=51650,
                signal_id="entry",
            ),
        )
        await _wait_messages(fake, 2)  # this instance's lead (epoch 1), then the entry
        fake.mode = "hang"
        fake.arrived.clear()
        pool = await asyncpg.create_pool(fresh_database, min_size=1, max_size=2)
        assert pool is not None
        try:
            await raise_alert(
                pool,
                at=now,
                level=AlertLevel.CRITICAL,
                kind="reconciliation",
                instrument="BANK_NIFTY",
                message="quantity mismatch",
            )
            await asyncio.wait_for(fake.arrived.wait(), 30)  # the alert's message is on its way ...
            first.process.kill()  # ... when the process dies
            await first.process.wait()
            assert [row["state"] for row in await outbox.states(pool)] == ["sent", "sent", "sending"]

            fake.mode = "ok"
            async with running(fresh_database, redis_server.url, tmp_path / "data", env) as second:
                await _traded(
                    second,
                    _signal(
                        now + timedelta(seconds=1),
                        type="EXIT",
                        position="Long_1",
                        price=52100,
                        reason="strategy exit",
                        signal_id="exit",
                    ),
                )
                await _wait_messages(fake, 5)
                assert await second.terminate() == 0
            # The restart adds the end of the killed instance's epoch 1 (superseded) and its own lead (epoch 2);
            # its graceful stop, the release of epoch 2, which waits for whichever instance leads next to send it.
            states = [row["state"] for row in await outbox.states(pool)]
            assert states == ["sent", "sent", "unknown", "sent", "sent", "sent", "pending"]
        finally:
            await pool.close()
    lead, entry, superseded, lead_again, exit_ = fake.texts()
    assert lead.startswith("Alert (info): leadership_gained")
    assert entry.startswith("Entry filled: BANK_NIFTY Long_1")
    assert superseded.startswith("Alert (warning): leadership_superseded")
    assert "epoch 1 ended without a word" in superseded
    assert lead_again.startswith("Alert (info): leadership_gained")
    assert "leads at epoch 2" in lead_again
    assert exit_.startswith("Exit filled: BANK_NIFTY Long_1")
    # The lead, the entry, the alert once (cut off), the takeover's two, the exit: nothing twice.
    assert fake.requests == 6
