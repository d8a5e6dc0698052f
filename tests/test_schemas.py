"""schemas/: each file is a sound 2020-12 schema, refs resolve, and the open/strict pairs behave.

The core property (as in hypothesis-jsonschema): instances drawn from hand-made strategies that follow
Cobalt's documented shapes pass both the open and the strict schema; an undocumented field anywhere
passes the open one and fails the strict one; a documented field removed fails both.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from mock_server import resources

NAMES = resources.schema_names()
STRICT = tuple(n for n in NAMES if n.endswith(".strict"))
REQUESTS = ("fetch-request", "webhook-reference-create-request", "webhook-register-request")
# Open response and webhook schemas: each has a strict wrapper. health is the fake's own, always open.
RESPONSES = (
    "appointments-page",
    "error",
    "fetch-accepted",
    "webhook",
    "webhook-date-range",
    "webhook-delete-response",
    "webhook-events-page",
    "webhook-failure",
    "webhook-list-response",
    "webhook-mrn",
    "webhook-provider",
    "webhook-reference-create-response",
    "webhook-reference-list-response",
    "webhook-reference-rotate-response",
    "webhook-register-response",
    "webhook-rotate-response",
)
HOOK = {"$dynamicRef": "common.json#extra"}
OPTIONAL_FIELDS = {"note"}  # cached appointment: only with include_note=true


def walk(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every (json-pointer-ish path, sub-node) of a JSON value, the root included."""
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, f"{path}/{index}")


def errors(name: str, instance: Any) -> list[str]:
    return [f"{e.json_path}: {e.message}" for e in resources.validator(name).iter_errors(instance)]


def test_every_schema_is_accounted_for() -> None:
    assert set(NAMES) == {"common", "health", *REQUESTS, *RESPONSES, *STRICT}
    assert set(STRICT) == {f"{n}.strict" for n in RESPONSES}


@pytest.mark.parametrize("name", NAMES)
def test_schema_is_valid_2020_12_with_id_title_and_description(name: str) -> None:
    schema = resources.load_schema(name)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"{resources.SCHEMA_BASE}{name}.json"
    assert schema["title"].strip()
    assert schema["description"].strip()


@pytest.mark.parametrize("name", NAMES)
def test_every_ref_resolves_through_the_registry(name: str) -> None:
    schema = resources.load_schema(name)
    resolver = resources.registry().resolver(base_uri=schema["$id"])
    refs = [
        (p, n[k]) for p, n in walk(schema) if isinstance(n, dict) for k in ("$ref", "$dynamicRef") if k in n
    ]
    for path, ref in refs:
        resolved = resolver.lookup(ref)
        assert isinstance(resolved.contents, dict | bool), f"{name}{path}: {ref}"
    if name != "common":
        assert refs or name in ("health", *REQUESTS[1:]), "expected shared pieces via $ref"


@pytest.mark.parametrize("name", [*RESPONSES, "common"])
def test_every_object_cobalt_sends_carries_the_extra_hook(name: str) -> None:
    for path, node in walk(resources.load_schema(name)):
        if isinstance(node, dict) and node.get("type") == "object" and "properties" in node:
            assert node.get("additionalProperties") == HOOK, f"{name}{path}"


@pytest.mark.parametrize("name", REQUESTS)
def test_requests_are_closed(name: str) -> None:
    assert resources.load_schema(name)["additionalProperties"] is False


@pytest.mark.parametrize("name", RESPONSES)
def test_strict_wrapper_has_the_one_form(name: str) -> None:
    wrapper = resources.load_schema(f"{name}.strict")
    assert wrapper["$ref"] == f"{name}.json"
    assert wrapper["$defs"] == {"extra": {"$dynamicAnchor": "extra", "allOf": [False]}}
    assert set(wrapper) == {"$schema", "$id", "title", "description", "$ref", "$defs"}


def test_open_anchor_allows_anything() -> None:
    assert set(resources.load_schema("common")["$defs"]["extra"]) == {"$dynamicAnchor", "description"}


