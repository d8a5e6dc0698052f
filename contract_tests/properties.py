"""The contract's properties, each a check of one step, run two ways on any target.

A property is a function that sends one ``Step`` (a request and the answer the contract expects) and
checks the answer with ``checks``. ``Fuzz`` runs it the Hypothesis way, for the fake: drawn steps,
with the live plan's boundary steps (``plan.boundary_steps``) and a few edge cases as explicit
examples, so a mutant that breaks a boundary is caught at once. ``Live`` runs it the plan's way, for a
URL: exactly the plan's steps of the property's group, every one of them, each recorded in the
conformance report, failures collected and raised together at the end. Same checks, same messages.

The fake-only scenarios at the end (retries, determinism) need a ``FakeTarget``: a receiver the test
can script, and a server whose output must not change between identical requests.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
from hypothesis import example, given, note, settings
from hypothesis import strategies as st

from contract_tests import checks, strategies
from contract_tests.conformance import BY_ID, Recorder, Report, Verdict, record
from contract_tests.plan import AUTH_NAMES, Plan, Step
from contract_tests.strategies import Invalid
from contract_tests.target import FakeTarget, NotCompleted, Target, Webhook
from mock_server.api.inputs import MSG_NOT_OBJECT
from mock_server.resources import data_dir, read_json
from mock_server.testing.receiver import Behaviour, Delivery

Property = Callable[[], None]
Check = Callable[[Step], None]
Start = Callable[[Step], str]
Finish = Callable[[Step, str], None]


def _with_examples(test: Callable[..., None], name: str, values: Sequence[Any]) -> Callable[..., None]:
    for value in reversed(values):
        test = example(**{name: value})(test)
    return test


def fixture_requests() -> list[dict[str, Any]]:
    """The valid request bodies in ``fixtures/fetch-request``: Cobalt's documented ones (the curl
    example included) and the kit's boundary cases (one day, one provider for 5 days, 10 providers)."""
    folder = data_dir("fixtures") / "fetch-request"
    paths = sorted(folder.glob("valid-*.json"), key=lambda p: ("documented" not in p.name, p.name))
    return [read_json(path) for path in paths]


WEEK = {"start_date": "2025-01-06", "end_date": "2025-01-12"}  # Monday to Sunday: 7 days inclusive
# Edge cases of the fake's own serialization and generation, on top of the plan's boundaries.
EXTRA_EXAMPLES: list[dict[str, Any]] = [
    WEEK,
    {"search_by": "date_range", "start_date": "2024-12-30", "end_date": "2025-01-05"},  # across a year
    {"start_date": "2024-02-29", "end_date": "2024-02-29"},  # a leap day
    {"search_by": "mrn", "mrn": 'Zoë-東京 "quoted" \\ \n\t\u2028😀'},  # JSON.stringify must agree
    {"search_by": "mrn", "mrn": "00123"},
    {
        "search_by": "provider",
        "provider_ids": ["Dr. Ünal"],
        "start_date": "2025-01-08",
        "end_date": "2025-01-08",
    },
]


def examples_for(mode: str | None) -> list[dict[str, Any]]:
    """Explicit examples of ``mode`` (or all): the fixtures first, then the extra edge cases."""
    return [body for body in fixture_requests() + EXTRA_EXAMPLES if mode in (None, checks.mode_of(body))]


def accepting(body: dict[str, Any]) -> Step:
    return Step("drawn", "accepted", body)


def completing(body: dict[str, Any]) -> Step:
    return Step("drawn", "completion", body)


def rejecting(case: Invalid) -> Step:
    return Step("drawn", "errors", case.body, raw=case.content(), status=case.status, message=case.message)


# --- the two ways to run a property -------------------------------------------------------------------


