"""The pytest plugin, tested as users meet it: inner pytest runs with ``pytester``."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from mock_server.api.serving import bind_socket
from mock_server.settings import ENV_PREFIX, Settings
from mock_server.testing import plugin as pytest_plugin
from mock_server.testing.session import CobaltMockServer
from tests.conftest import RULE_READINGS

pytest_plugins = ["pytester"]

# The inner runs hold the plugin to the same bar as this project's own suite.
INNER_INI = """
[pytest]
addopts = --strict-markers --strict-config -p no:cacheprovider
filterwarnings = error
"""
COMMON = """
import httpx
import pytest
import requests

WEEK = {"start_date": "2025-01-06", "end_date": "2025-01-12"}
"""


@pytest.fixture(autouse=True)
def clean_inner_runs(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every inner run: strict settings, no COBALT_MOCK_* from outside, no thread left behind."""
    pytester.makeini(INNER_INI)
    for key in [k for k in os.environ if k.startswith(ENV_PREFIX)]:
        monkeypatch.delenv(key)
    before = set(threading.enumerate())
    yield
    left = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    assert left == [], f"threads left running: {left}"


def inner(pytester: pytest.Pytester, source: str, **files: str) -> None:
    pytester.makepyfile(textwrap.dedent(COMMON) + textwrap.dedent(source), **files)


# -- packaging ---------------------------------------------------------------------------------


def test_is_registered_as_a_pytest11_entry_point() -> None:
    points = importlib.metadata.entry_points(group="pytest11")
    assert [p.value for p in points if p.name == "cobalt_mock"] == ["mock_server.testing.plugin"]


def test_importing_the_plugin_loads_nothing_heavy() -> None:
    code = "import json, sys, mock_server.testing.plugin; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = {name.split(".")[0] for name in json.loads(out)}
    assert loaded.isdisjoint({"starlette", "uvicorn", "httpx", "faker", "orjson", "jsonschema", "asyncio"})
    assert {n for n in json.loads(out) if n.startswith("mock_server")} == {
        "mock_server",
        "mock_server.errors",
        "mock_server.testing",
        "mock_server.testing.handle",
        "mock_server.testing.session",
        "mock_server.settings",
        "mock_server.testing.plugin",
        "mock_server.version",
    }


# -- the fixtures ------------------------------------------------------------------------------


