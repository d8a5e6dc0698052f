"""The ``out_of_order`` behaviour: a job's webhook waits until a later job of its access token (one
that is not itself out_of_order) has been delivered, so receivers see the later one first. The job
still completes on time (its event is recorded then, with that timestamp); with no such later job
within ``max_wait`` seconds it is delivered anyway."""

from __future__ import annotations

import asyncio

from mock_server.model.jobs import Job


class OrderGate:
    """Holds ``out_of_order`` deliveries back until a later job of the same access token delivered."""

    def __init__(self) -> None:
        self._delivered: dict[str, int] = {}
        self._waiting: dict[str, list[tuple[int, asyncio.Future[None]]]] = {}

    async def wait(self, job: Job) -> None:
        params = job.behaviours.get("out_of_order")
        if params is None or self._delivered.get(job.access_token, 0) > job.number:
            return
        entry = (job.number, asyncio.get_running_loop().create_future())
        queue = self._waiting.setdefault(job.access_token, [])
        queue.append(entry)
        try:
            await asyncio.wait({entry[1]}, timeout=params["max_wait"])
        finally:
            queue.remove(entry)
            if not queue:
                self._waiting.pop(job.access_token, None)

    def passed(self, job: Job) -> None:
        """``job`` finished its delivery: let earlier out_of_order jobs of its token go."""
        if "out_of_order" in job.behaviours:
            return
        token = job.access_token
        self._delivered[token] = max(self._delivered.get(token, 0), job.number)
        for number, future in self._waiting.get(token, []):
            if number < job.number and not future.done():
                future.set_result(None)

    def forget(self, access_token: str | None = None) -> None:
        """Reset: waiting deliveries go now, and the record of what was delivered is dropped."""
        tokens = list(self._waiting) if access_token is None else [access_token]
        for token in tokens:
            for _, future in self._waiting.get(token, []):
                if not future.done():
                    future.set_result(None)
        if access_token is None:
            self._delivered.clear()
        else:
            self._delivered.pop(access_token, None)
