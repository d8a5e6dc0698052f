"""The live plan: which requests a run against a URL sends, decided by a seed and nothing else.

A live run cannot afford Hypothesis's hundreds of random requests, and random ones would mostly
miss a real clinic's data. So it sends a fixed set of *boundary* steps (the documented examples,
7 and 8 days, the same day, end before start, impossible dates, each mode's required fields, 1, 10
and 11 providers, missing auth headers), then spends the rest of the request budget on identifiers
the user knows have data: MRNs, provider ids and date windows. The same options give the same
steps, in the same order; the seed only chooses among the user's identifiers.

Options come from, last one winning: defaults, a plan file (``--cobalt-plan`` / ``COBALT_CONTRACT_PLAN``),
``COBALT_CONTRACT_*`` variables, then ``--cobalt-*`` flags. The same word in every form: ``seed``,
``budget``, ``pace``, ``mrns``, ``provider_ids``, ``windows``, ``webhook_api`` (plus ``requests`` in a
plan file: fetch bodies of your own, each optionally ``"expect_failure": true``). ``webhook_api`` is
the version of Cobalt's webhook API the run checks (``guide`` or ``reference``, the fake's setting of
the same name): the fake is started with it, and the report says which version it was; a live run
never registers a webhook, so against a real API it is the version the report states, unchecked.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contract_tests.strategies import missing_message
from mock_server.api.inputs import (
    MSG_END_BEFORE_START,
    MSG_INVALID_DATE,
    MSG_NOT_JSON,
    MSG_PROVIDER_IDS,
    MSG_PROVIDER_RANGE_TOO_LONG,
    MSG_PROVIDERS_ONE_DAY,
    MSG_RANGE_TOO_LONG,
    MSG_SEARCH_BY,
)
from mock_server.resources import data_dir, read_json
from mock_server.settings import WEBHOOK_APIS

ENV_PREFIX = "COBALT_CONTRACT_"
DEFAULT_BUDGET = 45
DEFAULT_PACE = 1.0
# Monday 6 January 2025: the week of Cobalt's own examples, used when no window is given.
DEFAULT_START = dt.date(2025, 1, 6)
AUTH_NAMES = ("client_id", "client_secret", "access_token")


class PlanError(ValueError):
    """An option of the live plan is malformed, or the budget is too small for the boundaries."""


@dataclass(frozen=True)
class Declared:
    """A fetch body of the user's own, and whether it is expected to complete with success false."""

    body: dict[str, Any]
    expect_failure: bool = False


@dataclass(frozen=True)
class PlanOptions:
    seed: int = 0
    budget: int = DEFAULT_BUDGET  # requests the plan sends, polls not counted
    pace: float = DEFAULT_PACE  # at least this many seconds between two requests
    mrns: tuple[str, ...] = ()
    provider_ids: tuple[str, ...] = ()
    windows: tuple[tuple[dt.date, dt.date], ...] = ()
    requests: tuple[Declared, ...] = ()
    webhook_api: str = "guide"

    @classmethod
    def load(
        cls,
        flags: Mapping[str, object | None],
        environ: Mapping[str, str],
        plan_file: str | Path | None = None,
    ) -> PlanOptions:
        """Defaults, then the plan file, then ``COBALT_CONTRACT_*``, then ``flags`` (None: not given)."""
        values: dict[str, object] = {}
        path = flags.get("plan") or environ.get(ENV_PREFIX + "PLAN") or plan_file
        if path:
            try:
                values.update(json.loads(Path(str(path)).read_text(encoding="utf-8")))
            except (OSError, ValueError) as exc:
                raise PlanError(f"plan file {path}: {exc}") from None
        for name in _PARSERS:
            if ENV_PREFIX + name.upper() in environ:
                values[name] = environ[ENV_PREFIX + name.upper()]
        values.update({k: v for k, v in flags.items() if v is not None and k in _PARSERS})
        unknown = sorted(set(values) - set(_PARSERS) - {"plan"})
        if unknown:
            raise PlanError(f"unknown plan option(s): {', '.join(unknown)}")
        parsed: dict[str, Any] = {}
        for name, value in values.items():
            if name in _PARSERS:
                try:
                    parsed[name] = _PARSERS[name](value)
                except (TypeError, ValueError) as exc:
                    raise PlanError(f"{name}: {exc}") from None
        return dataclasses.replace(cls(), **parsed)

    @property
    def start(self) -> dt.date:
        """Where the boundary requests' dates start: the first window's start, or Cobalt's example week."""
        return self.windows[0][0] if self.windows else DEFAULT_START

    def public(self) -> dict[str, Any]:
        """What the report says about the plan (identifier counts, not the identifiers)."""
        return {
            "seed": self.seed,
            "budget": self.budget,
            "pace": self.pace,
            "mrns": len(self.mrns),
            "provider_ids": len(self.provider_ids),
            "windows": [f"{a}..{b}" for a, b in self.windows],
            "declared_requests": len(self.requests),
            "webhook_api": self.webhook_api,
        }


