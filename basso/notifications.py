"""Notifications (docs/rules.md §10): the leader tells the trader's phone about fills and alerts, through apprise.

Why apprise: one well-kept library (BSD licence, released often) reaches Telegram and about a hundred other
services (Discord, Slack, e-mail, ntfy, Pushover, …) behind one URL each, so a trader who does not use Telegram
changes a line of configuration, not the code; python-telegram-bot or aiogram would tie Basso to Telegram.

How it stays out of the way of trading: every fill and every alert is a row of the notifications outbox,
written by a trigger in the very transaction that commits it (sql/009), so only committed facts are told and
none is forgotten. This notifier runs beside the pipeline, not in it: it reads the outbox, claims a row under
the fence, sends it from a worker thread with a deadline, and records the result. A service that is down or
slow costs the notifier retries (with backoff), never the pipeline a moment. A row cut off mid-send by a crash
is never sent again (it may have gone out): each message is sent at most once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import apprise
import asyncpg

from basso.config import ConfigError, NotificationSettings
from basso.enums import NotificationState
from basso.formatting import number, rupees
from basso.store import notifications as outbox

log = logging.getLogger(__name__)

BATCH = 20


@dataclass(frozen=True, slots=True, kw_only=True)
class Notification:
    """One message: the event it is (a key of `[notifications.events]`), a title and a body."""

    event: str
    title: str
    body: str


def fill_notification(fact: Mapping[str, Any]) -> Notification:
    """The message for a filled order: entry, exit, stop hit, peel-off or roll, with the numbers."""
    name = f"{fact['instrument']} Long_{fact['layer']}"
    lots = f"{fact['lots']} lot{'' if fact['lots'] == 1 else 's'}"
    equity = f"Equity {rupees(fact['equity'])}."
    if fact["opening"]:
        contract = f" ({fact['contract']})" if fact["contract"] else ""
        return Notification(
            event="entry_filled",
            title=f"Entry filled: {name}",
            body=f"Bought {lots} of {name}{contract} at {number(fact['price'])}; "
            f"stop {number(fact['current_stop'])}. {equity}",
        )
    reason = fact["exit_reason"] or "exit"
    event, title = _exit_kind(reason)
    pnl = rupees(fact["realised_pnl"]) if fact["realised_pnl"] is not None else "n/a"
    return Notification(
        event=event,
        title=f"{title}: {name}",
        body=f"Sold {lots} of {name} at {number(fact['price'])} (entry {number(fact['entry_price'])}):"
        f" P&L {pnl}. {reason}. {equity}",
    )


def _exit_kind(reason: str) -> tuple[str, str]:
    lowered = reason.lower()
    if lowered.startswith("stop hit"):
        return "stop_hit", "Stop hit"
    if lowered.startswith("peel"):
        return "peel_off", "Peel-off"
    if lowered.startswith("roll"):
        return "roll_done", "Roll done"
    return "exit_filled", "Exit filled"


def alert_notification(fact: Mapping[str, Any]) -> Notification:
    """The message for an alert; a failed roll and a change of leader are events of their own (a trader may want
    only the failed rolls loud, or the routine changes of leader silent)."""
    where = f"{fact['instrument']}: " if fact["instrument"] else ""
    kind: str = fact["kind"]
    event = "roll_failed" if kind.startswith("roll") else "leadership" if kind.startswith("leadership") else "alert"
    return Notification(event=event, title=f"Alert ({fact['level']}): {fact['kind']}", body=f"{where}{fact['message']}")


class Targets:
    """The services messages go to (apprise URLs), each twice: as given, and silent (no sound, where the
    service can: Telegram's `disable_notification`)."""

    def __init__(self, urls: Iterable[str], timeout_s: float) -> None:
        self.loud = apprise.Apprise()
        self.silent = apprise.Apprise()
        for url in urls:
            if not self.loud.add(_bounded(url, timeout_s)):
                raise ConfigError(f"notifications.urls: apprise cannot use {_redacted(url)}")
            self.silent.add(_bounded(url, timeout_s, silent="yes"))

    def __bool__(self) -> bool:
        return len(self.loud) > 0

    def plugins(self) -> list[Any]:
        """Every service object, loud and silent (a test points them at a fake server)."""
        return [*self.loud, *self.silent]

    async def send(self, notification: Notification, *, silent: bool) -> bool:
        """Send to every service from a worker thread (apprise's HTTP calls block); True if all took it."""
        target = self.silent if silent else self.loud
        result = await asyncio.to_thread(target.notify, body=notification.body, title=notification.title)
        return bool(result)


def _bounded(url: str, timeout_s: float, **extra: str) -> str:
    """`url` with apprise's connect and read timeouts (`cto`, `rto`) set unless it sets its own, so a worker
    thread gives up when the notifier does, plus `extra` arguments."""
    arguments = {"cto": f"{timeout_s:g}", "rto": f"{timeout_s:g}", **extra}
    present = urlsplit(url).query
    added = "&".join(f"{key}={value}" for key, value in arguments.items() if f"{key}=" not in present)
    if not added:
        return url
    return url + ("&" if "?" in url else "?") + added


def _redacted(url: str) -> str:
    """A URL's scheme only: its token must not reach a log."""
    return f"{urlsplit(url).scheme}://…"


class _FenceMoved(Exception):
    """A claim found another epoch in the fence: this instance no longer leads."""


class Notifier:
    """Sends the outbox's due rows while this instance leads; `wake()` after a commit, `run()` as a task."""

    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        settings: NotificationSettings,
        targets: Targets,
        epoch: Callable[[], int | None],
        wall_clock: Callable[[], datetime],
    ) -> None:
        self.pool = pool
        self.settings = settings
        self.targets = targets
        self.epoch = epoch  # the fence epoch while this instance leads, else None
        self.wall_clock = wall_clock
        self._woken = asyncio.Event()
        self._tidied_epoch: int | None = None
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def wake(self, *_: object) -> None:
        """Something committed: look at the outbox now (callable as an `on_commit` observer). With nowhere to send,
        nothing is hurried: the next poll marks what is pending skipped, a round trip a poll rather than a commit."""
        if self.targets:
            self._woken.set()

    def start(self) -> None:
        """Run in the background until `stop()`."""
        self._task = asyncio.create_task(self.run(), name="notifier")

    async def stop(self) -> None:
        """Let the message in flight finish and be recorded (at most `timeout_s` more), then stop: a graceful
        shutdown must not leave a sent message looking cut off."""
        self._stopping = True
        self._woken.set()
        if self._task is None:
            return
        try:
            await asyncio.wait_for(self._task, self.settings.timeout_s + 1)
        except TimeoutError:
            log.warning("notifications: stopped while a message was still on its way")

    async def run(self) -> None:
        """Until cancelled or stopped: send what is due, then wait for a wake-up or `poll_s`. Never raises: a
        failure is logged and the next round tries again."""
        while not self._stopping:
            try:
                await self.send_due()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("notifications: the database is unavailable (%s); trying again", exc)
            except Exception:
                log.exception("notifications: a round failed; trying again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._woken.wait(), self.settings.poll_s)
            self._woken.clear()

    async def send_due(self) -> int:
        """One round: every due row, oldest first; how many were sent."""
        epoch = self.epoch()
        if epoch is None:
            return 0  # a follower sends nothing: the leader does
        if self._tidied_epoch != epoch:
            # New to the lead (or just started): whatever was claimed and not finished was cut off mid-send.
            abandoned = await outbox.abandon_interrupted(self.pool, epoch)
            if abandoned:
                log.warning(
                    "notifications: %d cut off mid-send by a crash; not sent again (they may have gone out)", abandoned
                )
            self._tidied_epoch = epoch
        if not self.targets:
            await outbox.skip_pending(self.pool, epoch, "no [notifications] urls configured")
            return 0
        sent = 0
        while not self._stopping:
            rows = await outbox.due(self.pool, self.wall_clock(), BATCH)
            for row in rows:
                if self._stopping:
                    break
                try:
                    sent += await self._send_one(row, epoch)
                except _FenceMoved:
                    return sent
            if len(rows) < BATCH:
                break  # every due row had its turn (a failed one waits for its next attempt)
        return sent

    async def _send_one(self, row: asyncpg.Record, epoch: int) -> int:
        notification = await self._compose(row)
        now = self.wall_clock()
        if notification is None:
            await outbox.finish(
                self.pool,
                row["id"],
                state=NotificationState.FAILED,
                at=now,
                error=f"{row['source']} {row['source_id']} not found",
            )
            return 0
        mode = self.settings.events.get(notification.event, "on")
        if mode == "off":
            await outbox.finish(self.pool, row["id"], state=NotificationState.SKIPPED, at=now)
            return 0
        if not await outbox.claim(self.pool, row["id"], epoch):
            raise _FenceMoved  # another instance leads now: it sends this one
        attempt = row["attempts"] + 1
        error = await self._deliver(notification, silent=mode == "silent")
        now = self.wall_clock()
        if error is None:
            await outbox.finish(self.pool, row["id"], state=NotificationState.SENT, at=now)
            return 1
        if attempt >= self.settings.max_attempts:
            log.error("notifications: gave up on %s after %d attempts: %s", notification.title, attempt, error)
            await outbox.finish(self.pool, row["id"], state=NotificationState.FAILED, at=now, error=error)
            return 0
        delay = min(self.settings.retry_max_s, self.settings.retry_first_s * 2 ** (attempt - 1))
        log.warning("notifications: %s not sent (%s); retrying in %.0f s", notification.title, error, delay)
        await outbox.finish(
            self.pool,
            row["id"],
            state=NotificationState.PENDING,
            at=now,
            error=error,
            retry_at=now + timedelta(seconds=delay),
        )
        return 0

    async def _deliver(self, notification: Notification, *, silent: bool) -> str | None:
        """None once every service took it, else what went wrong."""
        try:
            async with asyncio.timeout(self.settings.timeout_s):
                sent = await self.targets.send(notification, silent=silent)
        except TimeoutError:
            return f"no answer within {self.settings.timeout_s:g} s"
        except Exception as exc:  # a notifier's bug or a service's oddity must not stop the others
            log.exception("notifications: sending failed")
            return f"{type(exc).__name__}: {exc}"
        return None if sent else "a service refused it (see apprise's log)"

    async def _compose(self, row: asyncpg.Record) -> Notification | None:
        if row["source"] == "order":
            fact = await outbox.order_fact(self.pool, row["source_id"])
            return fill_notification(dict(fact)) if fact is not None else None
        fact = await outbox.alert_fact(self.pool, row["source_id"])
        return alert_notification(dict(fact)) if fact is not None else None
