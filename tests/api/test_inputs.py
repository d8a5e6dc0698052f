"""Every validation row of cobalt-api.md §2, at the function level (the HTTP level is in test_app)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mock_server.api.inputs import (
    DEFAULTS,
    MSG_END_BEFORE_START,
    MSG_INVALID_DATE,
    MSG_MRN,
    MSG_NOT_JSON,
    MSG_NOT_OBJECT,
    MSG_PROVIDER_IDS,
    MSG_PROVIDER_RANGE_TOO_LONG,
    MSG_PROVIDERS_ONE_DAY,
    MSG_RANGE_TOO_LONG,
    MSG_SEARCH_BY,
    fetch_request_schema,
    fetch_request_validator,
    parse_bool_param,
    parse_choice,
    parse_date_range,
    parse_fetch_request,
    parse_int_param,
    parse_json_body,
    parse_webhook_url,
    plainly_valid,
    quick_fetch,
    validate_fetch_body,
)
from mock_server.errors import ApiError
from mock_server.model.jobs import FetchRequest
from mock_server.resources import data_dir, load_schema, read_json, validator
from mock_server.settings import Settings


def message(body: Any, settings: Settings = DEFAULTS) -> str:
    with pytest.raises(ApiError) as info:
        parse_fetch_request(body, settings)
    assert info.value.status == 400
    return info.value.message


def test_date_range_is_the_default_mode() -> None:
    req = parse_fetch_request({"start_date": "2025-01-01", "end_date": "2025-01-07"})
    assert req == FetchRequest("date_range", dt.date(2025, 1, 1), dt.date(2025, 1, 7))
    assert req.to_json() == {"search_by": "date_range", "start_date": "2025-01-01", "end_date": "2025-01-07"}


def test_documented_curl_body_is_accepted() -> None:
    body = {
        "search_by": "date_range",
        "start_date": "2023-12-25",
        "end_date": "2023-12-25",
        "mrn": "<string>",
    }
    assert parse_fetch_request(body).search_by == "date_range"


def test_mrn_mode() -> None:
    req = parse_fetch_request({"search_by": "mrn", "mrn": "12345"})
    assert req == FetchRequest("mrn", mrn="12345")
    assert req.to_json() == {"search_by": "mrn", "mrn": "12345"}


def test_provider_mode() -> None:
    one = parse_fetch_request(
        {
            "search_by": "provider",
            "start_date": "2025-01-01",
            "end_date": "2025-01-05",
            "provider_ids": ["p1"],
        }
    )
    assert one.provider_ids == ("p1",)
    many = parse_fetch_request(
        {
            "search_by": "provider",
            "start_date": "2025-01-01",
            "end_date": "2025-01-01",
            "provider_ids": [f"p{i}" for i in range(10)],
        }
    )
    assert len(many.provider_ids) == 10
    assert many.to_json()["provider_ids"] == [f"p{i}" for i in range(10)]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, "Missing required parameters: start_date, end_date."),
        ({"start_date": "2025-01-01"}, "Missing required parameters: end_date."),
        ({"end_date": "2025-01-01"}, "Missing required parameters: start_date."),
        ({"start_date": None, "end_date": ""}, "Missing required parameters: start_date, end_date."),
        ({"search_by": "date_range"}, "Missing required parameters: start_date, end_date."),
        (
            {"search_by": "provider", "provider_ids": ["a"]},
            "Missing required parameters: start_date, end_date.",
        ),
        (
            {"search_by": "provider", "start_date": "2025-01-01", "end_date": "2025-01-01"},
            "Missing required parameters: provider_ids.",
        ),
        ({"search_by": "mrn"}, "Missing required parameters: mrn."),
        ({"search_by": "mrn", "mrn": ""}, "Missing required parameters: mrn."),
        ({"search_by": "mrn", "mrn": None}, "Missing required parameters: mrn."),
    ],
)
def test_missing_parameters_are_named(body: dict[str, Any], expected: str) -> None:
    assert message(body) == expected


@pytest.mark.parametrize(
    "value",
    [
        "2025/01/01",
        "01-01-2025",
        "2025-1-1",
        "2025-01-01T00:00:00",
        "20250101",
        "2025-02-30",
        "2025-13-01",
        20250101,
        ["2025-01-01"],
        True,
    ],
)
def test_invalid_dates(value: Any) -> None:
    assert message({"start_date": value, "end_date": "2025-01-01"}) == MSG_INVALID_DATE
    assert message({"start_date": "2025-01-01", "end_date": value}) == MSG_INVALID_DATE


def test_leap_day_is_a_real_date() -> None:
    assert parse_fetch_request({"start_date": "2024-02-29", "end_date": "2024-03-01"}).end_date == dt.date(
        2024, 3, 1
    )
    assert message({"start_date": "2025-02-29", "end_date": "2025-03-01"}) == MSG_INVALID_DATE


def test_end_before_start() -> None:
    assert message({"start_date": "2025-01-02", "end_date": "2025-01-01"}) == MSG_END_BEFORE_START


def test_same_day_is_allowed() -> None:
    assert parse_fetch_request({"start_date": "2025-01-01", "end_date": "2025-01-01"}).end_date == dt.date(
        2025, 1, 1
    )


def test_seven_days_inclusive_is_the_limit() -> None:
    parse_fetch_request({"start_date": "2025-01-01", "end_date": "2025-01-07"})
    assert message({"start_date": "2025-01-01", "end_date": "2025-01-08"}) == MSG_RANGE_TOO_LONG
    assert message({"start_date": "2024-12-28", "end_date": "2025-01-05"}) == MSG_RANGE_TOO_LONG


@given(st.dates(), st.integers(min_value=0, max_value=40))
def test_range_rule_for_any_dates(start: dt.date, days: int) -> None:
    try:
        end = start + dt.timedelta(days=days)
    except OverflowError:
        return
    body = {"start_date": start.isoformat(), "end_date": end.isoformat()}
    if days <= 6:
        assert parse_fetch_request(body).start_date == start
    else:
        assert message(body) == MSG_RANGE_TOO_LONG


def test_provider_rules() -> None:
    def body(start: str, end: str, ids: list[str]) -> dict[str, Any]:
        return {"search_by": "provider", "start_date": start, "end_date": end, "provider_ids": ids}

    assert message(body("2025-01-01", "2025-01-06", ["a"])) == MSG_PROVIDER_RANGE_TOO_LONG
    assert message(body("2025-01-01", "2025-01-02", ["a", "b"])) == MSG_PROVIDERS_ONE_DAY
    assert message(body("2025-01-02", "2025-01-01", ["a"])) == MSG_END_BEFORE_START
    assert message(body("2025-01-01", "2025-01-01", [f"p{i}" for i in range(11)])) == MSG_PROVIDER_IDS
    assert message(body("2025-01-01", "2025-01-01", [])) == MSG_PROVIDER_IDS
    assert message(body("2025-01-01", "2025-01-01", ["a", "a"])) == MSG_PROVIDER_IDS
    assert message(body("2025-01-01", "2025-01-01", [""])) == MSG_PROVIDER_IDS
    assert message(body("2025-01-01", "2025-01-01", [7])) == MSG_PROVIDER_IDS  # type: ignore[list-item]
    assert message({**body("2025-01-01", "2025-01-01", ["a"]), "provider_ids": "a"}) == MSG_PROVIDER_IDS


def test_at_the_defaults_the_messages_are_cobalts_documented_ones() -> None:
    assert (MSG_RANGE_TOO_LONG, MSG_PROVIDER_RANGE_TOO_LONG, MSG_PROVIDERS_ONE_DAY, MSG_PROVIDER_IDS) == (
        "Date range cannot exceed 7 days.",
        "Date range cannot exceed 5 days when fetching a single provider.",
        "start_date must equal end_date when fetching 2 to 10 providers.",
        "Invalid provider_ids. It must be an array of 1 to 10 distinct, non-empty strings.",
    )


def _provider(days: int, count: int) -> dict[str, Any]:
    end = dt.date(2025, 1, 6) + dt.timedelta(days=days - 1)
    ids = [f"p{n}" for n in range(count)]
    return {
        "search_by": "provider",
        "start_date": "2025-01-06",
        "end_date": end.isoformat(),
        "provider_ids": ids,
    }


def test_each_rule_reads_its_setting_and_names_the_configured_limit() -> None:
    week = {"start_date": "2025-01-06", "end_date": "2025-01-12"}
    eight, nine = {**week, "end_date": "2025-01-13"}, {**week, "end_date": "2025-01-14"}
    lax = DEFAULTS.replace(max_range_days=8)
    assert parse_fetch_request(eight, lax).end_date == dt.date(2025, 1, 13)
    assert message(nine, lax) == "Date range cannot exceed 8 days."
    assert message(week, DEFAULTS.replace(max_range_days=1)) == "Date range cannot exceed 1 day."

    six = DEFAULTS.replace(max_single_provider_days=6)
    assert parse_fetch_request(_provider(6, 1), six).provider_ids == ("p0",)
    assert message(_provider(7, 1), six) == "Date range cannot exceed 6 days when fetching a single provider."

    spanning = DEFAULTS.replace(multi_provider_same_day=False)
    assert parse_fetch_request(_provider(5, 3), spanning).end_date == dt.date(2025, 1, 10)
    assert message(_provider(6, 3), spanning) == "Date range cannot exceed 5 days when fetching providers."
    assert message(_provider(2, 3)) == MSG_PROVIDERS_ONE_DAY

    three, twelve = DEFAULTS.replace(max_providers=3), DEFAULTS.replace(max_providers=12)
    assert message(_provider(1, 4), three) == (
        "Invalid provider_ids. It must be an array of 1 to 3 distinct, non-empty strings."
    )
    assert message(_provider(2, 2), three) == "start_date must equal end_date when fetching 2 to 3 providers."
    assert len(parse_fetch_request(_provider(1, 12), twelve).provider_ids) == 12
    assert message(_provider(1, 13), twelve) == (
        "Invalid provider_ids. It must be an array of 1 to 12 distinct, non-empty strings."
    )


@pytest.mark.parametrize("value", ["bogus", 1, ["mrn"], "MRN", "dateRange"])
def test_unknown_search_by(value: Any) -> None:
    assert message({"search_by": value, "mrn": "1"}) == MSG_SEARCH_BY


@pytest.mark.parametrize("value", ["", None])
def test_blank_search_by_is_the_default_mode(value: Any) -> None:
    assert message({"search_by": value, "mrn": "1"}) == "Missing required parameters: start_date, end_date."


@pytest.mark.parametrize("value", [5, ["1"], {"a": 1}, True])
def test_mrn_must_be_a_string(value: Any) -> None:
    assert message({"search_by": "mrn", "mrn": value}) == MSG_MRN


@pytest.mark.parametrize("body", [[], "x", 1, None, True, [{"start_date": "2025-01-01"}]])
def test_body_must_be_an_object(body: Any) -> None:
    assert message(body) == MSG_NOT_OBJECT


def test_unknown_fields_are_named() -> None:
    msg = message({"start_date": "2025-01-01", "end_date": "2025-01-01", "startDate": "x", "z" * 100: 1})
    assert msg.startswith("Unknown field(s) in request body: startDate, ")
    assert len(msg) < 120


@pytest.mark.parametrize("raw", [b"", b"{", b"nope", b"\xff\xfe", b'{"a": NaN}', b'{"a":"\\ud800"}'])
def test_bad_json(raw: bytes) -> None:
    with pytest.raises(ApiError) as info:
        parse_json_body(raw)
    assert (info.value.status, info.value.message) == (400, MSG_NOT_JSON)


def test_query_date_range() -> None:
    assert parse_date_range({"start_date": "2025-01-01", "end_date": "2025-03-01"}) == (
        dt.date(2025, 1, 1),
        dt.date(2025, 3, 1),
    )
    for params, msg in [
        ({}, "Missing required parameters: start_date, end_date."),
        ({"start_date": "2025-01-01"}, "Missing required parameters: end_date."),
        ({"start_date": "x", "end_date": "2025-01-01"}, MSG_INVALID_DATE),
        ({"start_date": "2025-01-02", "end_date": "2025-01-01"}, MSG_END_BEFORE_START),
    ]:
        with pytest.raises(ApiError) as info:
            parse_date_range(params)
        assert info.value.message == msg


@pytest.mark.parametrize(
    ("api", "field", "other"), [("guide", "webhook_url", "url"), ("reference", "url", "webhook_url")]
)
def test_webhook_url(api: str, field: str, other: str) -> None:
    assert parse_webhook_url({field: "https://example.com/hook"}, api) == "https://example.com/hook"
    assert parse_webhook_url({field: "http://127.0.0.1:9/x"}, api) == "http://127.0.0.1:9/x"
    named = "the guide's" if api == "guide" else "the API reference's"
    for body, message in [
        ({}, f"Missing required parameters: {field}."),
        ({field: ""}, f"Missing required parameters: {field}."),
        ({field: None}, f"Missing required parameters: {field}."),
        (
            {other: "https://example.com/hook"},
            f"Unknown field {other}; this server follows {named} webhook API ({field}).",
        ),
        (
            {field: "https://example.com/hook", "x": 1, other: ""},
            f"Unknown fields x, {other}; this server follows {named} webhook API ({field}).",
        ),
    ]:
        with pytest.raises(ApiError) as info:
            parse_webhook_url(body, api)
        assert (info.value.status, info.value.message) == (400, message)
    for body, fragment in [
        ({field: "ftp://x"}, f"Invalid {field}"),
        ({field: "not a url"}, f"Invalid {field}"),
        ({field: 5}, f"Invalid {field}"),
        ({field: "http://"}, f"Invalid {field}"),
        ({field: "http://host:99999/"}, f"Invalid {field}"),
        ([], "JSON object"),
    ]:
        with pytest.raises(ApiError) as info:
            parse_webhook_url(body, api)
        assert fragment in info.value.message


def test_query_helpers() -> None:
    assert parse_int_param({}, "page", 1, 1, 10) == 1
    assert parse_int_param({"page": "3"}, "page", 1, 1, 10) == 3
    for bad in ["0", "11", "-1", "x", "١"]:
        with pytest.raises(ApiError, match="Invalid page"):
            parse_int_param({"page": bad}, "page", 1, 1, 10)
    assert parse_choice({}, "sort", ("a",)) is None
    assert parse_choice({"sort": "a"}, "sort", ("a",)) == "a"
    assert parse_choice({"sort": ""}, "sort", ("a",)) is None  # empty is left out (allowEmptyValue)
    assert parse_int_param({"page": ""}, "page", 1, 1, 10) == 1
    with pytest.raises(ApiError, match="Must be one of: a"):
        parse_choice({"sort": "b"}, "sort", ("a",))
    assert parse_bool_param({"include_note": "true"}, "include_note") is True
    assert parse_bool_param({}, "include_note") is False


# The hand-written fast path for the fetch body agrees with the schema, which stays the authority.

_DATE_TEXT = st.one_of(
    st.dates().map(dt.date.isoformat),
    st.sampled_from(["2025-02-29", "2024-02-29", "2025-13-01", "0000-01-01", "2025-1-01", "20250101"]),
    st.sampled_from(["2025-01-01\n", " 2025-01-01", "２０２５-01-01", "٢٠٢٥-01-01", "2025-01-01T00:00"]),
    st.text(max_size=11),
)
_FIELD_VALUES = {
    "search_by": st.one_of(
        st.sampled_from(["date_range", "mrn", "provider", "", "MRN"]), st.none(), st.booleans()
    ),
    "start_date": st.one_of(_DATE_TEXT, st.none(), st.integers()),
    "end_date": st.one_of(_DATE_TEXT, st.none(), st.integers()),
    "mrn": st.one_of(
        st.text(max_size=4), st.none(), st.integers(), st.lists(st.text(max_size=2), max_size=1)
    ),
    "provider_ids": st.one_of(
        st.lists(st.one_of(st.text(max_size=3), st.integers(), st.none()), max_size=12),
        st.text(max_size=3),
        st.none(),
    ),
}
_GOOD_VALUES = {
    "start_date": st.dates().map(dt.date.isoformat),
    "end_date": st.dates().map(dt.date.isoformat),
    "mrn": st.text(min_size=1, max_size=4),
    "provider_ids": st.lists(st.text(min_size=1, max_size=3), min_size=1, max_size=10),
}
_NEEDS = {"mrn": ("mrn",), "provider": ("start_date", "end_date", "provider_ids")}


def _shaped(mode: str | None) -> st.SearchStrategy[dict[str, Any]]:
    """A body of ``mode`` (None: search_by left out) with what it needs, and maybe odd extras."""
    needs = _NEEDS.get(mode or "", ("start_date", "end_date"))
    required = {name: _GOOD_VALUES[name] for name in needs}
    if mode is not None:
        required["search_by"] = st.just(mode)
    optional = {
        name: st.one_of(_GOOD_VALUES[name], _FIELD_VALUES[name]) for name in _GOOD_VALUES if name not in needs
    }
    return st.fixed_dictionaries(required, optional={**optional, "extra": st.integers()})


_BODIES = st.one_of(
    st.fixed_dictionaries({}, optional={**_FIELD_VALUES, "extra": st.integers(), "mrN": st.none()}),
    st.sampled_from([None, "date_range", "mrn", "provider"]).flatmap(_shaped),
)


@given(_BODIES, st.sampled_from([10, 1, 3, 11]))
def test_hand_check_agrees_with_the_fetch_request_schema(body: dict[str, Any], most: int) -> None:
    assert plainly_valid(body, most) == fetch_request_validator(most).is_valid(body)


def test_the_schema_follows_max_providers_and_is_the_file_at_the_default() -> None:
    assert fetch_request_schema(10) == load_schema("fetch-request")
    assert fetch_request_validator(10) is validator("fetch-request")
    twelve = _provider(1, 12)
    assert [fetch_request_validator(n).is_valid(twelve) for n in (10, 11, 12)] == [False, False, True]
    assert json.dumps(fetch_request_schema(12)).count('"maxItems": 12') == 2


def test_hand_check_takes_every_valid_fixture() -> None:
    valid = sorted(data_dir("fixtures").joinpath("fetch-request").glob("valid-*.json"))
    assert valid
    for path in valid:
        body = read_json(path)
        assert plainly_valid(body), path.name
    for path in data_dir("fixtures").joinpath("fetch-request").glob("invalid-*.json"):
        body = read_json(path)
        if isinstance(body, dict) and not validator("fetch-request").is_valid(body):
            assert not plainly_valid(body), path.name


# The quick path for the two common shapes agrees with the general path wherever it answers.

_NEAR_RANGES = st.builds(
    lambda start, days, mode, extra: {
        "start_date": start.isoformat(),
        "end_date": (start + dt.timedelta(days=days)).isoformat(),
        **({"search_by": mode} if mode else {}),
        **extra,
    },
    st.dates(max_value=dt.date(9000, 1, 1)),
    st.integers(-2, 9),
    st.sampled_from([None, "date_range", "mrn", "provider"]),
    st.fixed_dictionaries({}, optional={"mrn": _FIELD_VALUES["mrn"], "provider_ids": st.just(["p"])}),
)


@given(st.one_of(_BODIES, _NEAR_RANGES), st.sampled_from([7, 1, 8]))
def test_quick_path_agrees_with_the_general_path(body: dict[str, Any], max_range_days: int) -> None:
    quick = quick_fetch(body, max_range_days)
    if quick is None:
        return
    rules = DEFAULTS.replace(max_range_days=max_range_days)
    assert quick == validate_fetch_body(body, rules)
    assert parse_fetch_request(body, rules) == quick


def test_quick_path_takes_the_common_shapes_and_leaves_the_rest() -> None:
    week = {"start_date": "2025-01-06", "end_date": "2025-01-12"}
    assert quick_fetch(week) == FetchRequest("date_range", dt.date(2025, 1, 6), dt.date(2025, 1, 12))
    assert quick_fetch({**week, "search_by": "date_range"}) == quick_fetch(week)
    assert quick_fetch({"search_by": "mrn", "mrn": "12345"}) == FetchRequest("mrn", mrn="12345")
    for other in [
        {**week, "end_date": "2025-01-13"},  # 8 days: the general path words the error
        {**week, "end_date": "2025-01-05"},
        {**week, "start_date": "2025-02-30"},
        {**week, "mrn": "1"},  # the documented curl body: accepted, by the general path
        {"search_by": "mrn", "mrn": ""},
        {"search_by": "provider", "provider_ids": ["p"], **week},
    ]:
        assert quick_fetch(other) is None, other
