"""The behaviours a fake can be told to show, their parameters, and how a request asks for them itself.

API-level behaviours (``api_429``, ``api_500``, ``api_timeout``) answer the fetch call instead of
accepting it (``MockState.accept``); job-level ones change the job: its timing (``MockState``), its
result and signature (``delivery.webhook``) or its delivery (``delivery.dispatcher``, ``delivery.
ordering``). Clients that cannot be changed ask with magic values, like payment test
cards: an MRN ``mock-<behaviour>[-<value>]`` (``mock-ehr-failure``, ``mock-slow-10``), a provider id
``prov_mock_<behaviour>[_<value>]`` (``prov_mock_api_429_5``), or the header
``X-Cobalt-Mock-Scenario: ehr_failure, slow=10``. The value sets the behaviour's main parameter.

Scenarios: which fetch requests misbehave, how, and how often — deterministically.

A scenario is a plain JSON object::

    {"behaviour": "api_429", "params": {"retry_after": 5},
     "match": {"access_token": "tok_a", "search_by": "mrn", "mrn": "123", "provider_id": "p1"},
     "times": 2}

``match`` fields are all optional and must all hold (``provider_id`` is one of the request's
``provider_ids``). How often: ``"times": N`` (the next N matching requests), ``"every": true`` (the
default), or ``"probability": p`` (each matching request, drawn from the seed and the scenario's own
count of matching requests, so a run repeats; may be combined with ``times`` as a cap).

A request's own magic values and header apply first, then scenarios in the order they were added.
"""

from __future__ import annotations

import hashlib
import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal, NamedTuple

import orjson

from mock_server.errors import ConfigError
from mock_server.model.jobs import SEARCH_MODES, FetchRequest
from mock_server.settings import Delay, number

SCENARIO_HEADER = "x-cobalt-mock-scenario"
MAGIC_MRN_PREFIX = "mock-"
MAGIC_PROVIDER_PREFIX = "prov_mock_"

Level = Literal["api", "job"]


def _delay(value: object) -> str:
    return str(Delay.parse(value))


def _text(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"expected a non-empty string, got {value!r}")
    return value


def _reasons(value: object) -> list[dict[str, str]]:
    if (
        not isinstance(value, list)
        or not value
        or not all(
            isinstance(r, dict)
            and set(r) == {"code", "description"}
            and all(isinstance(v, str) for v in r.values())
            for r in value
        )
    ):
        raise ConfigError('expected a non-empty list of {"code": ..., "description": ...} objects')
    return [{"code": r["code"], "description": r["description"]} for r in value]


class Param(NamedTuple):
    parse: Callable[[object], Any]
    default: Any


class BehaviourSpec(NamedTuple):
    """One behaviour: where it acts, its parameters, and the one a magic value or header sets."""

    name: str
    level: Level
    summary: str
    params: Mapping[str, Param] = MappingProxyType({})
    primary: str | None = None

    def defaults(self) -> dict[str, Any]:
        return {name: p.default for name, p in self.params.items()}

    def to_json(self) -> dict[str, Any]:
        return {
            "behaviour": self.name,
            "level": self.level,
            "summary": self.summary,
            "params": self.defaults(),
            "magic_mrn": MAGIC_MRN_PREFIX + self.name.replace("_", "-") + ("-N" if self.primary else ""),
            "magic_provider_id": MAGIC_PROVIDER_PREFIX + self.name + ("_N" if self.primary else ""),
        }


DEFAULT_FAILURE_REASON = "The EHR could not be reached to complete the live fetch."
DEFAULT_REASONS = [{"code": "ehr_unavailable", "description": "The EHR did not respond in time."}]

