"""pytest plugin: the fake as fixtures, with webhooks a test can await.

``cobalt_mock_server`` (session; per xdist worker) owns one fake served by uvicorn on a pre-bound
port and one ``WebhookReceiver``. ``cobalt_mock`` (function) gives each test a clean fake with its
own settings (``@pytest.mark.cobalt_mock(...)``), the receiver registered, and errors raised inside
the server re-raised in the test that caused them.

Settings, weakest first: the fake's defaults with ``delay=0``, ``port=0`` and ``log_level=warning``;
``COBALT_MOCK_*`` environment; ini options ``cobalt_mock_<name>``; flags ``--cobalt-mock-<name>``;
the marker. Every pytest session in an environment with cobalt-mock installed imports this module,
so only the standard library and ``mock_server.settings`` load here; the rest loads with the fixture.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections import ChainMap
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

from mock_server.errors import ConfigError
from mock_server.settings import ENV_PREFIX, SPECS, Settings, default_text
from mock_server.settings import flag_for as settings_flag
from mock_server.testing.handle import MARKER, CobaltMock
from mock_server.testing.session import CobaltMockServer

if TYPE_CHECKING:
    pass

__all__ = ["cobalt_mock", "cobalt_mock_server"]

T = TypeVar("T")
NAMES = tuple(f.name for f in dataclasses.fields(Settings))
# In tests, jobs finish at once, each xdist worker gets a free port, and uvicorn keeps quiet.
TEST_DEFAULTS = {"delay": "0", "port": "0", "log_level": "warning"}

_SERVERS = pytest.StashKey[list["CobaltMockServer"]]()
_HANDLE = pytest.StashKey["CobaltMock"]()


def flag_for(name: str) -> str:
    return settings_flag(name, "--cobalt-mock-")


def ini_for(name: str) -> str:
    return "cobalt_mock_" + name


# -- hooks -------------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("cobalt-mock", "cobalt-mock fake server (each setting also as an ini option)")
    for name in NAMES:
        many = name == "webhook_urls"
        group.addoption(
            flag_for(name),
            dest=ini_for(name),
            default=None,
            action="append" if many else "store",
            metavar="URL" if many else name.upper(),
            help=f"{SPECS[name].help} (default {default_text(name)}; over ini {ini_for(name)})",
        )
        about = f"cobalt-mock: {SPECS[name].help} (over env {ENV_PREFIX}{name.upper()})"
        if many:  # one URL a line, or a TOML list
            parser.addini(ini_for(name), about, type="linelist", default=[])
        else:
            parser.addini(ini_for(name), about, type="string", default="")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(**settings, scenarios=[...], hold=False): settings of the cobalt-mock fake for this"
        " test (e.g. delay=0, seed=7), scenarios to install, and whether new jobs wait to be released",
    )
    for where, name, value in configured(config):
        try:
            Settings().replace(**{name: value})
        except ConfigError as exc:
            raise pytest.UsageError(f"cobalt-mock: {where}: {exc}") from None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Fail the test if the fake raised while it ran; if the test failed anyway, show why."""
    __tracebackhide__ = True
    handle = item.stash.get(_HANDLE, None)
    try:
        result = yield
    except BaseException:
        if handle is not None:
            handle.report_errors(item)
        raise
    if handle is not None:
        handle.raise_errors("while the test ran")
    return result


def pytest_sessionfinish(session: pytest.Session) -> None:
    """A safety net: stop any fake a failed fixture teardown left running."""
    for server in list(session.config.stash.get(_SERVERS, None) or ()):
        server.stop()


# -- settings ----------------------------------------------------------------------------------


def configured(config: pytest.Config) -> list[tuple[str, str, object]]:
    """``(where, name, value)`` for each setting in the ini file, then on the command line."""
    found: list[tuple[str, str, object]] = []
    for name in NAMES:
        value = config.getini(ini_for(name))
        if value:
            found.append((f"ini option {ini_for(name)}", name, value))
    for name in NAMES:
        value = config.getoption(ini_for(name))
        if value is not None:
            found.append((f"option {flag_for(name)}", name, value))
    return found


