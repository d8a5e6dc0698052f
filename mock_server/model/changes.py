"""``Changes``: a counter of changes to what the fake can show, that readers on its loop await.

Whatever changes a job, a delivery, the journal, the webhooks or the settings calls ``bump``; a
live view (the dashboard's stream, ``mock_server.api.dashboard``) awaits ``wait`` instead of
polling, and reads the state itself when it wakes. Nothing is queued: a reader that wakes late sees
every change since at once, so a burst costs it one read, and the writers' cost is an increment
(plus one ``Event.set`` when someone waits). Call it on the fake's event loop.
"""

from __future__ import annotations

import asyncio


class Changes:
    def __init__(self) -> None:
        self.version = 0
        """How many changes so far (a reader remembers the one it has shown)."""
        self.closed = False
        """The server is stopping: waiters wake and readers should end."""
        self._event: asyncio.Event | None = None  # made only while someone waits

    def bump(self) -> None:
        self.version += 1
        event = self._event
        if event is not None:
            self._event = None
            event.set()

    async def wait(self, seen: int) -> int:
        """The version once it differs from ``seen`` (at once if it does), or when closed."""
        while self.version == seen and not self.closed:
            if self._event is None:
                self._event = asyncio.Event()
            await self._event.wait()
        return self.version

    def close(self) -> None:
        """Wake every waiter for good (the server is stopping)."""
        self.closed = True
        self.bump()
