"""The suite is sharp: pointed at a fake that breaks any one documented rule, it fails.

Each mutant (``contract_tests/mutants.py``) is a fake with one rule broken. Its test runs the part of
the suite that guards that rule (the same property, with only its explicit examples, or the same
fake-only scenario) and expects an ``AssertionError`` that names the rule. The control runs every
part against an unbroken fake and expects it to pass, so a mutant is caught by its mutation alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import Phase, settings

from contract_tests import mutants, properties
from contract_tests.target import FakeTarget
from mock_server.testing.receiver import Behaviour

pytestmark = pytest.mark.fake_only

# The explicit examples only: the documented requests and the boundaries, no generation, no shrinking.
EXPLICIT = properties.Fuzz(
    settings(phases=[Phase.explicit], database=None, deadline=None, report_multiple_bugs=False)
)


@dataclass(frozen=True)
class Run:
    """One part of the suite, as a call on a target, and which shared fake it runs on.

    Runs that script the receiver (retries) get a fake of their own, where every earlier job has
    settled, so no stray delivery consumes a scripted answer; the timeout run needs a short timeout.
    """

    call: Callable[[FakeTarget], object]
    pool: str = "general"
    settings: dict[str, Any] = field(default_factory=dict)


RUNS = {
    "valid-accepted": Run(lambda t: properties.valid_requests_accepted(t, EXPLICIT)()),
    "documented-errors": Run(lambda t: properties.documented_errors(t, EXPLICIT)()),
    "decided-errors": Run(lambda t: properties.decided_errors(t, EXPLICIT)()),
    "auth": Run(lambda t: properties.missing_auth_rejected(t, EXPLICIT)()),
    "webhook-date-range": Run(lambda t: properties.completes_with_webhook(t, EXPLICIT, "date_range")()),
    "webhook-mrn": Run(lambda t: properties.completes_with_webhook(t, EXPLICIT, "mrn")()),
    "webhook-provider": Run(lambda t: properties.completes_with_webhook(t, EXPLICIT, "provider")()),
    "determinism": Run(lambda t: properties.deterministic(t, EXPLICIT.config)()),
    "retry-500": Run(lambda t: properties.retried_once(t, Behaviour.status(500)), "retry"),
    "retry-500-then-502": Run(
        lambda t: properties.retried_once(t, Behaviour.status(500), Behaviour.status(502)), "retry"
    ),
    "no-retry-400": Run(lambda t: properties.not_retried(t, Behaviour.status(400)), "retry"),
    "no-retry-timeout": Run(
        lambda t: properties.not_retried(t, Behaviour.slow(2.0)), "timeout", {"webhook_timeout": 0.2}
    ),
}

# mutant name -> (the run that must catch it, a pattern of the failure message)
CAUGHT_BY = {
    "accepted-status-200": ("valid-accepted", "accepted with status 202, got 200"),
    "accepted-job-id-renamed": ("valid-accepted", "'job_id' is a required property"),
    "seven-day-range-rejected": ("valid-accepted", "accepted with status 202, got 400"),
    "long-range-accepted": ("documented-errors", "expected status 400, got 202"),
    "error-status-422": ("documented-errors", "expected status 400, got 422"),
    "error-message-missing": ("documented-errors", "'message' is a required property"),
    "error-message-reworded": ("documented-errors", "error message .* expected"),
    "auth-status-403": ("auth", "expected status 401, got 403"),
    "webhook-job-id-wrong": ("webhook-date-range", "waiting for a webhook for job_id"),
    "webhook-type-wrong": ("webhook-date-range", "'appointment.live_fetch_completed' was expected"),
    "webhook-start-date-missing": ("webhook-date-range", "'start_date' is a required property"),
    "webhook-count-renamed": ("webhook-date-range", "'appointment_count' is a required property"),
    "webhook-count-wrong": ("webhook-date-range", r"appointment_count \d+ but \d+ appointments"),
    "appointment-outside-range": ("webhook-date-range", "appointment.* outside"),
    "dates-not-echoed": ("webhook-date-range", "are not the requested"),
    "provider-not-requested": ("webhook-provider", "providers not requested"),
    "mrn-not-echoed": ("webhook-mrn", "data.mrn"),
    "events-data-differs": ("webhook-date-range", "webhook-events data differs"),
    "signature-wrong-secret": ("webhook-date-range", "does not verify over the raw body"),
    "signature-missing": ("webhook-date-range", "no cobalt-verification"),
    "signature-over-other-bytes": ("webhook-date-range", "does not verify over the raw body"),
    "non-ascii-escaped": ("webhook-mrn", r"does not verify over JSON\.stringify"),
    "webhook-id-mismatch": ("webhook-date-range", "webhook-id header"),
    "attempt-header-missing": ("webhook-date-range", "webhook-attempt header None"),
    "no-retry-on-5xx": ("retry-500", "expected 1 attempt and 1 retry, got 1"),
    "retry-on-4xx": ("no-retry-400", "must not be retried"),
    "retry-on-timeout": ("no-retry-timeout", "must not be retried"),
    "retry-resigned": ("retry-500", "retry's body differs"),
    "retry-attempt-not-2": ("retry-500", "webhook-attempt header '1', expected '2'"),
    "retried-twice": ("retry-500-then-502", "expected 1 attempt and 1 retry, got 3"),
    "nondeterministic": ("determinism", "different data"),
}


@pytest.fixture(scope="module")
def pools() -> Iterator[dict[str, mutants.Switchable]]:
    started: dict[str, mutants.Switchable] = {}
    yield started
    for fake in started.values():
        fake.close()


@pytest.fixture
def start(pools: dict[str, mutants.Switchable]) -> Callable[[mutants.Mutant | None, Run], FakeTarget]:
    """The run's shared fake, broken as the mutant says (``None``: unbroken)."""

    def start(mutant: mutants.Mutant | None, run: Run) -> FakeTarget:
        if run.pool not in pools:
            pools[run.pool] = mutants.Switchable(**run.settings)
        return pools[run.pool].become(mutant)

    return start


def test_every_mutant_has_a_run() -> None:
    assert set(CAUGHT_BY) == set(mutants.BY_NAME)
    assert {run for run, _ in CAUGHT_BY.values()} <= set(RUNS)


@pytest.mark.parametrize("run", sorted(RUNS))
def test_an_unbroken_fake_passes(start: Callable[..., FakeTarget], run: str) -> None:
    RUNS[run].call(start(None, RUNS[run]))


@pytest.mark.parametrize("name", list(CAUGHT_BY))
def test_the_suite_catches_the_mutant(start: Callable[..., FakeTarget], name: str) -> None:
    run_name, pattern = CAUGHT_BY[name]
    run = RUNS[run_name]
    target = start(mutants.BY_NAME[name], run)
    with pytest.raises(AssertionError, match=pattern):
        run.call(target)