BEHAVIOURS: dict[str, BehaviourSpec] = {
    spec.name: spec
    for spec in (
        BehaviourSpec(
            "ehr_failure",
            "job",
            "the job completes with a failure webhook (data.success false, failure_reason, reasons)",
            {
                "failure_reason": Param(_text, DEFAULT_FAILURE_REASON),
                "reasons": Param(_reasons, DEFAULT_REASONS),
            },
        ),
        BehaviourSpec("empty", "job", "the job completes successfully with no appointments"),
        BehaviourSpec(
            "large",
            "job",
            "the result has at least `count` appointments: generated ones repeated with new ids",
            {"count": Param(number(int, 1, 100_000), 2000)},
            "count",
        ),
        BehaviourSpec(
            "slow",
            "job",
            "the job takes `delay` (seconds, a range 1..5, or lognormal:M:S) instead of the setting",
            {"delay": Param(_delay, "30")},
            "delay",
        ),
        BehaviourSpec(
            "api_429",
            "api",
            "the fetch call answers 429 with a Retry-After header; no job is created",
            {"retry_after": Param(number(int, 0, 86_400), 1)},
            "retry_after",
        ),
        BehaviourSpec("api_500", "api", "the fetch call answers 500; no job is created"),
        BehaviourSpec(
            "api_timeout",
            "api",
            "the fetch call holds the connection `seconds` (or until the client gives up), then answers 504",
            {"seconds": Param(number(float, 0, 3600), 30.0)},
            "seconds",
        ),
        BehaviourSpec(
            "duplicate_delivery", "job", "the webhook is delivered twice (same bytes, id and signature)"
        ),
        BehaviourSpec(
            "out_of_order",
            "job",
            "the webhook waits until a later job of the same access token was delivered (or `max_wait` s)",
            {"max_wait": Param(number(float, 0, 3600), 10.0)},
            "max_wait",
        ),
        BehaviourSpec(
            "bad_signature", "job", "the cobalt-verification header is a wrong (but well-formed) HMAC"
        ),
        BehaviourSpec(
            "old_secret",
            "job",
            "the webhook is signed with the previous secret (rotating first if there is none)",
        ),
        BehaviourSpec(
            "never_complete",
            "job",
            "the job stays 'stalled' until POST /_mock/jobs/{id}/complete finishes it",
        ),
    )
}
API_BEHAVIOURS = frozenset(name for name, spec in BEHAVIOURS.items() if spec.level == "api")
# Longest names first, so a magic suffix is never mistaken for part of a name.
_BY_LENGTH = sorted(BEHAVIOURS, key=len, reverse=True)


def behaviour(name: object) -> BehaviourSpec:
    if not isinstance(name, str) or name not in BEHAVIOURS:
        raise ConfigError(f"unknown behaviour {name!r}; expected one of: {', '.join(BEHAVIOURS)}")
    return BEHAVIOURS[name]


def parse_params(spec: BehaviourSpec, given: object) -> dict[str, Any]:
    """The behaviour's parameters: ``given`` checked and parsed, defaults for the rest."""
    if given is None:
        given = {}
    if not isinstance(given, Mapping):
        raise ConfigError(f"{spec.name}: params must be an object")
    unknown = sorted(set(given) - set(spec.params))
    if unknown:
        allowed = ", ".join(spec.params) or "none"
        raise ConfigError(
            f"{spec.name}: unknown param(s) {', '.join(map(str, unknown))} (allowed: {allowed})"
        )
    params = spec.defaults()
    for name, value in given.items():
        try:
            params[name] = spec.params[name].parse(value)
        except ConfigError as exc:
            raise ConfigError(f"{spec.name}.{name}: {exc}") from None
    return params


class Applied(NamedTuple):
    """A behaviour chosen for one request, and where it came from (a scenario id, header, mrn, ...)."""

    behaviour: str
    params: Mapping[str, Any]
    source: str

    @property
    def level(self) -> Level:
        return BEHAVIOURS[self.behaviour].level

    def to_json(self) -> dict[str, Any]:
        return {"behaviour": self.behaviour, "params": dict(self.params), "source": self.source}


# Magic values and the header


def _applied(name: str, argument: str | None, source: str) -> Applied:
    spec = BEHAVIOURS[name]
    given: dict[str, object] = {}
    if argument is not None:
        if spec.primary is None:
            raise ConfigError(f"{name} takes no value")
        given[spec.primary] = argument
    return Applied(name, parse_params(spec, given), source)


def parse_magic(value: str, prefix: str, separator: str) -> tuple[str, str | None] | None:
    """``(behaviour, argument)`` for a magic value such as ``mock-slow-10``; None for any other value."""
    if not value.isascii() or not value.lower().startswith(prefix):
        return None
    rest = value[len(prefix) :].lower().replace(separator, "_")
    for name in _BY_LENGTH:
        if rest == name:
            return name, None
        if rest.startswith(name + "_") and BEHAVIOURS[name].primary is not None:
            return name, value[len(prefix) + len(name) + 1 :]
    return None


def magic_behaviours(request: FetchRequest) -> list[Applied]:
    """Behaviours a request asks for with a magic MRN or provider id (case-insensitive)."""
    found: list[Applied] = []
    candidates = [(request.mrn, MAGIC_MRN_PREFIX, "-", "mrn")] if request.mrn is not None else []
    candidates += [(pid, MAGIC_PROVIDER_PREFIX, "_", "provider_id") for pid in request.provider_ids]
    for value, prefix, separator, source in candidates:
        magic = parse_magic(value, prefix, separator)
        if magic is not None:
            try:
                found.append(_applied(*magic, f"{source}:{value}"))
            except ConfigError as exc:
                raise ConfigError(f"magic {source} {value!r}: {exc}") from None
    return found