def test_fixtures_serve_requests_httpx_and_async_clients(pytester: pytest.Pytester) -> None:
    inner(
        pytester,
        """
        from mock_server.testing.receiver import WebhookTimeout

        @pytest.fixture
        def anyio_backend():
            return "asyncio"

        def test_urls_credentials_and_test_defaults(cobalt_mock, cobalt_mock_server):
            assert cobalt_mock.url == cobalt_mock_server.url
            assert cobalt_mock.url.startswith("http://127.0.0.1:")
            assert cobalt_mock.base_url == cobalt_mock.url + "/v1"
            assert cobalt_mock.headers == {
                "client_id": "ci_test", "client_secret": "cs_test", "access_token": "test-access-token"
            }
            assert cobalt_mock.webhook_secret == "whsec_cobalt_mock_0123456789abcdef"
            assert str(cobalt_mock.settings.delay) == "0"
            assert cobalt_mock.settings.port == 0
            assert cobalt_mock.webhook_urls == [cobalt_mock.receiver.url + "/"]
            assert cobalt_mock.state is cobalt_mock_server.state
            assert repr(cobalt_mock) == f"<CobaltMock {cobalt_mock.url} delay=0 seed=0>"
            assert 0 < cobalt_mock_server.startup_seconds < 10

        def test_requests_then_webhook(cobalt_mock):
            response = requests.post(
                cobalt_mock.base_url + "/appointments/fetch", headers=cobalt_mock.headers, json=WEEK
            )
            job_id = response.json()["job_id"]
            webhook = cobalt_mock.wait_for_webhook(job_id)
            assert webhook.signature_valid and webhook.reserialized_valid
            assert webhook.payload["job_id"] == job_id
            assert webhook.headers["webhook-attempt"] == "1"
            assert cobalt_mock.wait_for_job(job_id).status == "completed"
            assert cobalt_mock.job(job_id).event_id == webhook.payload["id"]
            [event] = cobalt_mock.events(job_id)
            assert event["delivery_status"] == "success"
            assert event["data"] == webhook.payload["data"]
            assert cobalt_mock.events() == [event]
            assert [job.job_id for job in cobalt_mock.jobs] == [job_id]
            assert cobalt_mock.deliveries == [webhook]

        def test_httpx_and_the_fetch_helper(cobalt_mock):
            with httpx.Client(base_url=cobalt_mock.base_url, headers=cobalt_mock.headers) as client:
                mrn = client.post("/appointments/fetch", json={"search_by": "mrn", "mrn": "12345"})
            one_day = cobalt_mock.fetch(start_date="2025-02-03", end_date="2025-02-03")
            a_week = cobalt_mock.fetch()
            assert cobalt_mock.wait_for_webhook(mrn.json()["job_id"]).payload["data"]["mrn"] == "12345"
            assert cobalt_mock.wait_for_webhook(one_day).payload["data"]["end_date"] == "2025-02-03"
            assert cobalt_mock.wait_for_webhook(a_week).payload["data"]["start_date"] == "2025-01-06"

        def test_the_fetch_helper_fails_with_the_answer(cobalt_mock):
            with pytest.raises(AssertionError, match="answered 400: .*cannot exceed 7 days"):
                cobalt_mock.fetch({"start_date": "2025-01-01"}, end_date="2025-01-09")

        def test_an_unknown_job(cobalt_mock):
            with pytest.raises(LookupError, match="no job 'job_nope'"):
                cobalt_mock.job("job_nope")

        @pytest.mark.anyio
        async def test_async_httpx(cobalt_mock):
            async with httpx.AsyncClient(base_url=cobalt_mock.base_url, headers=cobalt_mock.headers) as c:
                response = await c.post("/appointments/fetch", json=WEEK)
            webhook = await cobalt_mock.wait_for_webhook_async(response.json()["job_id"])
            assert webhook.signature_valid

        @pytest.mark.anyio
        async def test_async_timeout_explains(cobalt_mock):
            with pytest.raises(WebhookTimeout, match="it has no job 'job_nope'"):
                await cobalt_mock.wait_for_webhook_async("job_nope", timeout=0.05)
        """,
    )
    pytester.runpytest().assert_outcomes(passed=7)


def test_each_test_starts_from_a_clean_fake(pytester: pytest.Pytester) -> None:
    inner(
        pytester,
        """
        def test_dirty_everything(cobalt_mock):
            # A dead URL: its delivery is retried after 1 s, and teardown must not wait for that.
            cobalt_mock.register_webhook("http://127.0.0.1:9/dead")
            cobalt_mock.configure(seed=42)
            httpx.post(cobalt_mock.base_url + "/webhook/rotate-secret", headers=cobalt_mock.headers)
            cobalt_mock.hold()
            held = cobalt_mock.fetch()
            cobalt_mock.release()
            cobalt_mock.wait_for_webhook(held)
            assert cobalt_mock.webhook_secret != "whsec_cobalt_mock_0123456789abcdef"

        def test_clean(cobalt_mock):
            assert cobalt_mock.jobs == [] and cobalt_mock.events() == [] and cobalt_mock.deliveries == []
            assert cobalt_mock.webhook_urls == [cobalt_mock.receiver.url + "/"]
            assert cobalt_mock.settings.seed == 0
            assert cobalt_mock.webhook_secret == "whsec_cobalt_mock_0123456789abcdef"
            assert not cobalt_mock.state.holding("test-access-token")

        def test_unregister_by_id(cobalt_mock):
            hook_id = cobalt_mock.register_webhook("http://127.0.0.1:9/other")
            assert cobalt_mock.unregister_webhook(hook_id)
            assert not cobalt_mock.unregister_webhook(hook_id)
            assert cobalt_mock.webhook_urls == [cobalt_mock.receiver.url + "/"]
        """,
    )
    result = pytester.runpytest("--durations=0", "--durations-min=0")
    result.assert_outcomes(passed=3)
    teardown = [line for line in result.outlines if "teardown" in line and "test_dirty_everything" in line]
    assert teardown, result.outlines
    assert float(teardown[0].split("s")[0]) < 0.5, teardown


