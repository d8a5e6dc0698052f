"""The behaviour catalogue: parameters, magic values and the scenario header."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from mock_server.errors import ConfigError
from mock_server.model.behaviours import (
    API_BEHAVIOURS,
    BEHAVIOURS,
    behaviour,
    header_behaviours,
    magic_behaviours,
    number,
    parse_magic,
    parse_params,
)
from mock_server.model.jobs import FetchRequest

DAY = dt.date(2025, 1, 6)


def mrn(value: str) -> FetchRequest:
    return FetchRequest("mrn", mrn=value)


def providers(*ids: str) -> FetchRequest:
    return FetchRequest("provider", DAY, DAY, provider_ids=ids)


def test_the_catalogue() -> None:
    assert list(BEHAVIOURS) == [
        "ehr_failure",
        "empty",
        "large",
        "slow",
        "api_429",
        "api_500",
        "api_timeout",
        "duplicate_delivery",
        "out_of_order",
        "bad_signature",
        "old_secret",
        "never_complete",
    ]
    assert {"api_429", "api_500", "api_timeout"} == API_BEHAVIOURS
    assert behaviour("empty").to_json()["magic_mrn"] == "mock-empty"
    assert behaviour("api_429").to_json()["magic_provider_id"] == "prov_mock_api_429_N"
    with pytest.raises(ConfigError, match="unknown behaviour 5"):
        behaviour(5)


@pytest.mark.parametrize(
    ("name", "given", "expected"),
    [
        ("slow", {"delay": 2}, {"delay": "2"}),
        ("slow", {"delay": "1..3"}, {"delay": "1..3"}),
        ("slow", None, {"delay": "30"}),
        ("api_429", {"retry_after": "5"}, {"retry_after": 5}),
        ("api_429", {"retry_after": 5.0}, {"retry_after": 5}),
        ("api_timeout", {"seconds": "0.5"}, {"seconds": 0.5}),
        ("large", {"count": 10}, {"count": 10}),
        ("out_of_order", {}, {"max_wait": 10.0}),
    ],
)
def test_params_are_parsed_with_defaults(name: str, given: Any, expected: dict[str, Any]) -> None:
    assert parse_params(BEHAVIOURS[name], given) == expected


@pytest.mark.parametrize(
    ("name", "given", "message"),
    [
        ("slow", [], "slow: params must be an object"),
        ("empty", {"x": 1}, r"empty: unknown param\(s\) x \(allowed: none\)"),
        ("api_429", {"retry_after": True}, "api_429.retry_after: expected a number, got True"),
        ("api_429", {"retry_after": None}, "expected a number, got None"),
        ("api_429", {"retry_after": 1.5}, "expected a whole number, got 1.5"),
        ("api_429", {"retry_after": "soon"}, "expected a number, got 'soon'"),
        ("api_429", {"retry_after": -1}, "expected a number from 0 to 86400, got -1"),
        ("api_timeout", {"seconds": "nan"}, "expected a number from 0 to 3600"),
        ("large", {"count": 0}, "expected a number from 1 to 100000, got 0"),
        ("ehr_failure", {"failure_reason": " "}, "expected a non-empty string"),
        ("ehr_failure", {"reasons": []}, "expected a non-empty list"),
        ("ehr_failure", {"reasons": [{"code": "x"}]}, "expected a non-empty list"),
        ("ehr_failure", {"reasons": [{"code": "x", "description": 1}]}, "expected a non-empty list"),
    ],
)
def test_bad_params(name: str, given: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_params(BEHAVIOURS[name], given)


def test_number_accepts_text() -> None:
    assert number(float, 0, 1)("0.25") == 0.25


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("mock-ehr-failure", ("ehr_failure", None)),
        ("MOCK-EHR-FAILURE", ("ehr_failure", None)),
        ("mock-slow-10", ("slow", "10")),
        ("mock-slow-1..5", ("slow", "1..5")),
        ("mock-api-429", ("api_429", None)),
        ("mock-api-429-5", ("api_429", "5")),
        ("mock-api-timeout-0.5", ("api_timeout", "0.5")),
        ("mock-never-complete", ("never_complete", None)),
        ("mock-empty-3", None),  # empty takes no value: an ordinary MRN
        ("mock-patient-7", None),
        ("12345", None),
        ("mock-ſlow-10", None),  # not ASCII: never magic
    ],
)
def test_magic_mrns(value: str, expected: tuple[str, str | None] | None) -> None:
    assert parse_magic(value, "mock-", "-") == expected


def test_magic_values_in_requests() -> None:
    (applied,) = magic_behaviours(mrn("mock-slow-12"))
    assert (applied.behaviour, applied.params, applied.source) == (
        "slow",
        {"delay": "12"},
        "mrn:mock-slow-12",
    )
    found = magic_behaviours(providers("prov_1", "prov_mock_large_50", "PROV_MOCK_BAD_SIGNATURE"))
    assert [(a.behaviour, dict(a.params), a.source) for a in found] == [
        ("large", {"count": 50}, "provider_id:prov_mock_large_50"),
        ("bad_signature", {}, "provider_id:PROV_MOCK_BAD_SIGNATURE"),
    ]
    assert magic_behaviours(FetchRequest("date_range", DAY, DAY)) == []
    with pytest.raises(ConfigError, match=r"magic mrn 'mock-large-lots': large\.count: expected a number"):
        magic_behaviours(mrn("mock-large-lots"))


def test_the_header() -> None:
    found = header_behaviours(" ehr_failure , slow=5,, API-429 = 3 ")
    assert [(a.behaviour, dict(a.params), a.source) for a in found] == [
        ("ehr_failure", behaviour("ehr_failure").defaults(), "header"),
        ("slow", {"delay": "5"}, "header"),
        ("api_429", {"retry_after": 3}, "header"),
    ]
    assert found[2].level == "api"
    assert found[2].to_json() == {"behaviour": "api_429", "params": {"retry_after": 3}, "source": "header"}
    assert header_behaviours("") == []
    with pytest.raises(ConfigError, match="unknown behaviour 'explode'"):
        header_behaviours("explode")
    with pytest.raises(ConfigError, match="empty takes no value"):
        header_behaviours("empty=1")