def header_behaviours(header: str) -> list[Applied]:
    """``X-Cobalt-Mock-Scenario: ehr_failure, slow=10`` → behaviours (an empty header asks for none)."""
    found: list[Applied] = []
    for part in header.split(","):
        name, sep, argument = part.strip().partition("=")
        name = name.strip().lower().replace("-", "_")
        if not name:
            continue
        if name not in BEHAVIOURS:
            raise ConfigError(f"unknown behaviour {name!r}; expected one of: {', '.join(BEHAVIOURS)}")
        found.append(_applied(name, argument.strip() if sep else None, "header"))
    return found


# Scenarios

MAX_SCENARIOS = 1000


class Selection(NamedTuple):
    """What a fetch request gets: at most one API-level fault, else the job-level behaviours."""

    api: Applied | None = None
    job: tuple[Applied, ...] = ()

    def behaviours(self) -> dict[str, dict[str, Any]]:
        """Job-level behaviour name → params; the first source of each name wins."""
        out: dict[str, dict[str, Any]] = {}
        for applied in self.job:
            out.setdefault(applied.behaviour, dict(applied.params))
        return out

    def to_json(self) -> list[dict[str, Any]]:
        return [a.to_json() for a in ((self.api,) if self.api else self.job)]


NOTHING = Selection()
"""No behaviour at all: what nearly every fetch gets."""


class Match(NamedTuple):
    access_token: str | None = None
    search_by: str | None = None
    mrn: str | None = None
    provider_id: str | None = None

    @classmethod
    def parse(cls, value: object) -> Match:
        if value is None:
            return cls()
        if not isinstance(value, Mapping):
            raise ConfigError("match must be an object")
        unknown = sorted(set(value) - {"access_token", "search_by", "mrn", "provider_id"})
        if unknown:
            raise ConfigError(
                f"match: unknown field(s) {', '.join(map(str, unknown))} "
                "(allowed: access_token, search_by, mrn, provider_id)"
            )
        fields: dict[str, str | None] = {}
        for name, item in value.items():
            if item is not None and (not isinstance(item, str) or not item):
                raise ConfigError(f"match.{name} must be a non-empty string")
            fields[name] = item
        if fields.get("search_by") not in (None, *SEARCH_MODES):
            raise ConfigError(f"match.search_by must be one of: {', '.join(SEARCH_MODES)}")
        return cls(**fields)

    def matches(self, access_token: str, request: FetchRequest) -> bool:
        return (
            (self.access_token is None or self.access_token == access_token)
            and (self.search_by is None or self.search_by == request.search_by)
            and (self.mrn is None or self.mrn == request.mrn)
            and (self.provider_id is None or self.provider_id in request.provider_ids)
        )

    def to_json(self) -> dict[str, str]:
        pairs = (
            ("access_token", self.access_token),
            ("search_by", self.search_by),
            ("mrn", self.mrn),
            ("provider_id", self.provider_id),
        )
        return {name: value for name, value in pairs if value is not None}


EVERY_REQUEST = Match()
"""The match of a scenario that names no fields."""


@dataclass(eq=False)  # one scenario is one object: its `seen` count is its own
class Scenario:
    """A behaviour for matching requests: the next ``times``, every one, or each with ``probability``."""

    id: str
    behaviour: str
    params: dict[str, Any]
    match: Match = EVERY_REQUEST
    times: int | None = None
    probability: float | None = None
    seen: int = 0
    """Matching requests considered so far (the index of each probability draw)."""
    used: int = 0
    """Requests it applied to."""

    @property
    def level(self) -> Level:
        return BEHAVIOURS[self.behaviour].level

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.used >= self.times

    def definition(self) -> dict[str, Any]:
        """The JSON that creates this scenario (what ``add_scenario`` would accept)."""
        out: dict[str, Any] = {
            "behaviour": self.behaviour,
            "params": self.params,
            "match": self.match.to_json(),
        }
        if self.times is not None:
            out["times"] = self.times
        if self.probability is not None:
            out["probability"] = self.probability
        if self.times is None and self.probability is None:
            out["every"] = True
        return out

    def to_json(self) -> dict[str, Any]:
        remaining = None if self.times is None else self.times - self.used
        return {
            "id": self.id,
            **self.definition(),
            "seen": self.seen,
            "used": self.used,
            "remaining": remaining,
        }

    def fires(self, seed: int) -> bool:
        """Count one matching request and say whether the behaviour applies to it."""
        if self.exhausted:
            return False
        self.seen += 1
        if self.probability is not None and self._draw(seed) >= self.probability:
            return False
        self.used += 1
        return True

    def _draw(self, seed: int) -> float:
        # Keyed by the definition, not by when the scenario was added: parallel workers sharing a
        # server (each with its own access token) see the same draws in every run.
        key = orjson.dumps([seed, self.definition(), self.seen], option=orjson.OPT_SORT_KEYS)
        digest = hashlib.blake2b(b"scenario:" + key, digest_size=8).digest()
        return random.Random(int.from_bytes(digest, "big")).random()


