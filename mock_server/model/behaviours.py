"""The behaviours a fake can be told to show, their parameters, and how a request asks for them itself.

API-level behaviours (``api_429``, ``api_500``, ``api_timeout``) answer the fetch call instead of
accepting it; job-level ones change the job: its result, its timing or its webhook delivery (what
each does is in ``faults``). Clients that cannot be changed ask with magic values, like payment test
cards: an MRN ``mock-<behaviour>[-<value>]`` (``mock-ehr-failure``, ``mock-slow-10``), a provider id
``prov_mock_<behaviour>[_<value>]`` (``prov_mock_api_429_5``), or the header
``X-Cobalt-Mock-Scenario: ehr_failure, slow=10``. The value sets the behaviour's main parameter.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from mock_server.errors import ConfigError
from mock_server.model.jobs import FetchRequest
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


@dataclass(frozen=True)
class Param:
    parse: Callable[[object], Any]
    default: Any


@dataclass(frozen=True)
class BehaviourSpec:
    """One behaviour: where it acts, its parameters, and the one a magic value or header sets."""

    name: str
    level: Level
    summary: str
    params: Mapping[str, Param] = field(default_factory=dict)
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


@dataclass(frozen=True)  # few instances: slots=True would only slow the import (it builds the class twice)
class Applied:
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
