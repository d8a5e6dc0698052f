"""The contract suite's target, markers and Hypothesis profiles.

``pytest contract_tests`` runs against the fake, started in-process on a free port with a local
webhook receiver. ``--cobalt-base-url https://api.usecobalt.com/v1`` with ``COBALT_CLIENT_ID``,
``COBALT_CLIENT_SECRET`` and ``COBALT_ACCESS_TOKEN`` set runs the same properties against that API,
awaiting completions by polling ``GET /v1/webhook-events``, under the small, paced ``live`` profile;
tests marked ``fake_only`` are then skipped.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings

from contract_tests.target import FakeTarget, PollingTarget, Target, start_fake

CREDENTIALS = {
    "client_id": "COBALT_CLIENT_ID",
    "client_secret": "COBALT_CLIENT_SECRET",
    "access_token": "COBALT_ACCESS_TOKEN",
}

# Quick and thorough enough for the fake: each example is one or two local HTTP round trips. No
# deadline: an example's time is the server's, not the code under test's. too_slow is about drawing
# data, which a busy 2-core CI machine can slow down without anything being wrong.
settings.register_profile(
    "contract", max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
# A real API: few generated requests, no shrinking (each step would be more requests), nothing
# replayed from the local example database, and no health check may fail a run that costs real
# requests. Pacing is the target's (one request a second).
settings.register_profile(
    "live",
    max_examples=3,
    deadline=None,
    phases=[Phase.generate],
    database=None,
    suppress_health_check=list(HealthCheck),
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("cobalt-contract", "Cobalt contract tests (contract_tests/)")
    group.addoption(
        "--cobalt-base-url",
        default=None,
        metavar="URL",
        help="run the contract suite against this API (e.g. https://api.usecobalt.com/v1) instead of "
        "the in-process fake; needs COBALT_CLIENT_ID, COBALT_CLIENT_SECRET, COBALT_ACCESS_TOKEN",
    )
    group.addoption(
        "--cobalt-webhook-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="how long to await a job's completion event (default: 10 on the fake, 120 on a real API)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "fake_only: needs the in-process fake; skipped with --cobalt-base-url")
    config.addinivalue_line(
        "markers", "decision: checks one of the fake's decisions where Cobalt's docs are silent"
    )
    if config.getoption("cobalt_base_url", None):
        missing = [env for env in CREDENTIALS.values() if not os.environ.get(env)]
        if missing:
            raise pytest.UsageError(
                f"--cobalt-base-url needs these environment variables: {', '.join(missing)}"
            )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getoption("cobalt_base_url", None):
        return
    skip = pytest.mark.skip(reason="fake only: --cobalt-base-url points the suite at a real API")
    # A real API's jobs take minutes; pytest-timeout's per-test limit is for the fake.
    unlimited = pytest.mark.timeout(0) if config.pluginmanager.hasplugin("timeout") else None
    for item in items:
        if "fake_only" in item.keywords:
            item.add_marker(skip)
        if unlimited is not None and item.nodeid.startswith("contract_tests/"):
            item.add_marker(unlimited)


@pytest.fixture(scope="session")
def target(pytestconfig: pytest.Config) -> Iterator[Target]:
    """The API under test: the fake (with a registered receiver), or the one at --cobalt-base-url."""
    url = pytestconfig.getoption("cobalt_base_url")
    timeout = pytestconfig.getoption("cobalt_webhook_timeout")
    if url:
        headers = {name: os.environ[env] for name, env in CREDENTIALS.items()}
        chosen: Target = PollingTarget(url, headers, webhook_timeout=timeout or 120.0)
    else:
        chosen = start_fake()
        if timeout:
            chosen.webhook_timeout = timeout
    with chosen:
        yield chosen


@pytest.fixture(scope="session")
def contract_settings(pytestconfig: pytest.Config, target: Target) -> settings:
    """The Hypothesis settings for properties: ``--hypothesis-profile`` if given, else by target."""
    if pytestconfig.getoption("hypothesis_profile", None):
        return settings(settings.default, deadline=None)
    return settings.get_profile("contract" if target.is_fake else "live")


@pytest.fixture
def fake(target: Target) -> FakeTarget:
    """The session's fake, for ``fake_only`` tests that may share it."""
    assert isinstance(target, FakeTarget), "fake_only tests are skipped unless the target is the fake"
    return target


@pytest.fixture
def make_fake() -> Iterator[Callable[..., FakeTarget]]:
    """Start fresh fakes (settings as keyword arguments) for one test; all stopped after it."""
    started: list[FakeTarget] = []

    def make(**values: Any) -> FakeTarget:
        started.append(start_fake(**values))
        return started[-1]

    yield make
    for fake in started:
        fake.close()