def test_a_test_can_point_the_fake_at_its_own_endpoint(pytester: pytest.Pytester) -> None:
    inner(
        pytester,
        """
        from mock_server.testing.receiver import WebhookReceiver

        def test_own_endpoint(cobalt_mock):
            with WebhookReceiver(secret=cobalt_mock.webhook_secret) as ours:
                cobalt_mock.register_webhook(ours.url + "/hooks")
                job_id = cobalt_mock.fetch()
                job = cobalt_mock.wait_for_job(job_id)
                assert ours.wait_for_webhook(job_id).signature_valid
            assert sorted(a.url for a in job.attempts) == sorted(cobalt_mock.webhook_urls)
            assert {e["webhook_url"] for e in cobalt_mock.events(job_id)} == set(cobalt_mock.webhook_urls)
        """,
    )
    pytester.runpytest().assert_outcomes(passed=1)


# -- the marker --------------------------------------------------------------------------------


def test_the_marker_sets_settings_per_test(pytester: pytest.Pytester) -> None:
    inner(
        pytester,
        """
        from mock_server.delivery.webhook import verify

        pytestmark = pytest.mark.cobalt_mock(seed=7, delay=0.5)
        seen = {}

        def appointments(cobalt_mock):
            return cobalt_mock.wait_for_webhook(cobalt_mock.fetch()).payload["data"]["appointments"]

        def test_module_marker(cobalt_mock):
            assert cobalt_mock.settings.seed == 7
            assert str(cobalt_mock.settings.delay) == "0.5"
            assert cobalt_mock.jobs == []
            seen["seed 7"] = appointments(cobalt_mock)

        @pytest.mark.cobalt_mock(delay=0, webhook_secret="whsec_per_test")
        def test_nearest_marker_wins(cobalt_mock):
            assert cobalt_mock.settings.seed == 7 and str(cobalt_mock.settings.delay) == "0"
            assert cobalt_mock.webhook_secret == "whsec_per_test"
            webhook = cobalt_mock.wait_for_webhook(cobalt_mock.fetch())
            assert webhook.signature_valid
            assert verify("whsec_per_test", webhook.body, webhook.headers["cobalt-verification"])
            assert appointments(cobalt_mock) == seen["seed 7"]

        @pytest.mark.cobalt_mock(seed=8, delay="0", webhook_urls=["http://127.0.0.1:9/x"])
        def test_another_seed(cobalt_mock):
            assert appointments(cobalt_mock) != seen["seed 7"]
            assert cobalt_mock.webhook_urls == ["http://127.0.0.1:9/x", cobalt_mock.receiver.url + "/"]
        """,
    )
    pytester.runpytest().assert_outcomes(passed=3)


def test_marker_scenario_mistakes_fail_clearly(pytester: pytest.Pytester) -> None:
    inner(
        pytester,
        """
        @pytest.mark.cobalt_mock(scenarios=[{"behaviour": "explode"}])
        def test_unknown_behaviour(cobalt_mock): pass

        @pytest.mark.cobalt_mock(scenarios="empty")
        def test_not_a_dict(cobalt_mock): pass

        @pytest.mark.cobalt_mock(hold="yes")
        def test_bad_hold(cobalt_mock): pass

        def test_a_clean_fake_after_them(cobalt_mock):
            assert len(cobalt_mock.state.scenarios()) == 0
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=3, passed=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_unknown_behaviour*",
            "@pytest.mark.cobalt_mock: scenario *explode*",
            "*ERROR at setup of test_not_a_dict*",
            "@pytest.mark.cobalt_mock: scenarios must be a scenario dict or a list of them",
            "*ERROR at setup of test_bad_hold*",
            "@pytest.mark.cobalt_mock: hold must be True or False",
        ]
    )


def test_marker_mistakes_fail_clearly(pytester: pytest.Pytester) -> None:
    inner(
        pytester,
        """
        @pytest.mark.cobalt_mock(0)
        def test_positional(cobalt_mock): pass

        @pytest.mark.cobalt_mock(dealy=0)
        def test_unknown(cobalt_mock): pass

        @pytest.mark.cobalt_mock(delay="soon")
        def test_bad_value(cobalt_mock): pass

        @pytest.mark.cobalt_mock(port=1234)
        def test_session_only(cobalt_mock): pass
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=4)
    assert "During handling" not in result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_positional*",
            "@pytest.mark.cobalt_mock takes settings by name, e.g. delay=0",
            "*ERROR at setup of test_unknown*",
            "@pytest.mark.cobalt_mock: unknown setting(s): dealy",
            "*ERROR at setup of test_bad_value*",
            "@pytest.mark.cobalt_mock: delay: delay must be seconds*",
            "*ERROR at setup of test_session_only*",
            "@pytest.mark.cobalt_mock: port cannot change per test; set it for the session"
            " (--cobalt-mock-port / ini cobalt_mock_port)",
        ]
    )