class Fuzz:
    """Hypothesis, for the fake: ``config``'s examples drawn from a strategy, the plan's steps explicit."""

    def __init__(self, config: settings, plan: Plan | None = None) -> None:
        self.config = config
        self.plan = plan or Plan.build()

    def steps(self, group: str, mode: str | None) -> list[Step]:
        return self.plan.group(group, mode)

    def property(
        self,
        group: str,
        check: Check,
        strategy: st.SearchStrategy[Step] | None,
        *,
        mode: str | None = None,
        extra: Sequence[Step] = (),
    ) -> Property:
        if strategy is None:  # nothing to draw: the plan's steps are the property

            def each() -> None:
                for step in [*self.steps(group, mode), *extra]:
                    check(step)

            return each

        def run(step: Step) -> None:
            check(step)

        run.__name__ = group.replace("-", "_") + (f"_{mode}" if mode else "")  # its own database key
        test = _with_examples(run, "step", [*self.steps(group, mode), *extra])
        return self.config(given(step=strategy)(test))

    def completion(
        self,
        start: Start,
        finish: Finish,
        strategy: st.SearchStrategy[Step],
        *,
        mode: str,
        extra: Sequence[Step],
    ) -> Property:
        def check(step: Step) -> None:
            job_id = start(step)
            note(f"job_id={job_id}")
            finish(step, job_id)

        return self.property("completion", check, strategy, mode=mode, extra=extra)


class Live:
    """The plan, for a URL: every step of the group once, each outcome recorded by ``recorder``."""

    def __init__(self, plan: Plan, recorder: Recorder) -> None:
        self.plan = plan
        self.recorder = recorder
        with recorder.active():
            for rule, why in plan.gaps():
                recorder.add(rule, "not exercised", why)

    def _attempt(self, failures: list[str], call: Callable[..., object], step: Step, *args: str) -> object:
        """``call(step, *args)``, recorded as the step's; a failure is kept in ``failures``, with the
        setting to change when it contradicts a decision of ours."""
        before = len(self.recorder.outcomes)
        with self.recorder.active(), self.recorder.at(step.id, step.summary()):
            try:
                return call(step, *args)
            except AssertionError as exc:
                wrong = {
                    o.rule
                    for o in self.recorder.outcomes[before:]
                    if o.verdict == "contradicted" and BY_ID[o.rule].kind == "decision"
                }
                fixes = "".join(f"\n  our decision is wrong ({r}): {BY_ID[r].fix}" for r in sorted(wrong))
                failures.append(f"{step.id}: {exc}{fixes}")
                return None

    def _steps(self, group: str, mode: str | None) -> list[Step]:
        steps = self.plan.group(group, mode)
        if not steps:  # a pass would claim checks that never ran; the report says what is missing
            pytest.skip(
                f"the live plan has no {mode or group} step: supply identifiers (docs/contract-suite.md)"
            )
        return steps

    @staticmethod
    def _raise(failures: list[str], total: int) -> None:
        __tracebackhide__ = True  # the failures say it all; pytest need not show this frame
        if failures:
            raise AssertionError(f"{len(failures)} of {total} live step(s) failed:\n" + "\n".join(failures))

    def property(
        self,
        group: str,
        check: Check,
        strategy: st.SearchStrategy[Step] | None = None,
        *,
        mode: str | None = None,
        extra: Sequence[Step] = (),
    ) -> Property:
        def run() -> None:
            failures: list[str] = []
            steps = self._steps(group, mode)
            for step in steps:
                self._attempt(failures, check, step)
            self._raise(failures, len(steps))

        return run

    def completion(
        self,
        start: Start,
        finish: Finish,
        strategy: st.SearchStrategy[Step] | None = None,
        *,
        mode: str,
        extra: Sequence[Step] = (),
    ) -> Property:
        """All the mode's fetches first, then each job awaited: the jobs run on the API meanwhile."""

        def run() -> None:
            failures: list[str] = []
            steps = self._steps("completion", mode)
            started = [(step, self._attempt(failures, start, step)) for step in steps]
            for step, job_id in started:
                if isinstance(job_id, str):
                    self._attempt(failures, finish, step, job_id)
            self._raise(failures, len(steps))

        return run


How = Fuzz | Live


# --- properties for any target ----------------------------------------------------------------------


