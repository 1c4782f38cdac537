"""The SignalReceiver's decisions and the order desk's records take turns (basso/actors/turn.py): a record waits
for the decision in flight, the next decision waits for the records under way, and neither waits past its
patience for the other. Each order of events is driven step by step: no sleeps."""

from __future__ import annotations

import asyncio

from basso.actors.turn import BookTurn


async def settle() -> None:
    """Let every task that can run, run (a few passes of the loop; nothing here waits on time)."""
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_record_waits_for_the_decision_in_flight_and_then_goes_ahead() -> None:
    turn = BookTurn(patience_s=3600)  # patience out of reach: only the decision's end lets the record go
    events: list[str] = []

    async def record() -> None:
        async with turn.recording():
            events.append("recorded")

    await turn.decide()
    task = asyncio.create_task(record())
    await settle()
    assert events == []  # the decision is in flight
    events.append("committed")
    turn.decided()
    await task
    assert events == ["committed", "recorded"]
    assert turn.writes == 1


async def test_the_next_decision_waits_for_the_records_under_way_and_sees_their_count() -> None:
    turn = BookTurn(patience_s=3600)
    release = asyncio.Event()
    events: list[str] = []

    async def record() -> None:
        async with turn.recording():
            events.append("recording")
            await release.wait()  # the database write, under way
            events.append("recorded")

    first, second = asyncio.create_task(record()), asyncio.create_task(record())
    await settle()
    deciding = asyncio.create_task(turn.decide())
    await settle()
    assert not deciding.done()  # two records under way
    release.set()
    await deciding
    assert events == ["recording", "recording", "recorded", "recorded"]
    assert turn.writes == 2  # a book read now includes both
    await asyncio.gather(first, second)


async def test_records_that_come_while_nothing_is_in_flight_do_not_wait() -> None:
    turn = BookTurn(patience_s=3600)
    async with turn.recording():
        pass
    turn.decided()  # a decision that found nothing to hand out
    async with turn.recording():
        pass
    assert turn.writes == 2


async def test_a_decision_that_never_comes_back_holds_a_record_up_no_longer_than_the_patience() -> None:
    # A leader that lost its lease mid-decision: no `decided` ever comes. With no patience at all the record
    # goes ahead at once; the version check refuses whatever then commits out of turn.
    turn = BookTurn(patience_s=0.0)
    await turn.decide()
    async with turn.recording():
        pass
    assert turn.writes == 1


async def test_a_record_stuck_on_the_database_holds_the_next_decision_up_no_longer_than_the_patience() -> None:
    turn = BookTurn(patience_s=0.0)
    stuck = asyncio.Event()

    async def record() -> None:
        async with turn.recording():
            await stuck.wait()

    task = asyncio.create_task(record())
    await settle()
    await turn.decide()  # returns although the record has not finished
    assert turn.writes == 0
    stuck.set()
    await task
    assert turn.writes == 1


async def test_a_record_that_fails_still_counts_so_the_next_book_is_read_again() -> None:
    turn = BookTurn(patience_s=3600)
    try:
        async with turn.recording():
            raise ConnectionError("the database went away mid-write")
    except ConnectionError:
        pass
    assert turn.writes == 1
    await turn.decide()  # and the desk is idle again: nothing waits


async def test_records_that_waited_all_go_before_a_decision_that_follows_at_once() -> None:
    # A batch's fills wait for it; the moment it commits the receiver wants the next turn. The fills that waited
    # are under way by then (let through as the decision ends), so the next decision waits for all of them, and a
    # fill that comes after it wants the turn waits for that decision.
    turn = BookTurn(patience_s=3600)
    release = asyncio.Event()
    events: list[str] = []

    async def record(name: str) -> None:
        async with turn.recording():
            events.append(f"{name} recording")
            await release.wait()
        events.append(f"{name} recorded")

    await turn.decide()
    waiting = [asyncio.create_task(record(name)) for name in ("a", "b")]
    await settle()
    assert events == []
    turn.decided()
    deciding = asyncio.create_task(turn.decide())  # at once, before the records have run
    await settle()
    late = asyncio.create_task(record("late"))
    await settle()
    assert not deciding.done()
    assert events == ["a recording", "b recording"]  # the late one waits for the decision
    release.set()
    await deciding
    assert events == ["a recording", "b recording", "a recorded", "b recorded"]
    assert turn.writes == 2
    turn.decided()
    await asyncio.gather(*waiting, late)
    assert events[-2:] == ["late recording", "late recorded"]