def test_the_marker_is_registered_for_strict_markers(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(
        ["@pytest.mark.cobalt_mock(**settings, scenarios=*, hold=False): settings of the cobalt-mock fake*"]
    )


# -- ini options and flags ---------------------------------------------------------------------

SHOW_SETTINGS = """
def test_show(cobalt_mock):
    s = cobalt_mock.settings
    print(f"SEED={s.seed} DELAY={s.delay} URLS={','.join(s.webhook_urls)}")

@pytest.mark.cobalt_mock(seed=11)
def test_marker_over_all(cobalt_mock):
    assert cobalt_mock.settings.seed == 11
"""


def test_settings_precedence(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    inner(pytester, SHOW_SETTINGS)
    pytester.runpytest("-s").stdout.fnmatch_lines(["*SEED=0 DELAY=0 URLS=*"])  # the test defaults

    monkeypatch.setenv("COBALT_MOCK_SEED", "3")
    monkeypatch.setenv("COBALT_MOCK_DELAY", "0.25")  # the environment beats the test default
    pytester.runpytest("-s").stdout.fnmatch_lines(["*SEED=3 DELAY=0.25 URLS=*"])

    pytester.makeini(
        INNER_INI + "cobalt_mock_seed = 5\ncobalt_mock_webhook_urls =\n  http://h/a\n  http://h/b\n"
    )
    result = pytester.runpytest("-s")
    result.stdout.fnmatch_lines(["*SEED=5 DELAY=0.25 URLS=http://h/a,http://h/b*"])
    result.assert_outcomes(passed=2)

    result = pytester.runpytest(
        "-s", "--cobalt-mock-seed=9", "--cobalt-mock-delay", "0", "--cobalt-mock-webhook-url=http://h/c"
    )
    result.stdout.fnmatch_lines(["*SEED=9 DELAY=0 URLS=http://h/c*"])
    result.assert_outcomes(passed=2)


SHOW_WEBHOOK_API = """
def test_show(cobalt_mock):
    print(f"API={cobalt_mock.settings.webhook_api}")

@pytest.mark.cobalt_mock(webhook_api="reference")
def test_marker(cobalt_mock):
    assert cobalt_mock.settings.webhook_api == "reference"
    created = httpx.post(
        cobalt_mock.base_url + "/webhook", headers=cobalt_mock.headers, json={"url": "http://127.0.0.1:9/x"}
    )
    assert created.json()["webhook"]["webhook_id"].startswith("wh_")
"""


def test_webhook_api_in_every_form(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """A new setting is the plugin's without a line of its own: environment, ini, flag, marker."""
    inner(pytester, SHOW_WEBHOOK_API)
    result = pytester.runpytest("-s")
    result.stdout.fnmatch_lines(["*API=guide*"])
    result.assert_outcomes(passed=2)
    monkeypatch.setenv("COBALT_MOCK_WEBHOOK_API", "reference")
    pytester.runpytest("-s").stdout.fnmatch_lines(["*API=reference*"])
    monkeypatch.delenv("COBALT_MOCK_WEBHOOK_API")
    pytester.makeini(INNER_INI + "cobalt_mock_webhook_api = reference\n")
    pytester.runpytest("-s").stdout.fnmatch_lines(["*API=reference*"])
    result = pytester.runpytest("-s", "--cobalt-mock-webhook-api=guide")
    result.stdout.fnmatch_lines(["*API=guide*"])
    result.assert_outcomes(passed=2)
    result = pytester.runpytest("--cobalt-mock-webhook-api=v2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*option --cobalt-mock-webhook-api: webhook_api: expected one of guide, reference; got 'v2'*"]
    )


def test_flags_and_ini_options_are_made_from_the_settings(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    for name in ("delay", "seed", "webhook_secret", "webhook_api", "max_body_bytes"):
        result.stdout.fnmatch_lines([f"*--cobalt-mock-{name.replace('_', '-')}=*", f"*cobalt_mock_{name} *"])
    result.stdout.fnmatch_lines(["*--cobalt-mock-webhook-url=URL*"])


@pytest.mark.parametrize("form", ["marker", "ini", "flag"])
def test_the_rule_readings_are_markers_ini_options_and_flags(pytester: pytest.Pytester, form: str) -> None:
    lax = {name: value for name, (value, _, _) in RULE_READINGS.items()}
    bodies = {name: body for name, (_, body, _) in RULE_READINGS.items()}
    marker = f"@pytest.mark.cobalt_mock(**{lax!r})" if form == "marker" else ""
    inner(
        pytester,
        f"""
        BODIES = {bodies!r}

        {marker}
        def test_every_rule_read_the_lax_way(cobalt_mock):
            for name, body in BODIES.items():
                url = cobalt_mock.base_url + "/appointments/fetch"
                answer = httpx.post(url, json=body, headers=cobalt_mock.headers)
                assert answer.status_code == 202, (name, answer.text)
        """,
    )
    if form == "ini":
        pytester.makeini(
            INNER_INI + "".join(f"cobalt_mock_{name} = {value}\n" for name, value in lax.items())
        )
    flags = [f"--cobalt-mock-{name.replace('_', '-')}={value}" for name, value in lax.items()]
    pytester.runpytest(*(flags if form == "flag" else [])).assert_outcomes(passed=1)


def test_a_bad_flag_or_ini_option_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--cobalt-mock-delay=soon")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*cobalt-mock: option --cobalt-mock-delay: delay: delay must be*"])

    pytester.makeini(INNER_INI + "cobalt_mock_seed = many\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*cobalt-mock: ini option cobalt_mock_seed: seed: expected a number*"])


