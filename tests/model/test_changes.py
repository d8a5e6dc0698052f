"""Changes: a version that writers bump and readers await, queueing nothing."""

from __future__ import annotations

import asyncio

from mock_server.model.changes import Changes


def test_a_reader_wakes_on_the_next_change_and_sees_a_burst_at_once() -> None:
    async def main() -> tuple[int, int, int]:
        changes = Changes()
        assert await changes.wait(-1) == 0  # a version it has not shown: at once
        readers = [asyncio.ensure_future(changes.wait(0)) for _ in range(3)]
        await asyncio.sleep(0)
        assert not any(reader.done() for reader in readers)
        changes.bump()
        changes.bump()
        woken = await asyncio.gather(*readers)
        assert woken == [2, 2, 2]
        late = await changes.wait(1)  # a reader that missed some sees the newest
        return late, changes.version, len(woken)

    assert asyncio.run(main()) == (2, 2, 3)


def test_close_wakes_every_reader_for_good() -> None:
    async def main() -> tuple[bool, int]:
        changes = Changes()
        reader = asyncio.ensure_future(changes.wait(0))
        await asyncio.sleep(0)
        changes.close()
        await reader
        # closed: a wait returns at once even for the current version
        return changes.closed, await changes.wait(changes.version)

    assert asyncio.run(main()) == (True, 1)


def test_a_bump_without_readers_only_counts() -> None:
    changes = Changes()
    for _ in range(1000):
        changes.bump()
    assert changes.version == 1000
