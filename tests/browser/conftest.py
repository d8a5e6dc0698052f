"""Playwright driving Debian's chromium (``apt-get install chromium``; ``.ci/run`` installs it).

Never ``playwright install``: the browser is the system's. In CI (``CI=true``) a missing chromium
fails these tests; elsewhere they are skipped with how to install it. The browser is started once
per module: Playwright's sync API keeps its event loop running on the test thread while it lives,
so it must be stopped before another module's test calls ``asyncio.run``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        why = f"no chromium at {CHROMIUM}: install Debian's with `apt-get install chromium`"
        if os.environ.get("CI") == "true":
            pytest.fail(f"the browser tests must run in CI, but there is {why}", pytrace=False)
        pytest.skip(why)
    expect.set_options(timeout=20_000)  # a shared, busy machine: waits are for events, not time
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    opened = context.new_page()
    yield opened
    context.close()