def test_an_out_of_range_port_or_unknown_log_level_is_a_usage_error(pytester: pytest.Pytester) -> None:
    inner(pytester, "def test_uses_it(cobalt_mock): pass\n")
    pytester.makeini(INNER_INI + "cobalt_mock_port = 70000\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*cobalt-mock: ini option cobalt_mock_port: port: expected a number from 0 to 65535, got '70000'*"]
    )
    pytester.makeini(INNER_INI)
    result = pytester.runpytest("--cobalt-mock-log-level=loud")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*cobalt-mock: option --cobalt-mock-log-level: log_level: expected one of*"])


def test_an_out_of_range_port_in_the_environment_fails_the_fixture(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COBALT_MOCK_PORT", "70000")
    inner(pytester, "def test_uses_it(cobalt_mock): pass\n")
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*cobalt-mock: COBALT_MOCK_PORT=70000: expected a number from 0 to 65535*"])


def test_a_bad_environment_fails_only_the_tests_that_use_the_fake(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COBALT_MOCK_SEED", "many")
    inner(pytester, "def test_uses_it(cobalt_mock): pass\n\ndef test_does_not(): pass\n")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*cobalt-mock: COBALT_MOCK_SEED=many: expected a number*"])


def test_a_busy_port_fails_the_fixture(pytester: pytest.Pytester) -> None:
    inner(pytester, "def test_uses_it(cobalt_mock): pass\n")
    with bind_socket() as busy:
        result = pytester.runpytest(f"--cobalt-mock-port={busy.getsockname()[1]}")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*Address already in use*"])


# -- failure messages --------------------------------------------------------------------------


def test_waiting_fails_with_what_arrived_and_what_the_fake_knows(pytester: pytest.Pytester) -> None:
    inner(
        pytester,
        """
        @pytest.mark.cobalt_mock(delay=30)
        def test_scheduled(cobalt_mock):
            cobalt_mock.wait_for_webhook(cobalt_mock.fetch(), timeout=0.05)

        def test_other_job(cobalt_mock):
            cobalt_mock.wait_for_webhook(cobalt_mock.fetch())
            cobalt_mock.wait_for_webhook("job_nope", timeout=0.05)

        def test_held(cobalt_mock):
            cobalt_mock.state.hold()
            cobalt_mock.wait_for_webhook(cobalt_mock.fetch(), timeout=0.05)

        def test_stalled(cobalt_mock):
            job_id = cobalt_mock.fetch(headers={"X-Cobalt-Mock-Scenario": "never_complete"})
            cobalt_mock.wait_for_webhook(job_id, timeout=0.05)

        def test_receiver_unregistered(cobalt_mock):
            assert cobalt_mock.unregister_webhook(cobalt_mock.receiver.url + "/")
            job_id = cobalt_mock.fetch()
            cobalt_mock.wait_for_job(job_id)
            cobalt_mock.wait_for_webhook(job_id, timeout=0.05)

        @pytest.mark.cobalt_mock(delay=30)
        def test_wait_for_job(cobalt_mock):
            cobalt_mock.wait_for_job(cobalt_mock.fetch(), timeout=0.05)

        def test_bad_signature(cobalt_mock):
            job_id = cobalt_mock.fetch(headers={"X-Cobalt-Mock-Scenario": "bad_signature"})
            cobalt_mock.wait_for_webhook(job_id)
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=7)
    result.stdout.fnmatch_lines(
        [
            "*_ test_scheduled _*",
            "E*WebhookTimeout: Timed out after 0.05s waiting for a webhook for job_id 'job_*",
            "E*No deliveries arrived*",
            "E*The fake's side:",
            "E*job job_* is scheduled, due in *s (delay 30s; @pytest.mark.cobalt_mock(delay=0) makes it 0).",
            "E*webhooks registered: http://127.0.0.1:*/.",
            "*_ test_other_job _*",
            "E*1 delivery arrived, none matched:",
            "E*1. +*s POST / job_id='job_*' id='evt_*' attempt=1; answered 200; signature valid",
            "E*it has no job 'job_nope' (jobs in this test: job_*).",
            "*_ test_held _*",
            "E*job job_* is held, held: its access token is on hold until released.",
            "*_ test_stalled _*",
            "E*is stalled, stalled by the never_complete behaviour.",
            "*_ test_receiver_unregistered _*",
            "E*is completed, but no webhook URL was registered when it completed.",
            "E*webhooks registered: none.",
            "*_ test_wait_for_job _*",
            "E*TimeoutError: job job_* did not complete within 0.05s (status: scheduled)",
            "E*The fake's side:",
            "*_ test_bad_signature _*",
            "E*AssertionError: The webhook for job 'job_*' arrived, but its signature does not match"
            " the webhook secret: POST / *; signature INVALID.",
            "E*If the test asked for a bad signature (the bad_signature behaviour, or old_secret with the"
            " guide's webhook API, whose old secret stops verifying at a rotation), call"
            " wait_for_webhook(..., verify=False).",
        ]
    )


def test_signatures_are_checked_against_the_current_secrets(pytester: pytest.Pytester) -> None:
    inner(
        pytester,
        """
        def rotate(cobalt_mock):
            url = cobalt_mock.base_url + "/webhook/rotate-secret"
            return httpx.post(url, headers=cobalt_mock.headers).json()["webhook_secret_key"]

        def test_bad_signature_on_purpose(cobalt_mock):
            job_id = cobalt_mock.fetch(headers={"X-Cobalt-Mock-Scenario": "bad_signature"})
            assert cobalt_mock.wait_for_webhook(job_id, verify=False).signature_valid is False

        def test_after_a_rotation(cobalt_mock):
            new = rotate(cobalt_mock)
            assert cobalt_mock.webhook_secret == new
            webhook = cobalt_mock.wait_for_webhook(cobalt_mock.fetch())
            assert webhook.signature_valid and webhook.reserialized_valid

        def test_signed_with_the_previous_secret(cobalt_mock):
            rotate(cobalt_mock)
            rotate(cobalt_mock)
            job_id = cobalt_mock.fetch(headers={"X-Cobalt-Mock-Scenario": "old_secret"})
            assert cobalt_mock.receiver.wait_for_webhook(job_id).signature_valid is False
            # The guide keeps no overlap: the secret a rotation replaced no longer verifies.
            with pytest.raises(AssertionError, match="old_secret with the guide's webhook API"):
                cobalt_mock.wait_for_webhook(job_id)
            assert cobalt_mock.wait_for_webhook(job_id, verify=False).signature_valid is False

        @pytest.mark.cobalt_mock(webhook_api="reference")
        def test_signed_with_the_previous_secret_in_its_overlap(cobalt_mock):
            cobalt_mock.rotate_secret()
            cobalt_mock.rotate_secret()
            job_id = cobalt_mock.fetch(headers={"X-Cobalt-Mock-Scenario": "old_secret"})
            assert cobalt_mock.receiver.wait_for_webhook(job_id).signature_valid is False
            assert cobalt_mock.wait_for_webhook(job_id).signature_valid
        """,
    )
    pytester.runpytest().assert_outcomes(passed=4)


def test_errors_inside_the_server_fail_the_test_that_caused_them(pytester: pytest.Pytester) -> None:
    inner(
        pytester,
        """
        import mock_server.data.generator
        from helpers import boom

        def post(cobalt_mock):
            url = cobalt_mock.base_url + "/appointments/fetch"
            return httpx.post(url, headers=cobalt_mock.headers, json=WEEK)

        def test_handler_error(cobalt_mock, monkeypatch):
            monkeypatch.setattr(cobalt_mock.state, "accept", boom)
            assert post(cobalt_mock).status_code == 500

        def test_route_error(cobalt_mock, monkeypatch):
            # Starlette's routes: the error is logged after the 500 is sent, while the test goes on.
            monkeypatch.setattr(cobalt_mock.state, "events", boom)
            url = cobalt_mock.base_url + "/webhook-events"
            assert httpx.get(url, headers=cobalt_mock.headers).status_code == 500

        def test_job_error(cobalt_mock, monkeypatch):
            monkeypatch.setattr(mock_server.data.roster, "clinic_for", boom)
            webhook = cobalt_mock.wait_for_webhook(cobalt_mock.fetch())
            assert webhook.payload["data"]["success"] is False

        def test_failing_anyway(cobalt_mock, monkeypatch):
            monkeypatch.setattr(cobalt_mock.state, "accept", boom)
            job_id = post(cobalt_mock).json().get("job_id", "none")
            cobalt_mock.wait_for_webhook(job_id, timeout=0.05)

        def test_failing_without_the_fake():
            assert False

        def test_two_errors(cobalt_mock, monkeypatch):
            monkeypatch.setattr(cobalt_mock.state, "accept", boom)
            post(cobalt_mock)
            post(cobalt_mock)
            assert len(cobalt_mock.errors) == 2

        @pytest.fixture
        def late(cobalt_mock):
            yield
            cobalt_mock.state.errors.append(RuntimeError("raised after the test"))

        def test_error_after_the_test(late):
            pass

        def test_the_next_test_is_clean(cobalt_mock):
            assert cobalt_mock.errors == []
        """,
        # Outside the test file, as a bug in the fake would be: pytest shows all its frames.
        helpers="def boom(*args, **kwargs):\n    raise RuntimeError('kaboom inside the fake')\n",
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=6, passed=2, errors=1)
    expected = {
        "test_handler_error": [
            "*mock_server/api/fetch.py:* in __call__",
            "helpers.py:2: RuntimeError",
            "*The above exception was the direct cause of the following exception:*",
            "E*ServerError: cobalt-mock: the fake server raised RuntimeError while the test ran;"
            " its traceback is above",
        ],
        "test_route_error": [
            "*mock_server/api/handlers.py:* in list_webhook_events",
            "helpers.py:2: RuntimeError",
            "E*ServerError: cobalt-mock: the fake server raised RuntimeError while the test ran*",
        ],
        "test_job_error": [
            "*mock_server/delivery/webhook.py:*",
            "E*RuntimeError: kaboom inside the fake",
            "E*ServerError: cobalt-mock: the fake server raised RuntimeError while the test ran*",
        ],
        "test_failing_anyway": [
            "E*WebhookTimeout: Timed out after 0.05s waiting for a webhook for job_id 'none'*",
            "E*it raised 1 exception(s) in this test (reported with it):",
            "E*RuntimeError: kaboom inside the fake",
            "*- Captured cobalt-mock server errors call -*",
            "*mock_server/api/fetch.py*in __call__",
            "RuntimeError: kaboom inside the fake",
        ],
        "test_two_errors": [
            "*ExceptionGroup: exceptions inside the cobalt-mock server (2 sub-exceptions)",
            "E*ServerError: cobalt-mock: the fake server raised 2 exceptions while the test ran; see above",
        ],
        "ERROR at teardown of test_error_after_the_test": [
            "RuntimeError: raised after the test",
            "E*ServerError: cobalt-mock: the fake server raised RuntimeError after the test*",
        ],
    }
    for title, lines in expected.items():
        result.stdout.fnmatch_lines([f"*_ {title} _*", *lines])


def test_a_server_that_died_is_reported(pytester: pytest.Pytester) -> None:
    inner(
        pytester,
        """
        def test_stops_the_server(cobalt_mock, cobalt_mock_server):
            cobalt_mock_server.thread.stop()

        def test_next(cobalt_mock):
            pass
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_stops_the_server*",
            "E*CobaltMockError: the cobalt-mock server is not running",
            "*ERROR at setup of test_next*",
            "*cobalt-mock: the fake server is not running (None)",
        ]
    )


# -- sessions ----------------------------------------------------------------------------------


def test_each_xdist_worker_gets_its_own_server(pytester: pytest.Pytester) -> None:
    inner(
        pytester,
        """
        import os, pathlib

        @pytest.mark.parametrize("n", range(3))
        def test_fetch(cobalt_mock, n):
            job_id = cobalt_mock.fetch()
            assert cobalt_mock.wait_for_webhook(job_id).payload["job_id"] == job_id
            assert [j.job_id for j in cobalt_mock.jobs] == [job_id]
            out = pathlib.Path(__file__).parent / f"{os.environ['PYTEST_XDIST_WORKER']}-{n}.url"
            out.write_text(cobalt_mock.url)
        """,
    )
    # Only the plugins this needs: the others' imports would triple the start-up of 3 processes.
    env = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        result = pytester.runpytest_subprocess(
            "-p", "xdist.plugin", "-p", "mock_server.testing.plugin", "-n", "2", "--dist=each"
        )
    result.assert_outcomes(passed=6)
    urls = {path.stem.split("-")[0]: path.read_text() for path in pytester.path.glob("*.url")}
    assert sorted(urls) == ["gw0", "gw1"]
    assert len(set(urls.values())) == 2  # a server, and a port, per worker


def test_the_session_finish_hook_stops_a_server_left_running(pytester: pytest.Pytester) -> None:
    server = CobaltMockServer(Settings().replace(port=0, delay=0, log_level="warning"))
    server.start()
    config = pytester.parseconfig()
    config.stash[pytest_plugin._SERVERS] = [server]
    thread = server.thread
    assert thread is not None
    assert thread.running
    pytest_plugin.pytest_sessionfinish(SimpleNamespace(config=config))  # type: ignore[arg-type]
    assert [thread.running, server.thread, server.receiver] == [False, None, None]
    server.stop()  # and stopping again is harmless
