"""The contract's properties, built for a given target and Hypothesis settings.

Each builder returns a zero-argument callable that runs the property: the tests call them with the
session's target and profile, the mutation tests with a broken fake and only the explicit examples.
The explicit examples are the documented requests and the boundaries (7 days inclusive, 5 days for
one provider, 10 providers, non-ASCII text), so a mutant that breaks a boundary is caught at once.

The fake-only scenarios at the end (retries, determinism) need a ``FakeTarget``: a receiver the test
can script, and a server whose output must not change between identical requests.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from hypothesis import example, given, note, settings
from hypothesis import strategies as st

from contract_tests import checks, strategies
from contract_tests.strategies import Invalid
from contract_tests.target import FakeTarget, Target, Webhook
from mock_server.api.validation import (
    MSG_END_BEFORE_START,
    MSG_INVALID_DATE,
    MSG_NOT_JSON,
    MSG_NOT_OBJECT,
    MSG_PROVIDER_IDS,
    MSG_PROVIDER_RANGE_TOO_LONG,
    MSG_PROVIDERS_ONE_DAY,
    MSG_RANGE_TOO_LONG,
    MSG_SEARCH_BY,
)
from mock_server.resources import data_dir, read_json
from mock_server.testing.receiver import Behaviour, Delivery

Property = Callable[[], None]


def _with_examples(test: Callable[..., None], name: str, values: list[Any]) -> Callable[..., None]:
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


# --- properties for any target ----------------------------------------------------------------------


def valid_requests_accepted(target: Target, config: settings) -> Property:
    """Any valid fetch body of any mode → 202 with the documented body."""

    def valid_requests_accepted(body: dict[str, Any]) -> None:
        checks.check_accepted(target.fetch(body))

    test = _with_examples(valid_requests_accepted, "body", examples_for(None))
    return config(given(body=strategies.valid_bodies())(test))


def _errors(
    name: str,
    target: Target,
    config: settings,
    strategy: st.SearchStrategy[Invalid],
    examples: list[Invalid],
) -> Property:
    def invalid_requests_rejected(case: Invalid) -> None:
        checks.check_error(target.fetch(content=case.content()), case.status, case.message)

    invalid_requests_rejected.__name__ = name  # its own key in Hypothesis's example database
    test = _with_examples(invalid_requests_rejected, "case", examples)
    return config(given(case=strategy)(test))


def documented_errors(target: Target, config: settings) -> Property:
    """Each invalid body Cobalt documents → 400 and its documented message, word for word."""
    examples = [
        Invalid({}, 400, strategies.missing_message(["start_date", "end_date"])),
        Invalid({"start_date": "2025-01-01"}, 400, strategies.missing_message(["end_date"])),
        Invalid({"start_date": "2025-01-01", "end_date": "2025-01-08"}, 400, MSG_RANGE_TOO_LONG),  # 8 days
        Invalid({"start_date": "01/01/2025", "end_date": "2025-01-02"}, 400, MSG_INVALID_DATE),
        Invalid({"start_date": "2025-02-29", "end_date": "2025-03-01"}, 400, MSG_INVALID_DATE),
        Invalid({"start_date": "2025-01-02", "end_date": "2025-01-01"}, 400, MSG_END_BEFORE_START),
    ]
    return _errors("documented_errors", target, config, strategies.documented_invalid(), examples)


def decided_errors(target: Target, config: settings) -> Property:
    """Each invalid body the docs name without wording → 400 and the fake's decided message."""
    one_day = {"start_date": "2025-01-07", "end_date": "2025-01-07"}
    examples = [
        Invalid({"search_by": "mrn"}, 400, strategies.missing_message(["mrn"])),
        Invalid({"search_by": "everything", **one_day}, 400, MSG_SEARCH_BY),
        Invalid(None, 400, MSG_NOT_JSON, raw=b'{"start_date": '),
        Invalid([1, 2], 400, MSG_NOT_OBJECT),
        Invalid(
            {
                "search_by": "provider",
                "provider_ids": ["p"],
                "start_date": "2025-01-06",
                "end_date": "2025-01-11",
            },
            400,
            MSG_PROVIDER_RANGE_TOO_LONG,
        ),
        Invalid(
            {
                "search_by": "provider",
                "provider_ids": ["p", "q"],
                "start_date": "2025-01-06",
                "end_date": "2025-01-07",
            },
            400,
            MSG_PROVIDERS_ONE_DAY,
        ),
        Invalid(
            {"search_by": "provider", "provider_ids": [f"p{n}" for n in range(11)], **one_day},
            400,
            MSG_PROVIDER_IDS,
        ),
    ]
    return _errors("decided_errors", target, config, strategies.decided_invalid(), examples)


def missing_auth_rejected(target: Target, config: settings) -> Property:
    """A missing or empty auth header → 401 naming every missing one, checked before the body."""

    def missing_auth_rejected(plan: dict[str, str], content: bytes) -> None:
        headers = {name: target.headers[name] for name, how in plan.items() if how == "keep"}
        headers.update({name: "" for name, how in plan.items() if how == "empty"})
        missing = ", ".join(name for name, how in plan.items() if how != "keep")
        response = target.fetch(content=content, headers=headers)
        checks.check_error(response, 401, f"Missing required header(s): {missing}")

    contents = st.one_of(
        strategies.valid_bodies().map(lambda body: json.dumps(body, ensure_ascii=False).encode("utf-8")),
        st.just(b"not json"),
    )
    test = example(
        plan={"client_id": "keep", "client_secret": "keep", "access_token": "drop"}, content=b"{}"
    )(missing_auth_rejected)
    test = example(
        plan={"client_id": "empty", "client_secret": "drop", "access_token": "empty"}, content=b"x"
    )(test)
    return config(given(plan=strategies.broken_auth(), content=contents)(test))


def completes_with_webhook(target: Target, config: settings, mode: str) -> Property:
    """A valid fetch of ``mode`` → 202 → one completion event that satisfies the request, listed by
    ``GET /v1/webhook-events`` with the same ``data``."""

    def completes_with_webhook(body: dict[str, Any]) -> None:
        job_id = checks.check_accepted(target.fetch(body))
        note(f"job_id={job_id}")
        webhook = target.await_webhook(job_id)
        checks.check_webhook(
            webhook, body, job_id, secret=target.webhook_secret, expect_success=target.is_fake
        )
        checks.check_events(target.events(job_id), job_id, webhook)

    completes_with_webhook.__name__ = f"completes_with_webhook_{mode}"
    test = _with_examples(completes_with_webhook, "body", examples_for(mode))
    return config(given(body=strategies.valid_bodies(mode))(test))


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
        checks.check_webhook(
            webhook, body, job_id, secret=target.webhook_secret, expect_success=True, attempt=number
        )
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
    checks.check_webhook(webhook, body, job_id, secret=target.webhook_secret, expect_success=True)
    return deliveries[0]