# Minimal valid instances: every documented field, nothing else.
ENVELOPE = {
    "id": "evt_1",
    "access_token_reference_id": "user_1",
    "job_id": "job_1",
    "timestamp": "2025-01-01T00:00:00Z",
    "type": "appointment.live_fetch_completed",
    "action": "sync",
}
RANGE_ITEM = {
    "id": "appt_1",
    "datetime": "2025-01-01T09:00:00-05:00",
    "appointment_type": "Office Visit",
    "status": "CHK (Check Out)",
    "provider_ehr_id": "prov_1",
    "location": "Main Office",
}
MRN_ITEM = {
    "ehr_appointment_id": "1",
    "datetime": "2025-01-01T09:00:00.000-05:00",
    "appointment_type": "OV (Office Visit)",
    "status": "PEN (Pending)",
    "provider_ehr_id": "prov_1",
    "provider_first_name": "Jane",
    "provider_last_name": "Smith",
    "reason": "",
    "location": "Main Office",
    "locked": False,
    "created_at": "2024-12-01T08:00:00.000-05:00",
    "created_by": "Doe, John",
}
RANGE_DATA = {"success": True, "appointment_count": 1, "start_date": "2025-01-01", "end_date": "2025-01-01"}
MRN_DATA = {"success": True, "search_by": "mrn", "mrn": "12345", "appointment_count": 1}
FAILURE = {
    "appointment_count": 0,
    "appointments": [],
    "failure_reason": "x",
    "reasons": [{"code": "c", "description": "d"}],
}
CACHED = {
    "id": "a1",
    "ehr_appointment_id": "1",
    "datetime": "2025-01-01T09:00:00-05:00",
    "duration": 30,
    "status": "PEN (Pending)",
    "appointment_type": "Office Visit",
    "appointment_mode": "office",
    "location": "Main Office",
    "reason": "Checkup",
    "note": "n",
    "patient_name": "Lopez, Ana",
    "patient_first_name": "Ana",
    "patient_last_name": "Lopez",
    "patient_mrn": "104522",
    "patient_dob": "1968-03-14",
    "patient_phone": "5552013344",
    "provider_ehr_id": "prov_1",
    "provider_name": "Smith, Jane",
    "created_at": "2024-12-01T08:00:00Z",
}
SECRET = {"webhook_secret_key": "whsec_1"}
MINIMAL: dict[str, dict[str, Any]] = {
    "fetch-accepted": {"success": True, "message": "ok", "job_id": "job_1"},
    "error": {"success": False, "message": "No."},
    "webhook-date-range": {**ENVELOPE, "data": {**RANGE_DATA, "appointments": [RANGE_ITEM]}},
    "webhook-provider": {**ENVELOPE, "data": {**RANGE_DATA, "appointments": [RANGE_ITEM]}},
    "webhook-mrn": {**ENVELOPE, "data": {**MRN_DATA, "appointments": [MRN_ITEM]}},
    "webhook-failure": {
        **ENVELOPE,
        "data": {"success": False, "start_date": "2025-01-01", "end_date": "2025-01-01", **FAILURE},
    },
    "webhook": {**ENVELOPE, "data": {"success": False, "search_by": "mrn", "mrn": "1", **FAILURE}},
    "webhook-events-page": {
        "success": True,
        "webhook_events": [
            {
                "event_id": "evt_1",
                "event_type": "appointment.live_fetch_completed",
                "webhook_url": None,
                "delivery_status": "pending",
                "data": {**MRN_DATA, "appointments": [MRN_ITEM]},
                "created_at": "2025-01-01T00:00:00.000Z",
                "job_id": "job_1",
                "access_token_reference_id": "user_1",
            }
        ],
        "pagination": {"current_page": 1, "total_pages": 1, "total_count": 1, "page_size": 50},
    },
    "appointments-page": {"success": True, "appointments": [CACHED]},
    "webhook-register-response": {"success": True, "message": "Webhook registered successfully", **SECRET},
    "webhook-list-response": {
        "success": True,
        "webhook_url": "https://example.com/h",
        "webhook_urls": [{"id": "wh_1", "url": "https://example.com/h"}],
        **SECRET,
    },
    "webhook-delete-response": {"success": True, "message": "Webhook URL removed successfully"},
    "webhook-rotate-response": {"success": True, "message": "Rotated.", **SECRET},
    "webhook-reference-create-response": {
        "success": True,
        "webhook": {"webhook_id": "wh_1", "webhook_url": "https://example.com/h", **SECRET},
    },
    "webhook-reference-list-response": {
        "success": True,
        "webhook_url": "https://example.com/h",
        "webhook_urls": [{"id": "wh_1", "url": "https://example.com/h"}],
    },
    "webhook-reference-rotate-response": {"success": True, "webhook": {"id": "wh_1", "secret": "whsec_2"}},
}


