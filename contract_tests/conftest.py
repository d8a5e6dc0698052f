"""The contract suite's target, markers, options and the live run's conformance report.

``pytest contract_tests`` runs against the fake, started in-process on a free port with a local
webhook receiver, each property drawing its requests with Hypothesis. ``--cobalt-base-url
https://api.usecobalt.com/v1`` with ``COBALT_CLIENT_ID``, ``COBALT_CLIENT_SECRET`` and
``COBALT_ACCESS_TOKEN`` set runs the same properties against that API, on the deterministic live plan
(``plan.py``: the boundaries, then the user's identifiers, within a request budget, paced), awaiting
completions by polling ``GET /v1/webhook-events``; tests marked ``fake_only`` are then skipped, and
the run ends with a conformance report (terminal, ``conformance.json``, ``conformance.md``).
See ``docs/contract-suite.md``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from contract_tests.conformance import Recorder, Report
from contract_tests.plan import Plan, PlanError, PlanOptions
from contract_tests.properties import Fuzz, How, Live
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
RECORDER = pytest.StashKey[Recorder]()
LIVE_TARGET = pytest.StashKey[PollingTarget]()
PLAN_FLAGS = {  # option dest -> plan option
    "cobalt_seed": "seed",
    "cobalt_budget": "budget",
    "cobalt_pace": "pace",
    "cobalt_mrns": "mrns",
    "cobalt_provider_ids": "provider_ids",
    "cobalt_windows": "windows",
    "cobalt_plan": "plan",
    "cobalt_webhook_api": "webhook_api",
}


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
    live = parser.getgroup("cobalt-live", "Cobalt live plan (with --cobalt-base-url; docs/contract-suite.md)")
    live.addoption(
        "--cobalt-seed",
        type=int,
        default=None,
        help="seed of the live plan (default 0; env COBALT_CONTRACT_SEED)",
    )
    live.addoption(
        "--cobalt-budget",
        type=int,
        default=None,
        help="requests the live plan may send, polls not counted (default 45; env COBALT_CONTRACT_BUDGET)",
    )
    live.addoption(
        "--cobalt-pace",
        type=float,
        default=None,
        metavar="SECONDS",
        help="at least this long between two requests (default 1; env COBALT_CONTRACT_PACE)",
    )
    live.addoption(
        "--cobalt-mrns", default=None, help="comma-separated MRNs with data (env COBALT_CONTRACT_MRNS)"
    )
    live.addoption(
        "--cobalt-provider-ids",
        default=None,
        help="comma-separated EHR provider ids with data (env COBALT_CONTRACT_PROVIDER_IDS)",
    )
    live.addoption(
        "--cobalt-windows",
        default=None,
        metavar="START..END,...",
        help="comma-separated date windows with appointments (env COBALT_CONTRACT_WINDOWS)",
    )
    live.addoption(
        "--cobalt-webhook-api",
        default=None,
        choices=("guide", "reference"),
        help="the version of Cobalt's webhook API to check (default guide; the fake is started with "
        "it; env COBALT_CONTRACT_WEBHOOK_API)",
    )
    live.addoption(
        "--cobalt-plan", default=None, metavar="FILE", help="a JSON plan file (env COBALT_CONTRACT_PLAN)"
    )
    live.addoption(
        "--cobalt-report-dir",
        default=None,
        metavar="DIR",
        help="where conformance.json and conformance.md go (default ./cobalt-conformance)",
    )
    group.addoption(
        "--cobalt-slow",
        action="store_true",
        default=False,
        help="also run the tests marked slow (every break of the live mode, on several seeds)",
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
        if getattr(config.option, "numprocesses", None):
            raise pytest.UsageError("a live run is one paced client: run it without -n")
        config.stash[RECORDER] = Recorder()


def live_plan(config: pytest.Config) -> Plan:
    """The plan from the options, the environment and the plan file (raises UsageError if malformed)."""
    flags = {name: config.getoption(dest, None) for dest, name in PLAN_FLAGS.items()}
    try:
        return Plan.build(PlanOptions.load(flags, os.environ))
    except PlanError as exc:
        raise pytest.UsageError(f"live plan: {exc}") from None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getoption("cobalt_slow", False):
        slow = [item for item in items if item.get_closest_marker("slow") is not None]
        if slow:
            config.hook.pytest_deselected(items=slow)
            items[:] = [item for item in items if item.get_closest_marker("slow") is None]
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
def plan(pytestconfig: pytest.Config) -> Plan:
    """The live plan (with --cobalt-base-url); on the fake, the default plan's boundary steps, for
    the webhook API version the options name."""
    if pytestconfig.getoption("cobalt_base_url"):
        return live_plan(pytestconfig)
    return Plan.build(PlanOptions(webhook_api=live_plan(pytestconfig).options.webhook_api))


@pytest.fixture(scope="session")
def target(pytestconfig: pytest.Config, plan: Plan) -> Iterator[Target]:
    """The API under test: the fake (with a registered receiver), or the one at --cobalt-base-url."""
    url = pytestconfig.getoption("cobalt_base_url")
    timeout = pytestconfig.getoption("cobalt_webhook_timeout")
    if url:
        headers = {name: os.environ[env] for name, env in CREDENTIALS.items()}
        polled = PollingTarget(url, headers, webhook_timeout=timeout or 120.0, pace=plan.options.pace)
        pytestconfig.stash[LIVE_TARGET] = polled
        chosen: Target = polled
    else:
        chosen = start_fake(webhook_api=plan.options.webhook_api)
        if timeout:
            chosen.webhook_timeout = timeout
    with chosen:
        yield chosen


@pytest.fixture(scope="session")
def contract_settings(pytestconfig: pytest.Config) -> settings:
    """The Hypothesis settings for the fake's properties: ``--hypothesis-profile`` if given."""
    if pytestconfig.getoption("hypothesis_profile", None):
        return settings(settings.default, deadline=None)
    return settings.get_profile("contract")


@pytest.fixture(scope="session")
def how(pytestconfig: pytest.Config, plan: Plan, contract_settings: settings) -> How:
    """How properties run: Hypothesis on the fake, the recorded live plan against a URL."""
    if RECORDER in pytestconfig.stash:
        return Live(plan, pytestconfig.stash[RECORDER])
    return Fuzz(contract_settings, plan)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """A live run's conformance report: every rule with its verdict, here and in two files."""
    if RECORDER not in config.stash:
        return
    target = config.stash.get(LIVE_TARGET, None)
    meta: dict[str, Any] = {"base_url": config.getoption("cobalt_base_url")}
    if target is not None:
        meta["requests_sent"] = dict(target.sent)
        meta["busy_waits"] = len(target.waits)
    with contextlib.suppress(pytest.UsageError):
        meta["plan"] = live_plan(config).options.public()
    report = Report(config.stash[RECORDER].outcomes, live=True, meta=meta)
    directory = Path(config.getoption("cobalt_report_dir") or "cobalt-conformance")
    paths = report.write(directory)
    terminalreporter.section("Cobalt conformance report")
    for line in report.summary_lines():
        terminalreporter.write_line(line)
    terminalreporter.write_line(f"written: {paths[0]} and {paths[1]}")


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
