"""The out_of_order gate."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from mock_server.delivery.ordering import OrderGate
from mock_server.model.jobs import FetchRequest, Job


def _job(**behaviours: dict[str, Any]) -> Job:
    request = FetchRequest("date_range", dt.date(2025, 1, 6), dt.date(2025, 1, 7))
    return Job("job_x", "tok", "user_x", request, dt.datetime.now(dt.UTC), 0.0, behaviours=behaviours)


def test_order_gate_forget_lets_waiting_deliveries_go() -> None:
    gate = OrderGate()
    job = _job(out_of_order={"max_wait": 60})
    job.number = 1

    async def main() -> None:
        waiting = asyncio.ensure_future(gate.wait(job))
        await asyncio.sleep(0)
        gate.forget("other")
        assert not waiting.done()
        gate.forget()
        await asyncio.wait_for(waiting, 1)
        gate.passed(_job())  # nothing waits any more
        gate.forget("tok")

    asyncio.run(main())


def test_order_gate_releases_only_earlier_jobs() -> None:
    gate = OrderGate()
    waiting_job = _job(out_of_order={"max_wait": 60})
    waiting_job.number = 5

    async def main() -> None:
        task = asyncio.ensure_future(gate.wait(waiting_job))
        await asyncio.sleep(0)
        earlier = _job()
        earlier.number = 3
        gate.passed(earlier)
        await asyncio.sleep(0)
        assert not task.done()
        later = _job()
        later.number = 6
        gate.passed(later)
        gate.passed(later)  # already released: nothing to do
        await asyncio.wait_for(task, 1)
        gate.forget()

    asyncio.run(main())