def send(target: Target, step: Step) -> Any:
    """The step's request. Auth steps drop or blank the headers their plan names."""
    headers = None
    if step.auth:
        plan = dict(step.auth)
        headers = {name: target.headers[name] for name in AUTH_NAMES if name not in plan}
        headers.update({name: "" for name, how in plan.items() if how == "empty"})
    return target.request(step.method, step.path, content=step.content(), headers=headers)


def valid_requests_accepted(target: Target, how: How) -> Property:
    """Any valid fetch body of any mode → 202 with the documented body."""

    def check(step: Step) -> None:
        checks.check_accepted(send(target, step), rule=step.rule)

    extra = [accepting(body) for body in examples_for(None)]
    return how.property("accepted", check, strategies.valid_bodies().map(accepting), extra=extra)


def _errors(
    target: Target, how: How, group: str, strategy: st.SearchStrategy[Invalid], extra: Sequence[Invalid] = ()
) -> Property:
    def check(step: Step) -> None:
        checks.check_error(send(target, step), step.status, step.message, rule=step.rule)

    return how.property(group, check, strategy.map(rejecting), extra=[rejecting(case) for case in extra])


def documented_errors(target: Target, how: How) -> Property:
    """Each invalid body Cobalt documents → 400 and its documented message, word for word."""
    return _errors(target, how, "documented-errors", strategies.documented_invalid())


def decided_errors(target: Target, how: How) -> Property:
    """Each invalid body the docs name without wording → 400 and the fake's decided message."""
    not_an_object = Invalid([1, 2], 400, MSG_NOT_OBJECT)
    return _errors(target, how, "decided-errors", strategies.decided_invalid(), [not_an_object])


def _auth_step(plan: dict[str, str], content: bytes) -> Step:
    broken = tuple((name, how) for name, how in plan.items() if how != "keep")
    return Step("drawn", "auth", raw=content, status=401, auth=broken)


def missing_auth_rejected(target: Target, how: How) -> Property:
    """A missing or empty auth header → 401 naming every missing one, checked before the body."""

    def check(step: Step) -> None:
        missing = ", ".join(name for name in AUTH_NAMES if name in dict(step.auth))
        checks.check_error(
            send(target, step), 401, f"Missing required header(s): {missing}", rule="auth-missing-named"
        )

    contents = st.one_of(
        strategies.valid_bodies().map(lambda body: Step("", "", body).content() or b""),
        st.just(b"not json"),
    )
    drawn = st.builds(_auth_step, strategies.broken_auth(), contents)
    return how.property("auth", check, drawn)


def other_routes(target: Target, how: How) -> Property:
    """Unknown paths and wrong methods keep the error shape (the plan's steps; nothing to draw)."""

    def check(step: Step) -> None:
        checks.check_error(send(target, step), step.status, None, rule=step.rule)

    return how.property("other", check, None)


def completes_with_webhook(target: Target, how: How, mode: str) -> Property:
    """A valid fetch of ``mode`` → 202 → one completion event that satisfies the request, listed by
    ``GET /v1/webhook-events`` for its job."""

    def start(step: Step) -> str:
        return checks.check_accepted(send(target, step), rule=step.rule)

    def finish(step: Step, job_id: str) -> None:
        try:
            webhook = target.await_webhook(job_id)
        except NotCompleted as exc:
            verdict: Verdict = "not exercised" if exc.busy else "contradicted"
            record("events-listed", verdict, str(exc))
            raise
        checks.check_webhook(
            webhook, step.body, job_id, secret=target.webhook_secret, expect_failure=step.expect_failure
        )
        checks.check_events(target.events(job_id), job_id, webhook)

    extra = [completing(body) for body in examples_for(mode)]
    return how.completion(
        start, finish, strategies.valid_bodies(mode).map(completing), mode=mode, extra=extra
    )


# --- fake-only ----------------------------------------------------------------------------------------