def parse_scenario(value: object, scenario_id: str) -> Scenario:
    """A scenario from its JSON form, or a ``ConfigError`` naming what is wrong."""
    if not isinstance(value, Mapping):
        raise ConfigError("a scenario must be a JSON object")
    unknown = sorted(set(value) - {"behaviour", "params", "match", "times", "every", "probability"})
    if unknown:
        raise ConfigError(
            f"unknown scenario field(s): {', '.join(map(str, unknown))} "
            "(allowed: behaviour, params, match, times, every, probability)"
        )
    if "behaviour" not in value:
        raise ConfigError("a scenario needs a behaviour")
    spec = behaviour(value["behaviour"])
    times = value.get("times")
    probability = value.get("probability")
    every = value.get("every")
    if times is not None:
        try:
            times = number(int, 1, 1_000_000)(times)
        except ConfigError as exc:
            raise ConfigError(f"times: {exc}") from None
    if probability is not None:
        try:
            probability = number(float, 0, 1)(probability)
        except ConfigError as exc:
            raise ConfigError(f"probability: {exc}") from None
    if every is not None:
        if every is not True:
            raise ConfigError("every must be true (leave it out to use times or probability)")
        if times is not None or probability is not None:
            raise ConfigError("every cannot be combined with times or probability")
    return Scenario(
        scenario_id,
        spec.name,
        parse_params(spec, value.get("params")),
        Match.parse(value.get("match")),
        times,
        probability,
    )


class ScenarioBook:
    """The scenarios of one fake, in the order they were added; safe to change from any thread."""

    def __init__(self) -> None:
        self._items: list[Scenario] = []
        self._lock = threading.Lock()
        self._numbers = 0

    def add(self, value: object) -> Scenario:
        with self._lock:
            if len(self._items) >= MAX_SCENARIOS:
                raise ConfigError(f"too many scenarios (at most {MAX_SCENARIOS}); clear some first")
            scenario = parse_scenario(value, f"scn_{self._numbers + 1}")
            self._numbers += 1
            self._items.append(scenario)
            return scenario

    def get(self, scenario_id: str) -> Scenario | None:
        with self._lock:
            return next((s for s in self._items if s.id == scenario_id), None)

    def remove(self, scenario_id: str) -> bool:
        with self._lock:
            before = len(self._items)
            self._items = [s for s in self._items if s.id != scenario_id]
            return len(self._items) < before

    def clear(self, access_token: str | None = None) -> int:
        """Remove every scenario, or those that match only ``access_token``; return how many."""
        with self._lock:
            before = len(self._items)
            if access_token is None:
                self._items = []
                self._numbers = 0
            else:
                self._items = [s for s in self._items if s.match.access_token != access_token]
            return before - len(self._items)

    def list(self, access_token: str | None = None) -> list[Scenario]:
        with self._lock:
            return [
                s for s in self._items if access_token is None or s.match.access_token in (None, access_token)
            ]

    def __len__(self) -> int:
        return len(self._items)

    def select(self, seed: int, access_token: str, request: FetchRequest, header: str = "") -> Selection:
        """Choose the behaviours for one fetch request (raises ``ConfigError`` for a bad header/magic value).

        The header and magic values come first; then scenarios in order. An API-level fault ends the
        choice (no job will exist, so later scenarios are not consumed); job-level ones accumulate.
        """
        fixed = (header_behaviours(header) if header else []) + magic_behaviours(request)
        api = next((a for a in fixed if a.level == "api"), None)
        if api is not None:
            return Selection(api=api)
        if not self._items:  # the common case, without the lock
            return Selection(job=tuple(fixed)) if fixed else NOTHING
        with self._lock:
            try:
                for scenario in self._items:
                    if scenario.level == "api" and self._fires(scenario, seed, access_token, request):
                        return Selection(api=Applied(scenario.behaviour, dict(scenario.params), scenario.id))
                for scenario in self._items:
                    if scenario.level == "job" and self._fires(scenario, seed, access_token, request):
                        fixed.append(Applied(scenario.behaviour, dict(scenario.params), scenario.id))
            finally:
                self._items = [s for s in self._items if not s.exhausted]
        return Selection(job=tuple(fixed))

    @staticmethod
    def _fires(scenario: Scenario, seed: int, access_token: str, request: FetchRequest) -> bool:
        return scenario.match.matches(access_token, request) and scenario.fires(seed)
