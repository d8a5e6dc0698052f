"""The live mode, tried as a user would: pointed at local servers that break one rule at a time.

Each server is the fake behind ``mutants.Rewriting``, broken by one of ``mutants.LIVE_BREAKS``: what
a polling client of a real API can see, the HTTP answers and the ``webhook-events`` rows. The live
run (``properties.run_live``, what ``pytest --cobalt-base-url`` runs) must fail on it, on every seed
tried, with the broken rule contradicted in its report; against the unbroken server it must pass. A
few breaks run here; all of them, on more seeds, with ``--cobalt-slow`` (``make contract-slow``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from contract_tests import mutants, properties
from contract_tests.conformance import RULES, Report
from contract_tests.plan import DEFAULT_START, Declared, Plan, PlanError, PlanOptions
from contract_tests.target import NotCompleted, PollingTarget, Webhook, is_loopback, retry_after
from mock_server.testing.server import ServerThread

pytestmark = pytest.mark.fake_only

REPO = Path(__file__).resolve().parent.parent
# Identifiers the fake has data for, as a user's would be: any MRN, any provider, weekdays (its
# weekends are mostly empty, so a window over one could draw an empty day).
IDENTIFIERS: dict[str, Any] = {
    "mrns": "00123,12345,778899",
    "provider_ids": "prov_2043,prov_2978,prov_7292,prov_9516",
    "windows": "2025-01-06..2025-01-10,2025-02-03..2025-02-07,2025-02-10..2025-02-14",
    "pace": 0,
    "budget": 33,  # the 30 boundaries and one draw of each kind
}
QUICK_SEEDS = [0, 1]
ALL_SEEDS = [0, 1, 2, 3, 4]
QUICK_BREAKS = ["every-job-fails", "eight-days-accepted", "polled-outside-range"]


def options(**values: Any) -> PlanOptions:
    return PlanOptions.load({**IDENTIFIERS, **values}, {})


@pytest.fixture(scope="module")
def server() -> Iterator[mutants.Switchable]:
    fake = mutants.Switchable()
    yield fake
    fake.close()


def live_run(
    server: mutants.Switchable, plan: Plan, *, timeout: float = 0.5
) -> tuple[Report, dict[str, str]]:
    """One live run of ``plan`` against ``server`` as it is now, through the polling target."""
    base = server.target
    with PollingTarget(base.base_url, base.headers, webhook_timeout=timeout, pace=0, poll_interval=0.01) as t:
        return properties.run_live(t, plan)


def contradicted(report: Report) -> list[str]:
    return [f.rule.id for f in report.findings if f.verdict == "contradicted"]


# --- sharp: every break fails the live run ------------------------------------------------------------


@pytest.mark.parametrize(
    "seed",
    [*QUICK_SEEDS, *(pytest.param(s, marks=pytest.mark.slow) for s in ALL_SEEDS if s not in QUICK_SEEDS)],
)
def test_the_unbroken_server_passes(server: mutants.Switchable, seed: int) -> None:
    server.become(None)
    report, failures = live_run(server, Plan.build(options(seed=seed)))
    assert failures == {}
    assert contradicted(report) == []


def _caught(server: mutants.Switchable, name: str, seed: int) -> None:
    mutant, rule = mutants.LIVE_BREAKS[name]
    server.become(mutant)
    try:
        report, failures = live_run(server, Plan.build(options(seed=seed)))
    finally:
        server.become(None)
    assert failures, f"the live run passed against {name}"
    assert rule in contradicted(report), f"{name}: {rule} not contradicted, only {contradicted(report)}"


@pytest.mark.parametrize("seed", QUICK_SEEDS)
@pytest.mark.parametrize("name", QUICK_BREAKS)
def test_the_live_run_fails_on_a_break(server: mutants.Switchable, name: str, seed: int) -> None:
    _caught(server, name, seed)


@pytest.mark.slow
@pytest.mark.parametrize("seed", ALL_SEEDS)
@pytest.mark.parametrize("name", sorted(mutants.LIVE_BREAKS))
def test_the_live_run_fails_on_every_break(server: mutants.Switchable, name: str, seed: int) -> None:
    _caught(server, name, seed)


def test_the_quick_breaks_are_live_breaks() -> None:
    assert set(QUICK_BREAKS) <= set(mutants.LIVE_BREAKS)
    assert {rule for _, rule in mutants.LIVE_BREAKS.values()} <= {r.id for r in RULES}


def test_a_contradicted_decision_names_its_setting(server: mutants.Switchable) -> None:
    server.become(mutants.LIVE_BREAKS["eight-days-accepted"][0])
    try:
        report, failures = live_run(server, Plan.build(options()))
    finally:
        server.become(None)
    finding = report.of("range-8-days-refused")
    assert finding.decision_wrong
    assert "max_range_days = 8" in finding.to_json()["fix"]
    assert finding.to_json()["meaning"] == "our decision is wrong"
    assert "our decision is wrong (range-8-days-refused)" in failures["decided-errors"]
    (first,) = finding.contradictions
    assert first.request["body"] == {"start_date": "2025-01-06", "end_date": "2025-01-13"}
    assert first.answer["status"] == 202


# --- failures are failures ------------------------------------------------------------------------------


def test_a_failed_job_fails_unless_declared(server: mutants.Switchable) -> None:
    server.become(None)
    failing = {"search_by": "mrn", "mrn": "mock-ehr-failure"}  # the fake's magic MRN for a failed job
    report, failures = live_run(server, Plan.build(options(requests=[{"body": failing}])))
    assert "a valid fetch must complete with data.success true" in failures["completion-mrn"]
    assert report.of("job-succeeds").verdict == "contradicted"

    declared = [{"body": failing, "expect_failure": True}]
    report, failures = live_run(server, Plan.build(options(requests=declared)))
    assert failures == {}
    assert report.of("failure-shape").verdict == "confirmed"
    assert report.of("job-succeeds").verdict == "confirmed"


def _emptied(data: dict[str, Any]) -> None:
    data.update(appointments=[], appointment_count=0)


def test_an_empty_result_is_not_a_pass(server: mutants.Switchable) -> None:
    server.become(mutants.Mutant("empty", "no appointments", rewrite=mutants.polled(_emptied)))
    try:
        report, failures = live_run(server, Plan.build(options()))
    finally:
        server.become(None)
    assert failures == {}
    for rule in ("count-matches", "inside-range", "datetime-offsets", "only-requested-providers"):
        finding = report.of(rule)
        assert finding.verdict == "not exercised", rule
        assert any("empty result" in why for why in finding.why_not), finding.why_not
    assert report.of("dates-echoed").verdict == "confirmed"  # what an empty result can still show


# --- the report ------------------------------------------------------------------------------------------


def test_every_rule_gets_a_verdict_and_gaps_say_why(server: mutants.Switchable, tmp_path: Path) -> None:
    server.become(None)
    plan = Plan.build(PlanOptions(pace=0))  # no identifiers at all: only the boundaries
    report, failures = live_run(server, plan)
    assert failures == {}
    verdicts = report.verdicts()
    assert list(verdicts) == [rule.id for rule in RULES]
    assert verdicts["mrn-echoed"] == "not exercised"
    assert any("no MRN supplied" in why for why in report.of("mrn-echoed").why_not)
    assert verdicts["only-requested-providers"] == "not exercised"
    assert verdicts["signature-raw-body"] == "not exercised"
    assert verdicts["dates-echoed"] == "confirmed"
    as_json, as_md = report.write(tmp_path)
    written = json.loads(as_json.read_text(encoding="utf-8"))
    assert [r["rule"] for r in written["rules"]] == list(verdicts)
    assert written["counts"]["not exercised"] == sum(v == "not exercised" for v in verdicts.values())
    markdown = as_md.read_text(encoding="utf-8")
    assert all(f"`{rule.id}`" in markdown for rule in RULES)
    assert "| not exercised | no MRN supplied" in markdown


def test_every_decision_says_how_to_settle_it() -> None:
    for rule in RULES:
        assert rule.kind in ("doc", "decision")
        if rule.kind == "decision":
            assert rule.fix, rule.id


# --- deterministic -------------------------------------------------------------------------------------


def _recorded(server: mutants.Switchable, plan: Plan) -> list[tuple[str, str, str, list[str]]]:
    """The requests one live run sends (polls apart: their job ids are the server's)."""
    seen: list[tuple[str, str, str, list[str]]] = []

    def log(x: mutants.Exchange) -> None:
        if not x.path.endswith("/webhook-events"):
            auth = sorted(
                k for k, v in x.request_headers if k in ("client_id", "client_secret", "access_token") and v
            )
            seen.append((x.method, x.path, x.request_body.decode("utf-8", "replace"), auth))

    server.become(mutants.Mutant("recording", "nothing", rewrite=log))
    try:
        live_run(server, plan)
    finally:
        server.become(None)
    return seen


def test_the_same_seed_sends_the_same_requests(server: mutants.Switchable) -> None:
    first = _recorded(server, Plan.build(options(seed=7)))
    second = _recorded(server, Plan.build(options(seed=7)))
    assert first == second
    assert len(first) == IDENTIFIERS["budget"]
    planned = Plan.build(options(seed=7)).steps
    assert [(m, p, body) for m, p, body, _ in first] == [
        (s.method, "/v1/" + s.path, (s.content() or b"").decode()) for s in planned
    ]  # what was sent is the plan, in order
    other = Plan.build(options(seed=8)).steps
    assert [s.body for s in other] != [s.body for s in Plan.build(options(seed=7)).steps]  # the seed chooses
    assert other[:30] == Plan.build(options(seed=7)).steps[:30]  # the boundaries do not depend on it


def test_the_plan_sends_the_boundaries() -> None:
    plan = Plan.build(PlanOptions())
    assert len(plan.steps) <= PlanOptions().budget
    bodies = {step.id: step.body for step in plan.steps}
    start = DEFAULT_START
    assert bodies["week"] == {"start_date": "2025-01-06", "end_date": "2025-01-12"}
    assert bodies["range-8-days"] == {"start_date": "2025-01-06", "end_date": "2025-01-13"}
    assert bodies["same-day"] == {"start_date": start.isoformat(), "end_date": start.isoformat()}
    assert bodies["end-before-start"]["end_date"] < bodies["end-before-start"]["start_date"]
    assert bodies["impossible-date"]["start_date"] == "2025-02-29"
    counts = {
        step.id: len(step.body.get("provider_ids", [])) for step in plan.steps if isinstance(step.body, dict)
    }
    assert (counts["one-provider"], counts["ten-providers"], counts["eleven-providers"]) == (1, 10, 11)
    assert {"no-access-token", "no-auth-headers", "empty-client-id"} <= set(bodies)
    assert {"mrn-missing", "provider-ids-missing", "no-dates", "provider-no-dates"} <= set(bodies)
    assert [s.id for s in plan.steps if s.id.startswith("drawn")] == []  # nothing to spend on


def test_drawn_requests_stay_inside_the_windows_and_the_rules() -> None:
    for seed in range(20):
        plan = Plan.build(options(seed=seed, budget=60))
        drawn = [s for s in plan.steps if s.id.startswith("drawn")]
        assert len(plan.steps) == 60
        assert {s.mode for s in drawn} == {"date_range", "mrn", "provider"}
        for step in drawn:
            body = step.body
            if step.mode == "mrn":
                assert body["mrn"] in IDENTIFIERS["mrns"].split(",")
                continue
            start, end = dt.date.fromisoformat(body["start_date"]), dt.date.fromisoformat(body["end_date"])
            assert any(a <= start <= end <= b for a, b in plan.options.windows), body
            ids = body.get("provider_ids", [])
            assert set(ids) <= set(IDENTIFIERS["provider_ids"].split(","))
            limit = 7 if step.mode == "date_range" else 5 if len(ids) == 1 else 1
            assert (end - start).days + 1 <= limit, body


def test_plan_options_come_from_file_then_environment_then_flags(tmp_path: Path) -> None:
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(
        json.dumps({"seed": 1, "budget": 50, "mrns": ["1", "2"], "windows": ["2025-03-03..2025-03-07"]})
    )
    env = {
        "COBALT_CONTRACT_PLAN": str(plan_file),
        "COBALT_CONTRACT_BUDGET": "60",
        "COBALT_CONTRACT_SEED": "2",
    }
    loaded = PlanOptions.load({"seed": 3, "pace": None}, env)
    assert (loaded.seed, loaded.budget, loaded.mrns, loaded.pace) == (3, 60, ("1", "2"), 1.0)
    assert loaded.windows == ((dt.date(2025, 3, 3), dt.date(2025, 3, 7)),)
    assert loaded.start == dt.date(2025, 3, 3)
    with pytest.raises(PlanError, match="too small"):
        Plan.build(PlanOptions(budget=10))
    with pytest.raises(PlanError, match="ends before it starts"):
        PlanOptions.load({"windows": "2025-03-07..2025-03-03"}, {})
    with pytest.raises(PlanError, match="unknown plan option"):
        PlanOptions.load({}, {}, plan_file=_written(tmp_path / "bad.json", {"mrn": "1"}))
    assert PlanOptions.load({"requests": None}, {}).requests == ()
    assert options(requests=[{"body": {"mrn": "1"}, "expect_failure": True}]).requests == (
        Declared({"mrn": "1"}, True),
    )


def test_the_plan_and_its_report_name_the_webhook_api_they_check(tmp_path: Path) -> None:
    assert PlanOptions().webhook_api == "guide"
    plan_file = _written(tmp_path / "plan.json", {"webhook_api": "guide"})
    env = {"COBALT_CONTRACT_PLAN": str(plan_file), "COBALT_CONTRACT_WEBHOOK_API": "reference"}
    assert PlanOptions.load({}, env).webhook_api == "reference"
    assert PlanOptions.load({"webhook_api": "guide"}, env).webhook_api == "guide"
    with pytest.raises(PlanError, match="webhook_api: expected one of guide, reference, got 'v2'"):
        PlanOptions.load({"webhook_api": "v2"}, {})
    plan = Plan.build(options(webhook_api="reference"))
    report = Report([], live=True, meta={"plan": plan.options.public()})
    assert report.to_json()["plan"]["webhook_api"] == "reference"
    finding = report.of("webhook-api")
    assert finding.verdict == "not exercised"  # a live run registers no webhook on a real account
    assert "webhook_api" in finding.rule.text
    assert "webhook_api" in finding.rule.fix
    assert '- plan: `{"seed": 0' in report.to_markdown()
    assert '"webhook_api": "reference"' in report.to_markdown()


def _written(path: Path, content: Any) -> Path:
    path.write_text(json.dumps(content))
    return path


# --- polling that survives a real API ---------------------------------------------------------------------


class Clock:
    """A clock the polling target sleeps on: sleeping only moves it, and says how long."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _busy(answers: list[tuple[int, dict[str, str]]]) -> mutants.Rewrite:
    """The first polls answer these (status, headers), then the server answers as it is."""
    queue = list(answers)

    def rewrite(x: mutants.Exchange) -> None:
        if x.path.endswith("/webhook-events") and queue:
            x.status, x.headers = queue.pop(0)
            x.body = {"success": False, "message": "Too many requests."}

    return rewrite


def _polled_once(
    server: mutants.Switchable, answers: list[tuple[int, dict[str, str]]], timeout: float
) -> tuple[PollingTarget, Clock, Callable[[], Webhook]]:
    server.become(None)
    job_id = server.target.fetch({"search_by": "mrn", "mrn": "00123"}).json()["job_id"]
    server.target.await_webhook(job_id)  # the event exists before the first poll
    server.become(mutants.Mutant("busy", "busy", rewrite=_busy(answers)))
    clock = Clock()
    base = server.target
    polled = PollingTarget(
        base.base_url, base.headers, webhook_timeout=timeout, pace=0, clock=clock, sleep=clock.sleep
    )
    return polled, clock, lambda: polled.await_webhook(job_id)


def test_polling_waits_as_retry_after_says_then_backs_off(server: mutants.Switchable) -> None:
    polled, clock, wait = _polled_once(
        server, [(429, {"retry-after": "7"}), (503, {}), (503, {})], timeout=60
    )
    try:
        webhook = wait()
    finally:
        polled.close()
        server.become(None)
    assert webhook.data["success"] is True
    assert clock.slept == [7.0, 2.0, 4.0]
    assert polled.waits == [(429, 7.0), (503, 2.0), (503, 4.0)]


def test_polling_gives_up_when_the_wait_would_pass_the_timeout(server: mutants.Switchable) -> None:
    polled, clock, wait = _polled_once(server, [(429, {"retry-after": "90"})], timeout=60)
    try:
        with pytest.raises(NotCompleted, match="answered 429 to a poll and asked to wait 90s") as caught:
            wait()
    finally:
        polled.close()
        server.become(None)
    assert caught.value.busy
    assert clock.slept == []


def test_retry_after_reads_seconds_and_http_dates() -> None:
    request = httpx.Request("GET", "http://127.0.0.1/")

    def answer(value: str) -> httpx.Response:
        return httpx.Response(429, headers={"retry-after": value}, request=request)

    assert retry_after(answer("12"), 0, 1.0) == 12.0
    assert retry_after(answer("Wed, 21 Oct 2015 07:28:00 GMT"), 1445412470, 1.0) == 10.0
    assert retry_after(answer("soon"), 0, 3.0) == 3.0


# --- proxies ---------------------------------------------------------------------------------------------


def test_loopback_is_never_proxied(server: mutants.Switchable, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    server.become(None)
    with PollingTarget(server.target.base_url, server.target.headers, pace=0) as polled:
        assert polled.request("GET", "webhook").status_code == 200
    assert is_loopback("127.0.0.1")
    assert is_loopback("::1")
    assert is_loopback("localhost")
    assert not is_loopback("api.usecobalt.com")


async def _proxy_app(scope: Scope, receive: Receive, send: Send) -> None:
    """A forward proxy that answers itself, saying which URL it was asked for."""
    if scope["type"] != "http":
        return
    seen = {"host": dict(scope["headers"]).get(b"host", b"").decode(), "path": scope["path"]}
    body = json.dumps(seen).encode()
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}
    )
    await send({"type": "http.response.body", "body": body})


def test_a_remote_host_goes_through_the_environments_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    with ServerThread(_proxy_app) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        # .invalid never resolves: only the proxy can answer for it
        with PollingTarget("http://api.cobalt.invalid/v1", {"client_id": "c"}, pace=0) as remote:
            answer = remote.request("GET", "webhook-events").json()
    assert answer == {"host": "api.cobalt.invalid", "path": "/v1/webhook-events"}


# --- the pytest run itself -------------------------------------------------------------------------------


def _pytest_live(url: str, report_dir: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "COBALT_CLIENT_ID": "ci_contract",
        "COBALT_CLIENT_SECRET": "cs_contract",
        "COBALT_ACCESS_TOKEN": "at_contract",
    }
    for name in [k for k in env if k.startswith("COBALT_CONTRACT_")]:
        del env[name]
    command = [
        sys.executable,
        "-m",
        "pytest",
        "contract_tests/test_fetch.py",
        "contract_tests/test_webhooks.py",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:schemathesis",  # not used by the contract suite; spares its import
        "-q",
        "--cobalt-base-url",
        url,
        "--cobalt-pace",
        "0",
        "--cobalt-webhook-timeout",
        "5",
        "--cobalt-report-dir",
        str(report_dir),
        *flags,
    ]
    # our own interpreter, on our own arguments
    return subprocess.run(  # noqa: S603
        command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.slow
def test_pytest_live_run_passes_and_reports(server: mutants.Switchable, tmp_path: Path) -> None:
    server.become(None)
    run = _pytest_live(server.target.base_url, tmp_path, "--cobalt-windows", "2025-01-06..2025-01-10")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "Cobalt conformance report" in run.stdout
    assert "not exercised: " in run.stdout
    assert "mrn-echoed" in run.stdout
    written = json.loads((tmp_path / "conformance.json").read_text(encoding="utf-8"))
    assert written["counts"]["contradicted"] == 0
    assert written["plan"]["seed"] == 0
    assert {r["rule"]: r["verdict"] for r in written["rules"]}["mrn-echoed"] == "not exercised"
    assert (tmp_path / "conformance.md").read_text(encoding="utf-8").startswith("# Cobalt conformance report")


def test_pytest_live_run_fails_on_a_wrong_decision(server: mutants.Switchable, tmp_path: Path) -> None:
    server.become(mutants.LIVE_BREAKS["eight-days-accepted"][0])
    try:
        run = _pytest_live(server.target.base_url, tmp_path, "--cobalt-seed", "3")
    finally:
        server.become(None)
    assert run.returncode == 1, run.stdout[-3000:]
    assert "OUR DECISION IS WRONG: range-8-days-refused" in run.stdout
    assert "fix: set max_range_days = 8" in run.stdout
    assert "1 failed" in run.stdout
    assert "not exercised: " in run.stdout  # no MRN was given
    written = json.loads((tmp_path / "conformance.json").read_text(encoding="utf-8"))
    verdicts = {r["rule"]: r for r in written["rules"]}
    assert verdicts["range-8-days-refused"]["meaning"] == "our decision is wrong"
    assert verdicts["mrn-echoed"]["verdict"] == "not exercised"
    assert written["plan"]["seed"] == 3
    assert "**our decision is wrong**" in (tmp_path / "conformance.md").read_text(encoding="utf-8")