def _list(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    if isinstance(value, list | tuple):
        return tuple(str(part) for part in value)
    raise ValueError(f"expected a comma-separated list, got {value!r}")


def _window(text: str) -> tuple[dt.date, dt.date]:
    start, sep, end = text.partition("..")
    if not sep:
        raise ValueError(f"a window is START..END (YYYY-MM-DD..YYYY-MM-DD), got {text!r}")
    first, last = dt.date.fromisoformat(start.strip()), dt.date.fromisoformat(end.strip())
    if last < first:
        raise ValueError(f"window {text!r} ends before it starts")
    return first, last


def _declared(value: object) -> tuple[Declared, ...]:
    if isinstance(value, str):  # from the environment: JSON text
        value = json.loads(value)
    if not isinstance(value, list):
        raise ValueError("requests must be a list of {body, expect_failure}")
    out = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("body"), dict):
            raise ValueError(f"each request needs a body object, got {item!r}")
        out.append(Declared(item["body"], bool(item.get("expect_failure", False))))
    return tuple(out)


def _one_of(value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"expected one of {', '.join(choices)}, got {value!r}")
    return value


def _positive(kind: Callable[[Any], Any], minimum: float) -> Callable[[object], Any]:
    def parse(value: object) -> Any:
        number = kind(value)
        if number < minimum:
            raise ValueError(f"expected a number >= {minimum}, got {value!r}")
        return number

    return parse


_PARSERS: dict[str, Callable[[object], Any]] = {
    "seed": _positive(int, -(2**63)),
    "budget": _positive(int, 1),
    "pace": _positive(float, 0),
    "mrns": _list,
    "provider_ids": _list,
    "windows": lambda value: tuple(_window(w) for w in _list(value)),
    "requests": _declared,
    "webhook_api": lambda value: _one_of(str(value), WEBHOOK_APIS),
}


