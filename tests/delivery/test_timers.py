"""``Timetable``: one loop timer for every scheduled job, fired in due order."""

from __future__ import annotations

import asyncio

from mock_server.delivery.dispatcher import Timetable


async def _fired_until(table: Timetable[str], fired: list[str], count: int) -> list[str]:
    """Await (not sleep) until ``count`` items have fired."""
    done = asyncio.Event()
    original = table._fire

    def fire(item: str) -> None:
        original(item)
        if len(fired) >= count:
            done.set()

    table._fire = fire
    await asyncio.wait_for(done.wait(), 5)
    return fired


def test_items_fire_in_due_order_and_ties_in_scheduling_order() -> None:
    async def scenario() -> list[str]:
        fired: list[str] = []
        table: Timetable[str] = Timetable(fired.append)
        table.add("late", "late", 0.03)
        table.add("first", "first", 0.0)
        table.add("second", "second", 0.0)
        table.add("middle", "middle", 0.01)
        assert len(table) == 4
        assert "middle" in table
        return await _fired_until(table, fired, 4)

    assert asyncio.run(scenario()) == ["first", "second", "middle", "late"]


def test_cancel_and_reschedule_keep_only_the_latest_time() -> None:
    async def scenario() -> tuple[list[str], Timetable[str]]:
        fired: list[str] = []
        table: Timetable[str] = Timetable(fired.append)
        table.add("a", "a-old", 60)
        table.add("a", "a-new", 0.0)  # rescheduled: the old entry is stale
        table.add("b", "b", 60)
        assert table.cancel("b") is True
        assert table.cancel("b") is False
        table.add("c", "c", 0.02)
        await _fired_until(table, fired, 2)
        return fired, table

    fired, table = asyncio.run(scenario())
    assert fired == ["a-new", "c"]
    assert len(table) == 0
    assert list(table.ids()) == []


def test_an_earlier_item_moves_the_timer_forward() -> None:
    async def scenario() -> list[str]:
        fired: list[str] = []
        table: Timetable[str] = Timetable(fired.append)
        table.add("hour", "hour", 3600)
        table.add("now", "now", 0.0)
        await _fired_until(table, fired, 1)
        assert "hour" in table
        table.cancel("hour")  # the last one: its timer goes too
        assert table._timer is None
        return fired

    assert asyncio.run(scenario()) == ["now"]


def test_an_item_added_while_firing_is_not_delayed_past_earlier_ones() -> None:
    async def scenario() -> list[str]:
        fired: list[str] = []
        table: Timetable[str] = Timetable(fired.append)

        def fire(item: str) -> None:
            fired.append(item)
            if item == "first":
                table.add("later", "later", 0.05)  # arms a timer for itself while firing

        table._fire = fire
        table.add("first", "first", 0.0)
        table.add("soon", "soon", 0.01)  # earlier than "later": must not wait for its timer
        await _fired_until(table, fired, 3)
        return fired

    assert asyncio.run(scenario()) == ["first", "soon", "later"]


def test_cancelled_entries_do_not_pile_up() -> None:
    async def scenario() -> int:
        table: Timetable[str] = Timetable(lambda item: None)
        for n in range(1000):
            table.add(f"job{n}", "x", 3600)
            table.cancel(f"job{n}")
            table.add("kept", "x", 3600)
        return len(table._heap)

    assert asyncio.run(scenario()) <= 2 * 64 + 2
