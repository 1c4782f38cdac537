"""Messages: frozen, slotted, keyword-only, with an id, a monotonic stamp, the cause and the epoch."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import pytest

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
        SizingDecision(3)  # type: ignore[misc]


def test_the_timestamp_is_monotonic_time_of_creation() -> None:
    before = time.monotonic()
    decision = SizingDecision(lots=1)
    assert before <= decision.at <= time.monotonic()


def test_a_signal_is_its_own_cause_and_carries_no_epoch_by_default() -> None:
    signal = Message()
    assert signal.cause_id is None
    assert signal.signal_id == signal.id
    assert signal.epoch == 0


def test_following_carries_the_signal_id_and_epoch_down_the_chain() -> None:
    signal = Message(epoch=7)
    decision = SizingDecision.following(signal, lots=2)
    intent = SizingDecision.following(decision, lots=2)
    assert (decision.cause_id, decision.epoch) == (signal.id, 7)
    assert (intent.cause_id, intent.epoch) == (signal.id, 7)
    assert intent.id not in (signal.id, decision.id)
