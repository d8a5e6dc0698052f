"""The suite's own checks against Cobalt's documented examples (``fixtures/*/valid-documented*.json``
and the curl example), byte for byte as Cobalt's page gives them.

Every schema step must accept every example: a check stricter than Cobalt's documentation would fail
the real API for nothing. The semantic step rejects both documented webhooks, on purpose: the
date-range example says ``appointment_count: 42`` beside one appointment dated outside its own
range, the MRN example says 7 beside one. cobalt-api.md §3 states the rules; the examples are
abbreviated. These tests pin that reading down.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from contract_tests import checks
from mock_server.resources import data_dir, read_json

FIXTURES = data_dir("fixtures")
DOCUMENTED = [
    *sorted(FIXTURES.glob("*/valid-documented*.json")),
    FIXTURES / "fetch-request/valid-curl-example.json",
]
REQUEST_OF = {  # the request each documented webhook answers, as far as it says
    "webhook-date-range": {"start_date": "2025-01-01", "end_date": "2025-01-07"},
    "webhook-mrn": {"search_by": "mrn", "mrn": "12345"},
}


def example(schema: str) -> Any:
    return read_json(FIXTURES / schema / "valid-documented.json")


@pytest.mark.parametrize("path", DOCUMENTED, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_schema_accepts_the_documented_example(path: Path) -> None:
    schema = path.parent.name
    checks.check_schema(schema, read_json(path))
    if schema in {*checks.WEBHOOK_SCHEMA.values(), "webhook-failure"}:  # an event: the union takes it
        checks.check_schema("webhook", read_json(path))


@pytest.mark.parametrize("schema", sorted(REQUEST_OF))
def test_documented_webhooks_pass_the_payload_checks(schema: str) -> None:
    payload = example(schema)
    checks.check_payload(payload, REQUEST_OF[schema], payload["job_id"])


@pytest.mark.parametrize(("schema", "count"), [("webhook-date-range", 42), ("webhook-mrn", 7)])
def test_documented_webhooks_break_the_count_rule(schema: str, count: int) -> None:
    with pytest.raises(AssertionError, match=f"appointment_count {count} but 1 appointments"):
        checks.check_data(example(schema)["data"], REQUEST_OF[schema])


def test_the_documented_date_range_example_lies_outside_its_range() -> None:
    data = {**example("webhook-date-range")["data"], "appointment_count": 1}
    with pytest.raises(AssertionError, match=r"outside 2025-01-01\.\.2025-01-07"):
        checks.check_data(data, REQUEST_OF["webhook-date-range"])
