"""The pipeline's latency is a minimum on the journal's clock, however early the loop wakes."""

from __future__ import annotations

import asyncio
import time

from mock_server.api.pipeline import wait_at_least


def test_the_wait_lasts_until_its_end_even_when_a_sleep_ends_early() -> None:
    # `since` in the future stands for a first sleep that ended early: the rest is waited too.
    since = time.perf_counter() + 0.03
    asyncio.run(wait_at_least(0.02, since))
    assert time.perf_counter() >= since + 0.02


def test_a_wait_already_over_ends_after_its_sleep() -> None:
    started = time.perf_counter()
    asyncio.run(wait_at_least(0.01, started - 1))
    elapsed = time.perf_counter() - started
    assert 0.009 <= elapsed < 0.5  # its own sleep, not a second one