def object_paths(instance: Any) -> list[tuple[Any, ...]]:
    """The key path of every object in ``instance`` (the root is ``()``)."""
    out: list[tuple[Any, ...]] = []

    def visit(node: Any, path: tuple[Any, ...]) -> None:
        if isinstance(node, dict):
            out.append(path)
            for key, value in node.items():
                visit(value, (*path, key))
        elif isinstance(node, list):
            for index, value in enumerate(node):
                visit(value, (*path, index))

    visit(instance, ())
    return out


def at(instance: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        instance = instance[step]
    return instance


def test_minimal_instances_cover_every_response() -> None:
    assert set(MINIMAL) == set(RESPONSES)


@pytest.mark.parametrize("name", RESPONSES)
def test_minimal_instance_passes_open_and_strict(name: str) -> None:
    assert errors(name, MINIMAL[name]) == []
    assert errors(f"{name}.strict", MINIMAL[name]) == []


@pytest.mark.parametrize("name", RESPONSES)
def test_removing_any_documented_field_fails(name: str) -> None:
    instance = MINIMAL[name]
    removals = [(p, k) for p in object_paths(instance) for k in at(instance, p) if k not in OPTIONAL_FIELDS]
    assert removals
    for path, key in removals:
        broken = copy.deepcopy(instance)
        del at(broken, path)[key]
        where = "/".join(map(str, (*path, key)))
        assert errors(name, broken), f"{name}: still valid without {where}"
        assert errors(f"{name}.strict", broken), f"{name}.strict: still valid without {where}"


@pytest.mark.parametrize("name", RESPONSES)
def test_extra_field_anywhere_passes_open_fails_strict(name: str) -> None:
    instance = MINIMAL[name]
    for path in object_paths(instance):
        extended = copy.deepcopy(instance)
        at(extended, path)["x_undocumented"] = {"any": ["thing"]}
        assert errors(name, extended) == [], path
        found = errors(f"{name}.strict", extended)
        assert found, f"{name}.strict accepted an extra field at {path}"


def test_strict_error_points_at_the_extra_field() -> None:
    instance = copy.deepcopy(MINIMAL["webhook-mrn"])
    instance["data"]["appointments"][0]["npi"] = "1234567890"
    (error,) = resources.validator("webhook-mrn.strict").iter_errors(instance)
    assert error.json_path == "$.data.appointments[0].npi"
    assert "False schema does not allow" in error.message


def test_webhook_provider_has_the_date_range_shape() -> None:
    assert resources.load_schema("webhook-provider")["$ref"] == "webhook-date-range.json"


def test_optional_note_only_in_cached_appointments() -> None:
    cached = resources.load_schema("common")["$defs"]["cached-appointment"]
    assert set(cached["properties"]) - set(cached["required"]) == OPTIONAL_FIELDS
    without = {"success": True, "appointments": [{k: v for k, v in CACHED.items() if k != "note"}]}
    assert errors("appointments-page.strict", without) == []
    assert list(cached["properties"]) == list(CACHED)  # the documented key order


@pytest.mark.parametrize(
    ("definition", "good", "bad"),
    [
        ("date", ["2025-01-01", "2024-02-29"], ["2025-1-1", "2025-02-30", "2025-01-01T00:00:00Z", 20250101]),
        (
            "datetime",
            ["2025-01-15T10:00:00-05:00", "2025-04-07T13:00:00.000-07:00", "2025-01-15T10:00:00+00:00"],
            ["2025-01-15T10:00:00", "2025-01-15 10:00:00-05:00", "2025-01-15T10:00:00Z", "2025-01-15"],
        ),
        (
            "timestamp",
            ["2023-10-28T11:00:00Z", "2025-02-20T07:52:02.000-08:00", "2025-01-01T00:00:00.123456Z"],
            ["2023-10-28T11:00:00", "2023-10-28", "2023-13-28T11:00:00Z", "yesterday"],
        ),
    ],
)
def test_date_and_time_forms(definition: str, good: list[Any], bad: list[Any]) -> None:
    check = Draft202012Validator(
        {"$ref": f"{resources.SCHEMA_BASE}common.json#/$defs/{definition}"},
        registry=resources.registry(),
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )
    for value in good:
        assert check.is_valid(value), value
    for value in bad:
        assert not check.is_valid(value), value


# Hand-made strategies for the webhooks the fake emits.
ids = st.from_regex(r"[A-Za-z0-9]{1,12}", fullmatch=True)
text = st.text(max_size=20)
days = st.dates(dt.date(2000, 1, 1), dt.date(2099, 12, 31))
offsets = st.integers(-12 * 4, 14 * 4).map(lambda q: dt.timezone(dt.timedelta(minutes=15 * q)))
local_times = st.builds(
    lambda day, minute, tz, millis: (
        dt.datetime.combine(day, dt.time(), tz)
        .replace(hour=minute // 60, minute=minute % 60)
        .isoformat(timespec="milliseconds" if millis else "seconds")
    ),
    days,
    st.integers(0, 24 * 60 - 1),
    offsets,
    st.booleans(),
)
stamps = st.one_of(
    local_times,
    st.datetimes(dt.datetime(2000, 1, 1), dt.datetime(2099, 1, 1)).map(lambda d: d.isoformat() + "Z"),
)
envelopes = st.fixed_dictionaries(
    {
        "id": ids.map("evt_{}".format),
        "access_token_reference_id": ids.map("user_{}".format),
        "job_id": ids.map("job_{}".format),
        "timestamp": stamps,
        "type": st.just("appointment.live_fetch_completed"),
        "action": st.just("sync"),
    }
)
range_items = st.fixed_dictionaries(
    {
        "id": ids,
        "datetime": local_times,
        "appointment_type": text,
        "status": st.sampled_from(["CHK (Check Out)", "PEN (Pending)", "CANC", "R/S"]),
        "provider_ehr_id": ids,
        "location": text,
    }
)
mrn_items = st.fixed_dictionaries(
    {
        "ehr_appointment_id": ids,
        "datetime": local_times,
        "appointment_type": text,
        "status": text,
        "provider_ehr_id": ids,
        "provider_first_name": text,
        "provider_last_name": text,
        "reason": text,
        "location": text,
        "locked": st.booleans(),
        "created_at": stamps,
        "created_by": text,
    }
)


def _range_data(start: dt.date, span: int, items: list[dict[str, Any]]) -> dict[str, Any]:
    end = start + dt.timedelta(days=span)
    return {
        "success": True,
        "appointment_count": len(items),
        "start_date": start.isoformat(),
        "end_date": end.isoformat(),
        "appointments": items,
    }


range_data = st.builds(_range_data, days, st.integers(0, 6), st.lists(range_items, max_size=4))
mrn_data = st.builds(
    lambda mrn, items: {
        "success": True,
        "search_by": "mrn",
        "mrn": mrn,
        "appointment_count": len(items),
        "appointments": items,
    },
    st.from_regex(r"[0-9]{1,8}", fullmatch=True),
    st.lists(mrn_items, max_size=4),
)
reasons = st.lists(st.fixed_dictionaries({"code": ids, "description": text}), min_size=1, max_size=3)
failure_data = st.builds(
    lambda base, reason, why: {
        **{k: v for k, v in base.items() if k not in ("appointment_count", "appointments")},
        "success": False,
        "appointment_count": 0,
        "appointments": [],
        "failure_reason": reason,
        "reasons": why,
    },
    st.one_of(range_data, mrn_data),
    text.filter(bool),
    reasons,
)
webhooks = st.tuples(
    envelopes,
    st.one_of(
        range_data.map(lambda d: ("webhook-date-range", d)),
        mrn_data.map(lambda d: ("webhook-mrn", d)),
        failure_data.map(lambda d: ("webhook-failure", d)),
    ),
).map(lambda pair: (pair[1][0], {**pair[0], "data": pair[1][1]}))

PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(webhooks)
def test_drawn_webhooks_pass_open_and_strict(drawn: tuple[str, dict[str, Any]]) -> None:
    name, payload = drawn
    for schema in (name, f"{name}.strict", "webhook", "webhook.strict"):
        assert errors(schema, payload) == [], schema


@PROPERTY
@given(webhooks, st.data())
def test_drawn_webhooks_with_an_extra_field(drawn: tuple[str, dict[str, Any]], data: st.DataObject) -> None:
    name, payload = drawn
    path = data.draw(st.sampled_from(object_paths(payload)))
    at(payload, path)[data.draw(ids.map("x_{}".format))] = data.draw(st.none() | text | st.integers())
    assert errors(name, payload) == []
    assert errors("webhook", payload) == []
    assert errors(f"{name}.strict", payload)
    assert errors("webhook.strict", payload)


@PROPERTY
@given(webhooks, st.data())
def test_drawn_webhooks_without_a_field(drawn: tuple[str, dict[str, Any]], data: st.DataObject) -> None:
    name, payload = drawn
    path = data.draw(st.sampled_from(object_paths(payload)))
    key = data.draw(st.sampled_from(sorted(at(payload, path))))
    del at(payload, path)[key]
    assert errors(name, payload)
    assert errors("webhook", payload)