def deterministic(target: FakeTarget, config: settings) -> Property:
    """The same request twice → the same ``data`` (the fake is seeded; the real EHR changes)."""

    def deterministic(body: dict[str, Any]) -> None:
        first = target.await_webhook(checks.check_accepted(target.fetch(body)))
        second = target.await_webhook(checks.check_accepted(target.fetch(body)))
        assert first.data == second.data, "the same request twice gave different data"

    test = _with_examples(deterministic, "body", examples_for(None)[:3])
    return config(given(body=strategies.valid_bodies())(test))


def _deliver_once(target: FakeTarget, *answers: Behaviour) -> tuple[str, dict[str, Any]]:
    target.receiver.respond_with(*answers)
    body = WEEK
    return checks.check_accepted(target.fetch(body)), body


def retried_once(target: FakeTarget, *answers: Behaviour) -> list[Delivery]:
    """The receiver fails the first attempt (``answers``) → exactly one retry, byte-identical but for
    ``webhook-attempt: 2``. Returns the deliveries."""
    job_id, body = _deliver_once(target, *answers)
    target.await_deliveries(job_id, 1)
    rows = target.await_settled(job_id)  # every attempt made: no need to wait out a missing retry
    deliveries = target.deliveries(job_id)
    assert len(deliveries) == 2, f"expected 1 attempt and 1 retry, got {len(deliveries)} attempts"
    first, second = deliveries
    assert first.body == second.body, "the retry's body differs from the first attempt's"
    for name in (checks.SIGNATURE_HEADER, "webhook-id", "webhook-timestamp"):
        assert first.headers.get(name) == second.headers.get(name), f"the retry changed the {name} header"
    for number, delivery in enumerate(deliveries, 1):
        webhook = Webhook.of(delivery)
        checks.check_webhook(webhook, body, job_id, secret=target.webhook_secret, attempt=number)
    final = "failed" if len(answers) > 1 else "success"  # the retry met answers[1], or the default 200
    statuses = [row["delivery_status"] for row in rows]
    assert statuses == [final], f"delivery status after the retry: {statuses}, expected [{final!r}]"
    return deliveries


def not_retried(target: FakeTarget, answer: Behaviour) -> Delivery:
    """The receiver answers ``answer`` (a non-retryable failure) → no second attempt."""
    job_id, body = _deliver_once(target, answer)
    target.await_deliveries(job_id, 1)
    rows = target.await_settled(job_id)
    deliveries = target.deliveries(job_id)
    assert len(deliveries) == 1, (
        f"a delivery met with '{answer.describe()}' must not be retried, but {len(deliveries)} attempts "
        "were made "
        f"(webhook-attempt {[d.attempt for d in deliveries]})"
    )
    statuses = [row["delivery_status"] for row in rows]
    assert statuses == ["failed"], f"delivery status {statuses}, expected ['failed']"
    webhook = target.await_webhook(job_id)
    checks.check_webhook(webhook, body, job_id, secret=target.webhook_secret)
    return deliveries[0]


# --- a whole live run, in-process -------------------------------------------------------------------


def live_properties(target: Target, how: Live) -> dict[str, Property]:
    """Every property of the suite against ``target``, as ``test_fetch`` and ``test_webhooks`` run them."""
    return {
        "accepted": valid_requests_accepted(target, how),
        "documented-errors": documented_errors(target, how),
        "decided-errors": decided_errors(target, how),
        "auth": missing_auth_rejected(target, how),
        "other": other_routes(target, how),
        **{f"completion-{mode}": completes_with_webhook(target, how, mode) for mode in strategies.MODES},
    }


def run_live(target: Target, plan: Plan) -> tuple[Report, dict[str, str]]:
    """The live suite as ``pytest --cobalt-base-url`` runs it: the report, and each failed property's
    failure (empty when the run passes)."""
    how = Live(plan, Recorder())
    failures: dict[str, str] = {}
    for name, run in live_properties(target, how).items():
        try:
            run()
        except AssertionError as exc:
            failures[name] = str(exc)
        except pytest.skip.Exception:
            pass  # nothing of the plan for this property; the report says why
    return Report(how.recorder.outcomes, live=True, meta={"plan": plan.options.public()}), failures
