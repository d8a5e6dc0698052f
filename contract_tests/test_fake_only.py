"""What only the fake can show: determinism, and Cobalt's retry rules against a scripted receiver."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator

import pytest
from hypothesis import settings

from contract_tests import properties
from contract_tests.conformance import BY_ID
from contract_tests.plan import Plan
from contract_tests.target import FakeTarget, PollingTarget, start_fake
from mock_server.settings import Settings
from mock_server.testing.receiver import Behaviour

pytestmark = pytest.mark.fake_only


@pytest.fixture(scope="module")
def settled_fake() -> Iterator[FakeTarget]:
    """This module's own fake. Its tests let every job's deliveries settle, so an answer scripted on
    the receiver is always consumed by the job of the test that scripted it."""
    with start_fake() as fake:
        yield fake


@pytest.fixture
def scripted(settled_fake: FakeTarget) -> FakeTarget:
    settled_fake.receiver.clear()
    return settled_fake


def test_the_same_request_gives_the_same_data(fake: FakeTarget, contract_settings: settings) -> None:
    properties.deterministic(fake, settings(contract_settings, max_examples=15))()


@pytest.mark.parametrize(
    "answer",
    [
        Behaviour.status(500),
        Behaviour.status(503),
        Behaviour.status(429),
        Behaviour.close(),
        Behaviour.reset(),
    ],
    ids=["500", "503", "429", "closed", "reset"],
)
def test_a_failed_attempt_is_retried_once_unchanged(scripted: FakeTarget, answer: Behaviour) -> None:
    properties.retried_once(scripted, answer)


def test_a_failed_retry_is_the_last_attempt(scripted: FakeTarget) -> None:
    properties.retried_once(scripted, Behaviour.status(500), Behaviour.status(502))


@pytest.mark.parametrize("status", [400, 401, 404, 410, 422])
def test_a_4xx_is_not_retried(scripted: FakeTarget, status: int) -> None:
    properties.not_retried(scripted, Behaviour.status(status))


def test_a_timeout_is_not_retried(make_fake: Callable[..., FakeTarget]) -> None:
    properties.not_retried(make_fake(webhook_timeout=0.2), Behaviour.slow(2.0))


@pytest.fixture(scope="module")
def unregistered_fake() -> Iterator[FakeTarget]:
    """A fake with no webhook URL registered: what a polling client of the real API looks like."""
    with start_fake(register=False) as fake:
        yield fake


@pytest.mark.parametrize("mode", ["date_range", "mrn", "provider"])
def test_the_polling_target_works_against_the_fake(
    unregistered_fake: FakeTarget, contract_settings: settings, mode: str
) -> None:
    """The real-API code path (completions polled from webhook-events, no receiver) on the fake."""
    fake = unregistered_fake
    with PollingTarget(fake.base_url, fake.headers, webhook_timeout=10, pace=0, poll_interval=0.02) as polled:
        how = properties.Fuzz(settings(contract_settings, max_examples=5))
        properties.completes_with_webhook(polled, how, mode)()


# The §8 decisions the fake once lagged on (its explicit examples skipped their steps meanwhile).
CAUGHT_UP = ("empty-means-absent", "trailing-slash")


@pytest.mark.parametrize("rule", CAUGHT_UP)
def test_the_fake_follows_the_decisions_it_caught_up_with(fake: FakeTarget, rule: str) -> None:
    (step,) = [s for s in Plan.build().steps if s.rule == rule]
    assert properties.send(fake, step).status_code == 202


# Each rule-reading decision: the plan step the fake refuses by it, and the value of the setting its
# fix names that reads the rule the other way.
READINGS: dict[str, tuple[str, object]] = {
    "range-8-days-refused": ("range-8-days", 8),
    "single-provider-5-days": ("one-provider-6-days", 6),
    "providers-same-day": ("two-providers-2-days", False),
    "provider-count-1-10": ("eleven-providers", 11),
}


@pytest.mark.parametrize("rule", sorted(READINGS))
def test_a_rule_readings_fix_is_a_setting_that_settles_it(
    fake: FakeTarget, make_fake: Callable[..., FakeTarget], rule: str
) -> None:
    """A contradicted decision's report says which setting makes the fake agree with the API: that
    setting exists, and with it the fake accepts what the decision refused."""
    step_id, value = READINGS[rule]
    found = re.search(r"set (\w+)", BY_ID[rule].fix)
    assert found is not None, BY_ID[rule].fix
    name = found.group(1)
    assert name in {f.name for f in dataclasses.fields(Settings)}
    (step,) = [s for s in Plan.build().steps if s.id == step_id]
    assert step.rule == rule
    assert properties.send(fake, step).status_code == 400
    assert properties.send(make_fake(**{name: value}), step).status_code == 202