def session_settings(config: pytest.Config) -> Settings:
    """Test defaults < ``COBALT_MOCK_*`` environment < ini options < command-line flags."""
    # The test defaults go in as environment values below the real ones, so from_env stays the one
    # reader of the environment and a COBALT_MOCK_DELAY still wins over delay=0.
    fallback = {ENV_PREFIX + name.upper(): value for name, value in TEST_DEFAULTS.items()}
    overrides = {name: value for _, name, value in configured(config)}
    try:
        return Settings.from_env(ChainMap(os.environ, fallback), **overrides)
    except ConfigError as exc:  # flags and ini options were checked at start-up: the error names the variable
        problem = str(exc)
    pytest.fail(f"cobalt-mock: {problem}", pytrace=False)


def session_only() -> frozenset[str]:
    """Settings a marker cannot change: they shaped the server's socket, client, routes or logging,
    or matter only when it stops. (Each test's fresh webhook registry takes the webhook ones.)"""
    from mock_server.model.state import FIXED_AT_START

    return (FIXED_AT_START - {"webhook_urls", "webhook_secret"}) | {"log_level", "shutdown_grace"}


# Marker arguments that are not settings: scenarios installed and job holding, per test.
MARKER_EXTRAS = ("scenarios", "hold")


def _marker_values(item: pytest.Item) -> dict[str, object]:
    """The test's ``@pytest.mark.cobalt_mock(...)`` arguments merged, the nearest marker winning."""
    values: dict[str, object] = {}
    for mark in reversed(list(item.iter_markers(MARKER))):
        if mark.args:
            pytest.fail(f"@pytest.mark.{MARKER} takes settings by name, e.g. delay=0", pytrace=False)
        values.update(mark.kwargs)
    return values


def marker_extras(item: pytest.Item) -> tuple[list[dict[str, Any]], bool]:
    """The marker's ``scenarios`` (a scenario dict or a list of them) and ``hold`` flag."""
    values = _marker_values(item)
    raw = values.get("scenarios", [])
    scenarios = [raw] if isinstance(raw, Mapping) else raw
    if not isinstance(scenarios, list | tuple) or not all(isinstance(s, Mapping) for s in scenarios):
        pytest.fail(
            f"@pytest.mark.{MARKER}: scenarios must be a scenario dict or a list of them", pytrace=False
        )
    hold = values.get("hold", False)
    if not isinstance(hold, bool):
        pytest.fail(f"@pytest.mark.{MARKER}: hold must be True or False", pytrace=False)
    return [dict(s) for s in scenarios], hold


def marker_settings(item: pytest.Item, base: Settings) -> Settings:
    """``base`` with the test's ``@pytest.mark.cobalt_mock(...)`` settings (the nearest one wins)."""
    values = {k: v for k, v in _marker_values(item).items() if k not in MARKER_EXTRAS}
    fixed = sorted(set(values) & session_only())
    if fixed:
        where = ", ".join(f"{flag_for(name)} / ini {ini_for(name)}" for name in fixed)
        pytest.fail(
            f"@pytest.mark.{MARKER}: {', '.join(fixed)} cannot change per test; "
            f"set it for the session ({where})",
            pytrace=False,
        )
    try:
        return base.replace(**values)
    except ConfigError as exc:
        problem = str(exc)
    pytest.fail(f"@pytest.mark.{MARKER}: {problem}", pytrace=False)


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def cobalt_mock_server(pytestconfig: pytest.Config) -> Iterator[CobaltMockServer]:
    """The session's fake and webhook receiver, started once (per xdist worker)."""
    started = time.perf_counter()
    server = CobaltMockServer(session_settings(pytestconfig))
    running = pytestconfig.stash.setdefault(_SERVERS, [])
    running.append(server)
    try:
        server.start()
        server.startup_seconds = time.perf_counter() - started
        yield server
    finally:
        running.remove(server)
        server.stop()


@pytest.fixture
def cobalt_mock(request: pytest.FixtureRequest, cobalt_mock_server: CobaltMockServer) -> Iterator[CobaltMock]:
    """A clean fake for this test: its settings, the receiver registered, errors re-raised."""
    handle = CobaltMock(cobalt_mock_server, marker_settings(request.node, cobalt_mock_server.settings))
    scenarios, hold = marker_extras(request.node)
    handle.begin()
    try:
        for scenario in scenarios:
            handle.add_scenario(scenario)
    except ConfigError as exc:
        handle.end()
        pytest.fail(f"@pytest.mark.{MARKER}: scenario {exc}", pytrace=False)
    if hold:
        handle.hold()
    request.node.stash[_HANDLE] = handle
    try:
        yield handle
    finally:
        del request.node.stash[_HANDLE]
        handle.end()
    handle.raise_errors("after the test (in a job still running at teardown?)")
