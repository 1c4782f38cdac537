"""Messages: frozen, slotted, keyword-only, with an id, a monotonic stamp, the cause and the epoch."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from mypy import api as mypy_api

from basso.messages import Message, new_message_id


@dataclass(frozen=True, slots=True, kw_only=True)
class SizingDecision(Message):
    lots: int


def test_every_message_gets_a_distinct_id() -> None:
    ids = {SizingDecision(lots=1).id for _ in range(1000)} | {new_message_id() for _ in range(1000)}
    assert len(ids) == 2000


def test_a_message_is_frozen_and_has_no_instance_dict() -> None:
    decision = SizingDecision(lots=3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        decision.lots = 4  # type: ignore[misc]
    assert not hasattr(decision, "__dict__")


def test_fields_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        SizingDecision(3)  # type: ignore[call-arg, arg-type]


def test_the_timestamp_is_monotonic_time_of_creation() -> None:
    before = time.monotonic()
    decision = SizingDecision(lots=1)
    assert before <= decision.at <= time.monotonic()


def test_a_message_no_signal_caused_has_no_cause_and_no_epoch_by_default() -> None:
    poll = Message()
    assert poll.cause_id is None
    assert poll.epoch == 0


def test_following_carries_the_stored_signals_row_and_the_epoch_down_the_chain() -> None:
    decision = SizingDecision(lots=2, cause_id=41, epoch=7)  # as the Sizer decides the signal in row 41
    intent = SizingDecision.following(decision, lots=2)
    fill = SizingDecision.following(intent, lots=2)
    assert (intent.cause_id, intent.epoch) == (41, 7)
    assert (fill.cause_id, fill.epoch) == (41, 7)
    assert fill.id not in (decision.id, intent.id)


def test_the_type_checker_refuses_a_message_sent_to_the_wrong_actor(tmp_path: Path) -> None:
    # Each actor's mailbox is typed by what it takes: a Poll for the RiskGuard, a RiskGuard's factory in the
    # Sizer's slot, or a Settled sent from inside the Sizer would crash an actor at run time; mypy refuses them.
    program = tmp_path / "wrong.py"
    program.write_text(
        "from basso.actors.base import ActorRef\n"
        "from basso.actors.risk_guard import RiskGuard, RiskGuardContext\n"
        "from basso.actors.sizer import Sizer\n"
        "from basso.messages import Decided, Poll, ReceiverInbox, Settled\n"
        "from basso.supervisor import ChildSpec\n"
        "async def wire(guard: ActorRef[Decided], sizer: ActorRef[ReceiverInbox], context: RiskGuardContext,\n"
        "               actor: Sizer, settled: Settled) -> None:\n"
        "    await guard.tell(Poll())\n"
        "    ChildSpec(name='sizer', factory=lambda: RiskGuard(context), ref=sizer)\n"
        "    await actor.send(actor.context.risk_guard, settled)\n"
        "    await sizer.tell(Poll())\n"
    )
    report, _, status = mypy_api.run(["--strict", "--cache-dir", str(tmp_path / "cache"), str(program)])
    assert status == 1
    errors = [line for line in report.splitlines() if ": error:" in line]
    assert [line.split(":")[1] for line in errors] == ["8", "9", "9", "10"], report
    assert (
        'wrong.py:8: error: Argument 1 to "tell" of "ActorRef" has incompatible type "Poll"; expected "Decided"'
        in report
    )
