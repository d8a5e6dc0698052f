"""fixtures/: every example passes or fails its schema as its name says, for the reason it names.

``fixtures/<schema>/<valid|invalid>-<what>.json``. Invalid fetch bodies are checked through the fake's
own validation, against the message Cobalt gives; other invalid examples against the schema error
(keyword and location) that makes them invalid. Cobalt's documented examples are kept byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema.exceptions import ValidationError

from mock_server import resources

FIXTURES = resources.data_dir("fixtures")
# Cobalt's fetch page as our user gave it (docs/reference/), whose JSON blocks the documented fixtures are.
SEED = Path(__file__).resolve().parents[1] / "docs" / "reference" / "cobalt-fetch-page.txt"
ALL = sorted(p.relative_to(FIXTURES).with_suffix("").as_posix() for p in FIXTURES.rglob("*.json"))
VALID = [f for f in ALL if f.split("/")[1].startswith("valid-")]
INVALID = [f for f in ALL if f.split("/")[1].startswith("invalid-")]

MISSING_DATES = "Missing required parameters: start_date, end_date."
INVALID_DATE = "Invalid date format. Use ISO format (YYYY-MM-DD)."

# Invalid fetch bodies -> ("is", Cobalt's exact message) or ("names", what the message must mention).
# Every answer is a 400.
FETCH_ERRORS: dict[str, tuple[str, str]] = {
    "invalid-missing-dates": ("is", MISSING_DATES),
    "invalid-missing-end-date": ("is", "Missing required parameters: end_date."),
    "invalid-missing-start-date": ("is", "Missing required parameters: start_date."),
    "invalid-bad-date-format": ("is", INVALID_DATE),
    "invalid-datetime-not-date": ("is", INVALID_DATE),
    "invalid-not-a-real-date": ("is", INVALID_DATE),
    "invalid-date-not-string": ("is", INVALID_DATE),
    "invalid-end-before-start": ("is", "end_date must be after start_date."),
    "invalid-range-too-long": ("is", "Date range cannot exceed 7 days."),
    "invalid-mrn-missing": ("is", "Missing required parameters: mrn."),
    "invalid-mrn-not-string": ("names", "mrn"),
    "invalid-search-by-unknown": ("names", "search_by"),
    "invalid-search-by-not-string": ("names", "search_by"),
    "invalid-provider-ids-missing": ("names", "provider_ids"),
    "invalid-provider-ids-not-array": ("names", "provider_ids"),
    "invalid-provider-ids-empty": ("names", "provider_ids"),
    "invalid-provider-ids-eleven": ("names", "provider_ids"),
    "invalid-providers-many-days": ("names", "start_date"),
    "invalid-provider-single-six-days": ("names", "5 days"),
    "invalid-unknown-field": ("names", "patient_id"),
    "invalid-not-an-object": ("names", "object"),
}

# Other invalid examples -> (JSON Schema keyword, location) of an error that makes them invalid.
# "false" is the keyword of a strict wrapper rejecting an undocumented field.
SCHEMA_ERRORS: dict[str, tuple[str, str]] = {
    "appointments-page/invalid-appointment-mode-unknown": ("enum", "$.appointments[0].appointment_mode"),
    "appointments-page/invalid-duration-not-integer": ("type", "$.appointments[0].duration"),
    "error/invalid-success-true": ("const", "$.success"),
    "error.strict/invalid-undocumented-field": ("false", "$.code"),
    "fetch-accepted/invalid-success-false": ("const", "$.success"),
    "health/invalid-status-not-ok": ("const", "$.status"),
    "webhook/invalid-other-event-type": ("const", "$.type"),
    "webhook.strict/invalid-undocumented-field": ("false", "$.data.provider_npi"),
    "webhook-date-range/invalid-date-not-real": ("format", "$.data.end_date"),
    "webhook-date-range/invalid-datetime-without-offset": ("pattern", "$.data.appointments[0].datetime"),
    "webhook-date-range/invalid-event-id-prefix": ("pattern", "$.id"),
    "webhook-date-range/invalid-missing-job-id": ("required", "$"),
    "webhook-date-range.strict/invalid-undocumented-field": ("false", "$.data.appointments[0].duration"),
    "webhook-events-page/invalid-data-not-live-fetch": ("required", "$.webhook_events[0].data"),
    "webhook-events-page/invalid-delivery-status-unknown": ("enum", "$.webhook_events[0].delivery_status"),
    "webhook-events-page/invalid-page-size-too-large": ("maximum", "$.pagination.page_size"),
    "webhook-failure/invalid-missing-reasons": ("required", "$.data"),
    "webhook-failure/invalid-with-appointments": ("maxItems", "$.data.appointments"),
    "webhook-list-response/invalid-url-item-missing-id": ("required", "$.webhook_urls[0]"),
    "webhook-mrn/invalid-locked-not-boolean": ("type", "$.data.appointments[0].locked"),
    "webhook-mrn/invalid-missing-created-by": ("required", "$.data.appointments[0]"),
    "webhook-reference-create-request/invalid-guide-field": ("additionalProperties", "$"),
    "webhook-reference-create-request/invalid-not-a-url": ("pattern", "$.url"),
    "webhook-reference-create-response/invalid-guide-answer": ("required", "$"),
    "webhook-reference-create-response/invalid-secret-prefix": ("pattern", "$.webhook.webhook_secret_key"),
    "webhook-reference-create-response.strict/invalid-undocumented-field": ("false", "$.webhook.events"),
    "webhook-reference-list-response/invalid-url-item-missing-id": ("required", "$.webhook_urls[0]"),
    "webhook-reference-rotate-response/invalid-guide-answer": ("required", "$"),
    "webhook-reference-rotate-response/invalid-missing-secret": ("required", "$.webhook"),
    "webhook-register-request/invalid-missing-webhook-url": ("required", "$"),
    "webhook-register-request/invalid-not-a-url": ("pattern", "$.webhook_url"),
    "webhook-register-request/invalid-reference-field": ("additionalProperties", "$"),
    "webhook-register-request/invalid-unknown-field": ("additionalProperties", "$"),
    "webhook-register-response/invalid-other-message": ("const", "$.message"),
    "webhook-rotate-response/invalid-missing-secret": ("required", "$"),
}

# Cobalt's examples from its fetch page, in page order, and the SHA-256 of each file: any change to a
# byte fails here even where the page itself is not at hand.
VERBATIM: dict[str, str] = {
    "fetch-request/valid-curl-example": "eec7c0420d1900335c55166f8b5d4054aa1d245a0c9e018a1efa444b055326de",
    "fetch-accepted/valid-documented": "ff6a371b724abf702dbd7d097852a18bec6f9845ae174c8d5d5a7c80d3919d26",
    "fetch-request/valid-documented-date-range": (
        "1a0de5113a21ae11c386031d5d45e2475999c2f4d7f177cce8dc452a81cc2246"
    ),
    "fetch-request/valid-documented-mrn": "456350a201f4ce29438c25fbbfdd33b1dd0675c2bb1512d4d241c2563d6aa2a3",
    "webhook-date-range/valid-documented": "849e6b366b3f1374282c8e53de5670937c6f4c74022764b25536754a48379f3e",
    "webhook-mrn/valid-documented": "fab542395a1022cef332a169635052b73614cb5d1386e330ed370da39914d080",
}


def path_of(fixture: str) -> Path:
    return FIXTURES / f"{fixture}.json"


def load(fixture: str) -> Any:
    return json.loads(path_of(fixture).read_text(encoding="utf-8"))


def schema_of(fixture: str) -> str:
    return fixture.split("/")[0]


def strict_of(schema: str) -> str | None:
    strict = f"{schema}.strict"
    return strict if strict in resources.schema_names() else None


def leaf_errors(errors: list[ValidationError]) -> Iterator[ValidationError]:
    """Every error, with those inside anyOf/oneOf branches (``context``) opened up."""
    for error in errors:
        if error.context:
            yield from leaf_errors(list(error.context))
        else:
            yield error


def errors(schema: str, instance: Any) -> list[ValidationError]:
    return list(resources.validator(schema).iter_errors(instance))


def test_fixtures_exist_and_are_named_by_the_rules() -> None:
    assert len(ALL) >= 60
    for fixture in ALL:
        folder, name = fixture.split("/")
        assert folder in resources.schema_names(), f"{fixture}: no schema named {folder!r}"
        assert re.fullmatch(r"(valid|invalid)-[a-z0-9]+(-[a-z0-9]+)*", name), fixture


def test_every_schema_but_common_has_a_valid_example() -> None:
    with_valid = {schema_of(f) for f in VALID}
    wanted = {n for n in resources.schema_names() if n != "common" and not n.endswith(".strict")}
    assert wanted <= with_valid, wanted - with_valid


def test_every_invalid_fixture_is_in_a_table_and_every_entry_has_a_file() -> None:
    fetch = {f"fetch-request/{name}" for name in FETCH_ERRORS}
    assert set(INVALID) == fetch | set(SCHEMA_ERRORS)
    assert not fetch & set(SCHEMA_ERRORS)


@pytest.mark.parametrize("fixture", VALID)
def test_valid_fixture_passes_its_schema(fixture: str) -> None:
    schema, instance = schema_of(fixture), load(fixture)
    assert [e.message for e in errors(schema, instance)] == []
    strict = strict_of(schema)
    if strict is None:
        return
    found = errors(strict, instance)
    if "/valid-undocumented-" in fixture:
        # It shows the open contract: what the real API may add, and what the fake never emits.
        assert found
        assert all(e.validator is None for e in leaf_errors(found))
    else:
        assert [f"{e.json_path}: {e.message}" for e in found] == []


WEBHOOKS = ("webhook-date-range", "webhook-provider", "webhook-mrn", "webhook-failure")


@pytest.mark.parametrize("fixture", [f for f in VALID if schema_of(f) in WEBHOOKS])
def test_valid_webhook_fixture_passes_the_union(fixture: str) -> None:
    instance = load(fixture)
    assert errors("webhook", instance) == []
    if "/valid-undocumented-" not in fixture:
        assert errors("webhook.strict", instance) == []


@pytest.mark.parametrize("fixture", [f for f in VALID if f.startswith("fetch-request/")])
def test_valid_fetch_body_is_accepted_by_the_fake(fixture: str) -> None:
    from mock_server.api.inputs import parse_fetch_request

    parse_fetch_request(load(fixture))


@pytest.mark.parametrize("name", sorted(FETCH_ERRORS))
def test_invalid_fetch_body_gets_cobalts_answer(name: str) -> None:
    from mock_server.api.inputs import parse_fetch_request
    from mock_server.errors import ApiError

    with pytest.raises(ApiError) as raised:
        parse_fetch_request(load(f"fetch-request/{name}"))
    kind, expected = FETCH_ERRORS[name]
    assert raised.value.status == 400
    if kind == "is":
        assert raised.value.message == expected
    else:
        assert expected in raised.value.message


@pytest.mark.parametrize("fixture", sorted(SCHEMA_ERRORS))
def test_invalid_fixture_fails_for_its_reason(fixture: str) -> None:
    found = errors(schema_of(fixture), load(fixture))
    assert found
    reasons = {
        ("false" if e.validator is None else str(e.validator), e.json_path) for e in leaf_errors(found)
    }
    assert SCHEMA_ERRORS[fixture] in reasons


@pytest.mark.parametrize("fixture", [f for f in ALL if f.split("/")[0].endswith(".strict")])
def test_strict_examples_pass_the_open_schema(fixture: str) -> None:
    # They are invalid only because of the undocumented field.
    assert errors(schema_of(fixture).removesuffix(".strict"), load(fixture)) == []


def test_error_examples_carry_documented_messages() -> None:
    assert load("error/valid-missing-dates")["message"] == MISSING_DATES


# Cobalt's documented examples, byte for byte.


def seed_blocks(text: str) -> list[str]:
    """The JSON blocks of the page: from a line ``{`` to the first line that closes valid JSON."""
    lines, blocks, i = text.splitlines(), [], 0
    while i < len(lines):
        if lines[i] == "{":
            for j in range(i + 1, len(lines)):
                candidate = "\n".join(lines[i : j + 1])
                try:
                    json.loads(candidate)
                except ValueError:
                    continue
                blocks.append(candidate)
                i = j
                break
        i += 1
    return blocks


def test_documented_examples_are_the_page_blocks_byte_for_byte() -> None:
    blocks = seed_blocks(SEED.read_text(encoding="utf-8"))
    assert len(blocks) == len(VERBATIM)
    for fixture, block in zip(VERBATIM, blocks, strict=True):
        assert path_of(fixture).read_bytes() == block.encode() + b"\n", fixture


@pytest.mark.parametrize("fixture", sorted(VERBATIM))
def test_documented_example_is_unchanged(fixture: str) -> None:
    assert hashlib.sha256(path_of(fixture).read_bytes()).hexdigest() == VERBATIM[fixture]


def test_documented_examples_keep_cobalts_quirks() -> None:
    webhook = path_of("webhook-date-range/valid-documented").read_text(encoding="utf-8")
    # Kept as published: a count of 42 for one appointment, dated outside the requested range.
    assert '        "appointment_count": 42,\n' in webhook
    assert '"datetime": "2025-01-15T10:00:00-05:00",' in webhook
    assert '"end_date": "2025-01-07",' in webhook
    curl = path_of("fetch-request/valid-curl-example").read_text(encoding="utf-8")
    assert curl.startswith('{\n  "search_by": "date_range",\n')
    assert '"mrn": "<string>"' in curl
