"""Scenarios: the JSON shape, matching, "the next N" / "every" / "with probability p", and selection."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest

from mock_server.errors import ConfigError
from mock_server.model.behaviours import (
    MAX_SCENARIOS,
    Applied,
    Match,
    ScenarioBook,
    Selection,
    parse_scenario,
)
from mock_server.model.jobs import FetchRequest

DAY = dt.date(2025, 1, 6)
RANGE = FetchRequest("date_range", DAY, DAY)
BY_MRN = FetchRequest("mrn", mrn="123")
BY_PROVIDER = FetchRequest("provider", DAY, DAY, provider_ids=("p1", "p2"))


def test_the_json_shape_round_trips() -> None:
    scenario = parse_scenario(
        {"behaviour": "api_429", "params": {"retry_after": 5}, "match": {"access_token": "tok"}, "times": 2},
        "scn_1",
    )
    assert scenario.to_json() == {
        "id": "scn_1",
        "behaviour": "api_429",
        "params": {"retry_after": 5},
        "match": {"access_token": "tok"},
        "times": 2,
        "seen": 0,
        "used": 0,
        "remaining": 2,
    }
    assert parse_scenario(scenario.definition(), "scn_2").definition() == scenario.definition()
    every = parse_scenario({"behaviour": "empty", "every": True, "match": None}, "scn_3")
    assert every.definition() == {"behaviour": "empty", "params": {}, "match": {}, "every": True}
    chance = parse_scenario({"behaviour": "empty", "probability": "0.5", "times": 3}, "scn_4")
    assert (chance.probability, chance.times) == (0.5, 3)
    assert "every" not in chance.definition()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([], "a scenario must be a JSON object"),
        ({"behaviour": "empty", "often": 1}, r"unknown scenario field\(s\): often"),
        ({"params": {}}, "a scenario needs a behaviour"),
        ({"behaviour": "nope"}, "unknown behaviour 'nope'"),
        ({"behaviour": "empty", "times": -1}, "times: expected a number from 1"),
        ({"behaviour": "empty", "probability": 2}, "probability: expected a number from 0 to 1"),
        ({"behaviour": "empty", "every": False}, "every must be true"),
        ({"behaviour": "empty", "every": True, "times": 1}, "every cannot be combined"),
        ({"behaviour": "empty", "match": []}, "match must be an object"),
        ({"behaviour": "empty", "match": {"token": "x"}}, r"match: unknown field\(s\) token"),
        ({"behaviour": "empty", "match": {"mrn": ""}}, "match.mrn must be a non-empty string"),
        ({"behaviour": "empty", "match": {"search_by": "npi"}}, "match.search_by must be one of"),
    ],
)
def test_invalid_scenarios(value: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_scenario(value, "scn_1")


@pytest.mark.parametrize(
    ("match", "token", "request_", "expected"),
    [
        ({}, "tok", RANGE, True),
        ({"access_token": "tok"}, "tok", RANGE, True),
        ({"access_token": "tok"}, "other", RANGE, False),
        ({"search_by": "mrn"}, "tok", BY_MRN, True),
        ({"search_by": "mrn"}, "tok", RANGE, False),
        ({"mrn": "123"}, "tok", BY_MRN, True),
        ({"mrn": "124"}, "tok", BY_MRN, False),
        ({"provider_id": "p2"}, "tok", BY_PROVIDER, True),
        ({"provider_id": "p3"}, "tok", BY_PROVIDER, False),
        ({"provider_id": "p1", "access_token": "tok", "search_by": "provider"}, "tok", BY_PROVIDER, True),
        ({"provider_id": "p1", "access_token": "x"}, "tok", BY_PROVIDER, False),
    ],
)
def test_match(match: dict[str, str], token: str, request_: FetchRequest, expected: bool) -> None:
    parsed = Match.parse(match)
    assert parsed.matches(token, request_) is expected
    assert parsed.to_json() == match


def test_the_next_n() -> None:
    book = ScenarioBook()
    book.add({"behaviour": "empty", "times": 2})
    picks = [bool(book.select(0, "tok", RANGE).job) for _ in range(4)]
    assert picks == [True, True, False, False]
    assert len(book) == 0  # dropped once used up


def test_every_is_the_default() -> None:
    book = ScenarioBook()
    book.add({"behaviour": "empty"})
    assert all(book.select(0, "tok", RANGE).job for _ in range(20))
    assert book.list()[0].used == 20


def pattern(seed: int, probability: float, n: int = 200, **extra: Any) -> list[bool]:
    book = ScenarioBook()
    book.add({"behaviour": "empty", "probability": probability, **extra})
    return [bool(book.select(seed, "tok", RANGE).job) for _ in range(n)]


def test_probability_is_drawn_from_the_seed() -> None:
    assert pattern(1, 0.3) == pattern(1, 0.3)
    assert pattern(1, 0.3) != pattern(2, 0.3)
    assert 30 <= sum(pattern(1, 0.3)) <= 90
    assert not any(pattern(1, 0))
    assert all(pattern(1, 1))
    capped = pattern(1, 0.5, times=3)
    assert sum(capped) == 3


def test_probability_ignores_other_scenarios_and_tokens() -> None:
    """Draws depend on the scenario and its own matching requests, so parallel workers repeat."""
    book = ScenarioBook()
    book.add({"behaviour": "api_500", "match": {"access_token": "other"}})
    book.add({"behaviour": "empty", "probability": 0.3})
    mixed = []
    for _ in range(200):
        book.select(1, "other", RANGE)
        mixed.append(bool(book.select(1, "tok", RANGE).job))
    assert mixed == pattern(1, 0.3)


def test_selection_order_and_api_faults_first() -> None:
    book = ScenarioBook()
    book.add({"behaviour": "slow", "params": {"delay": 5}, "times": 1})
    book.add({"behaviour": "api_500", "match": {"search_by": "mrn"}, "times": 1})
    book.add({"behaviour": "slow", "params": {"delay": 9}})
    book.add({"behaviour": "api_429", "match": {"search_by": "mrn"}, "times": 1})

    chosen = book.select(0, "tok", BY_MRN)
    assert chosen.api is not None
    assert (chosen.api.behaviour, chosen.api.source) == ("api_500", "scn_2")
    assert chosen.job == ()
    # The job-level scenarios were not consumed by a request that never became a job.
    assert [s.used for s in book.list()] == [0, 0, 0]

    chosen = book.select(0, "tok", BY_MRN)
    assert chosen.api is not None
    assert chosen.api.behaviour == "api_429"

    chosen = book.select(0, "tok", BY_MRN, "empty")
    assert [a.source for a in chosen.job] == ["header", "scn_1", "scn_3"]
    assert chosen.behaviours() == {"empty": {}, "slow": {"delay": "5"}}  # the first slow wins
    assert book.select(0, "tok", RANGE).behaviours() == {"slow": {"delay": "9"}}


def test_the_header_and_magic_values_come_first() -> None:
    book = ScenarioBook()
    book.add({"behaviour": "api_500", "times": 1})
    chosen = book.select(0, "tok", FetchRequest("mrn", mrn="mock-api-429-2"), "empty")
    assert chosen.api == Applied("api_429", {"retry_after": 2}, "mrn:mock-api-429-2")
    assert chosen.to_json() == [
        {"behaviour": "api_429", "params": {"retry_after": 2}, "source": "mrn:mock-api-429-2"}
    ]
    assert book.list()[0].seen == 0  # not considered at all
    assert Selection().to_json() == []


def test_the_book_is_managed_per_access_token() -> None:
    book = ScenarioBook()
    book.add({"behaviour": "empty"})
    book.add({"behaviour": "empty", "match": {"access_token": "a"}})
    book.add({"behaviour": "empty", "match": {"access_token": "b"}})
    assert [s.id for s in book.list("a")] == ["scn_1", "scn_2"]
    assert book.get("scn_3") is not None
    assert book.get("scn_9") is None
    assert book.clear("a") == 1
    assert book.remove("scn_3")
    assert not book.remove("scn_3")
    assert book.clear() == 1
    assert book.add({"behaviour": "empty"}).id == "scn_1"  # numbering restarts after a full clear


def test_the_book_is_bounded_and_thread_safe() -> None:
    book = ScenarioBook()
    threads = [
        threading.Thread(target=lambda: [book.add({"behaviour": "empty"}) for _ in range(MAX_SCENARIOS // 4)])
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({s.id for s in book.list()}) == MAX_SCENARIOS
    with pytest.raises(ConfigError, match="too many scenarios"):
        book.add({"behaviour": "empty"})


def test_an_exhausted_scenario_never_fires_again() -> None:
    scenario = parse_scenario({"behaviour": "empty", "times": 1}, "scn_1")
    assert scenario.fires(0)
    assert not scenario.fires(0)
    assert (scenario.seen, scenario.used, scenario.exhausted) == (1, 1, True)