# --- steps -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One request of the plan and the answer the contract expects.

    ``group`` names the property that runs it: ``accepted`` (202), ``documented-errors`` and
    ``decided-errors`` (``status`` and ``message``), ``auth`` (401 naming ``missing``), ``other``
    (``status`` with the error shape) and ``completion`` (202, then the job's event, awaited).
    ``rule`` is the rule the expected answer stands for (see ``conformance.RULES``).
    """

    id: str
    group: str
    body: Any = None
    raw: bytes | None = None
    status: int = 202
    message: str | None = None
    rule: str | None = None
    method: str = "POST"
    path: str = "appointments/fetch"
    auth: tuple[tuple[str, str], ...] = ()  # (header, "drop" | "empty") for the auth group
    expect_failure: bool = False

    def __repr__(self) -> str:
        return f"Step({self.id!r}, {json.dumps(self.summary(), ensure_ascii=False)})"

    def content(self) -> bytes | None:
        if self.raw is not None:
            return self.raw
        if self.body is None:
            return None
        return json.dumps(self.body, ensure_ascii=False).encode("utf-8")

    def summary(self) -> dict[str, Any]:
        """The request, as the report shows it."""
        out: dict[str, Any] = {"method": self.method, "path": "/v1/" + self.path}
        if self.raw is not None:
            out["raw"] = self.raw.decode("utf-8", "replace")
        elif self.body is not None:
            out["body"] = self.body
        if self.auth:
            out["auth_headers"] = dict(self.auth)
        return out

    @property
    def mode(self) -> str:
        mode = self.body.get("search_by", "date_range") if isinstance(self.body, dict) else "date_range"
        return str(mode)


def _days(start: dt.date, count: int) -> tuple[str, str]:
    """``count`` days from ``start``, both ends included."""
    return start.isoformat(), (start + dt.timedelta(days=count - 1)).isoformat()


def _ranged(start: str, end: str, **more: Any) -> dict[str, Any]:
    return {**more, "start_date": start, "end_date": end}


def _documented(name: str) -> dict[str, Any]:
    body: dict[str, Any] = read_json(data_dir("fixtures") / "fetch-request" / f"{name}.json")
    return body


def boundary_steps(options: PlanOptions) -> list[Step]:
    """The fixed part of every plan: the documented examples and the boundaries of each rule."""
    w = options.start
    week, day, eight, fifteen = _days(w, 7), _days(w, 1), _days(w, 8), _days(w, 15)
    ids = list(options.provider_ids[:10])
    ids += [f"prov_contract_{n}" for n in range(len(ids) + 1, 12)]  # stand-ins: these jobs are not awaited
    one = ids[:1]
    return [
        # 202 only (requests whose results a real clinic may not have)
        Step(
            "documented-date-range",
            "accepted",
            _documented("valid-documented-date-range"),
            rule="range-7-days-allowed",
        ),
        Step("documented-mrn", "accepted", _documented("valid-documented-mrn")),
        Step("documented-curl", "accepted", _documented("valid-curl-example")),
        Step("same-day", "accepted", _ranged(*day), rule="range-same-day-allowed"),
        Step("blank-mrn-in-date-range", "accepted", _ranged(*day, mrn=""), rule="empty-means-absent"),
        Step("trailing-slash", "accepted", _ranged(*day), path="appointments/fetch/", rule="trailing-slash"),
        Step(
            "one-provider",
            "accepted",
            _ranged(*day, search_by="provider", provider_ids=one),
            rule="provider-count-1-10",
        ),
        Step(
            "one-provider-5-days",
            "accepted",
            _ranged(*_days(w, 5), search_by="provider", provider_ids=one),
            rule="single-provider-5-days",
        ),
        Step(
            "ten-providers",
            "accepted",
            _ranged(*day, search_by="provider", provider_ids=ids[:10]),
            rule="provider-count-1-10",
        ),
        # Cobalt's documented wording
        Step(
            "range-15-days",
            "documented-errors",
            _ranged(*fifteen),
            status=400,
            message=MSG_RANGE_TOO_LONG,
            rule="range-too-long-refused",
        ),
        Step(
            "end-before-start",
            "documented-errors",
            _ranged(day[0], (w - dt.timedelta(days=1)).isoformat()),
            status=400,
            message=MSG_END_BEFORE_START,
            rule="end-before-start-refused",
        ),
        Step(
            "impossible-date",
            "documented-errors",
            {"start_date": "2025-02-29", "end_date": "2025-03-01"},
            status=400,
            message=MSG_INVALID_DATE,
            rule="invalid-date-refused",
        ),
        Step(
            "malformed-date",
            "documented-errors",
            {"start_date": w.strftime("%m/%d/%Y"), "end_date": day[1]},
            status=400,
            message=MSG_INVALID_DATE,
            rule="invalid-date-refused",
        ),
        Step(
            "no-dates",
            "documented-errors",
            {},
            status=400,
            message=missing_message(["start_date", "end_date"]),
            rule="missing-dates-named",
        ),
        Step(
            "no-end-date",
            "documented-errors",
            {"start_date": day[0]},
            status=400,
            message=missing_message(["end_date"]),
            rule="missing-dates-named",
        ),
        Step(
            "provider-no-dates",
            "documented-errors",
            {"search_by": "provider", "provider_ids": one},
            status=400,
            message=missing_message(["start_date", "end_date"]),
            rule="missing-dates-named",
        ),
        # our decisions
        Step(
            "range-8-days",
            "decided-errors",
            _ranged(*eight),
            status=400,
            message=MSG_RANGE_TOO_LONG,
            rule="range-8-days-refused",
        ),
        Step(
            "mrn-missing",
            "decided-errors",
            {"search_by": "mrn"},
            status=400,
            message=missing_message(["mrn"]),
            rule="mrn-required",
        ),
        Step(
            "provider-ids-missing",
            "decided-errors",
            _ranged(*day, search_by="provider"),
            status=400,
            message=missing_message(["provider_ids"]),
            rule="provider-ids-required",
        ),
        Step(
            "eleven-providers",
            "decided-errors",
            _ranged(*day, search_by="provider", provider_ids=ids[:11]),
            status=400,
            message=MSG_PROVIDER_IDS,
            rule="provider-count-1-10",
        ),
        Step(
            "one-provider-6-days",
            "decided-errors",
            _ranged(*_days(w, 6), search_by="provider", provider_ids=one),
            status=400,
            message=MSG_PROVIDER_RANGE_TOO_LONG,
            rule="single-provider-5-days",
        ),
        Step(
            "two-providers-2-days",
            "decided-errors",
            _ranged(*_days(w, 2), search_by="provider", provider_ids=ids[:2]),
            status=400,
            message=MSG_PROVIDERS_ONE_DAY,
            rule="providers-same-day",
        ),
        Step(
            "unknown-search-by",
            "decided-errors",
            _ranged(*day, search_by="everything"),
            status=400,
            message=MSG_SEARCH_BY,
            rule="other-invalid-bodies",
        ),
        Step(
            "not-json",
            "decided-errors",
            raw=b'{"start_date": ',
            status=400,
            message=MSG_NOT_JSON,
            rule="other-invalid-bodies",
        ),
        # authentication
        Step("no-access-token", "auth", _ranged(*day), status=401, auth=(("access_token", "drop"),)),
        Step(
            "no-auth-headers", "auth", _ranged(*day), status=401, auth=tuple((n, "drop") for n in AUTH_NAMES)
        ),
        Step("empty-client-id", "auth", raw=b"not json", status=401, auth=(("client_id", "empty"),)),
        # other routes
        Step("unknown-path", "other", method="GET", path="no-such-endpoint", status=404, rule="error-shape"),
        Step("wrong-method", "other", raw=b"{}", method="PUT", status=405, rule="error-shape"),
        # awaited: a job whose event every data check can read
        Step("week", "completion", _ranged(*week), rule="range-7-days-allowed"),
    ]


def _draws(options: PlanOptions, count: int, taken: set[str]) -> list[Step]:
    """``count`` fetches over the user's identifiers, chosen by the seed; all awaited."""
    rng = random.Random(options.seed)
    windows = options.windows
    kinds = [
        k
        for k, have in (
            ("date_range", windows),
            ("mrn", options.mrns),
            ("provider", options.provider_ids and windows),
        )
        if have
    ]
    steps: list[Step] = []
    for n in range(count if kinds else 0):
        kind = kinds[n % len(kinds)]
        for _ in range(20):  # a few tries for a request not sent yet
            body = _draw(rng, kind, options)
            key = json.dumps(body, sort_keys=True)
            if key not in taken:
                break
        taken.add(key)
        steps.append(Step(f"drawn-{n + 1:02d}-{kind}", "completion", body))
    return steps


def _draw(rng: random.Random, kind: str, options: PlanOptions) -> dict[str, Any]:
    if kind == "mrn":
        return {"search_by": "mrn", "mrn": rng.choice(options.mrns)}
    first, last = rng.choice(options.windows)
    length = (last - first).days + 1
    ids = sorted(options.provider_ids)
    if kind == "provider" and (len(ids) == 1 or rng.random() < 0.5):
        days = rng.randint(1, min(5, length))
        start = first + dt.timedelta(days=rng.randint(0, length - days))
        return _ranged(*_days(start, days), search_by="provider", provider_ids=[rng.choice(ids)])
    if kind == "provider":
        chosen = rng.sample(ids, rng.randint(2, min(10, len(ids))))
        start = first + dt.timedelta(days=rng.randint(0, length - 1))
        return _ranged(*_days(start, 1), search_by="provider", provider_ids=chosen)
    days = rng.randint(1, min(7, length))
    start = first + dt.timedelta(days=rng.randint(0, length - days))
    return _ranged(*_days(start, days), search_by="date_range")


@dataclass(frozen=True)
class Plan:
    options: PlanOptions
    steps: tuple[Step, ...] = field(default=())

    @classmethod
    def build(cls, options: PlanOptions | None = None) -> Plan:
        options = options or PlanOptions()
        fixed = boundary_steps(options)
        declared = [
            Step(f"declared-{n + 1:02d}", "completion", d.body, expect_failure=d.expect_failure)
            for n, d in enumerate(options.requests)
        ]
        room = options.budget - len(fixed) - len(declared)
        if room < 0:
            raise PlanError(
                f"a budget of {options.budget} requests is too small: the boundaries and declared requests "
                f"alone are {len(fixed) + len(declared)}"
            )
        taken = {json.dumps(s.body, sort_keys=True) for s in [*fixed, *declared]}
        return cls(options, (*fixed, *declared, *_draws(options, room, taken)))

    def group(self, name: str, mode: str | None = None) -> list[Step]:
        return [s for s in self.steps if s.group == name and (mode is None or s.mode == mode)]

    def gaps(self) -> list[tuple[str, str]]:
        """Rules this plan cannot reach for want of identifiers: (rule, why)."""
        o = self.options
        out: list[tuple[str, str]] = []
        if not o.mrns and not any(s.mode == "mrn" for s in self.group("completion")):
            out.append(("mrn-echoed", "no MRN supplied (--cobalt-mrns or COBALT_CONTRACT_MRNS)"))
        if not any(s.mode == "provider" for s in self.group("completion")):
            out.append(
                (
                    "only-requested-providers",
                    "no provider ids and window supplied (--cobalt-provider-ids and --cobalt-windows)",
                )
            )
        if not o.windows:
            out.append(
                ("inside-range", f"no date window supplied (--cobalt-windows); only {o.start} week tried")
            )
        if not any(s.expect_failure for s in self.steps):
            out.append(("failure-shape", "no request declared expected to fail, and none failed"))
        return out
