"""Hypothesis strategies for fetch requests: valid ones per search mode, and invalid ones paired with
the status and message Cobalt answers them with.

Valid bodies follow the request schema plus the date rules it cannot state (cobalt-api.md §2): a
date range of 1-7 days counted inclusively; an MRN that is any non-empty string; one provider for
1-5 days, or 2-10 distinct providers for one day. Each invalid body breaks exactly one rule, so
its message is determined. ``DOCUMENTED`` ones carry Cobalt's own wording; ``DECIDED`` ones are
the fake's decisions where the docs are silent (marked ``decision`` in the tests).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from mock_server.api.inputs import (
    DEFAULTS,
    KNOWN_FIELDS,
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
)
from mock_server.model.jobs import SEARCH_MODES

MODES = SEARCH_MODES
# The suite's decisions are the fake's default rule readings (docs/rules.md).
MAX_RANGE_DAYS = DEFAULTS.max_range_days
MAX_SINGLE_PROVIDER_DAYS = DEFAULTS.max_single_provider_days
MAX_PROVIDERS = DEFAULTS.max_providers
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

dates = st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2099, 12, 31))


def is_iso_date(text: str) -> bool:
    """Exactly ``YYYY-MM-DD`` (ASCII digits) and a real calendar date."""
    if not _ISO_DATE.fullmatch(text):
        return False
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def missing_message(names: list[str]) -> str:
    return f"Missing required parameters: {', '.join(names)}."


def date_ranges(min_days: int, max_days: int) -> st.SearchStrategy[tuple[str, str]]:
    """``(start, end)`` spanning ``min_days``..``max_days`` days, both ends included."""
    return st.tuples(dates, st.integers(min_days, max_days)).map(
        lambda pair: (pair[0].isoformat(), (pair[0] + dt.timedelta(days=pair[1] - 1)).isoformat())
    )


# --- valid ------------------------------------------------------------------------------------------

mrns = st.one_of(
    st.from_regex(r"[0-9]{3,10}", fullmatch=True),  # what MRNs usually look like
    st.text(min_size=1, max_size=30),  # anything non-empty: unicode, controls, whitespace
)
provider_ids = st.one_of(
    st.from_regex(r"prov_[0-9a-z]{1,8}", fullmatch=True),
    st.text(min_size=1, max_size=20),
)


@st.composite
def date_range_bodies(draw: st.DrawFn) -> dict[str, Any]:
    start, end = draw(date_ranges(1, MAX_RANGE_DAYS))
    body: dict[str, Any] = {"search_by": "date_range"} if draw(st.booleans()) else {}
    body.update(start_date=start, end_date=end)
    return body


@st.composite
def mrn_bodies(draw: st.DrawFn) -> dict[str, Any]:
    return {"search_by": "mrn", "mrn": draw(mrns)}


@st.composite
def provider_bodies(draw: st.DrawFn) -> dict[str, Any]:
    if draw(st.booleans()):
        ids = [draw(provider_ids)]
        start, end = draw(date_ranges(1, MAX_SINGLE_PROVIDER_DAYS))
    else:
        ids = draw(st.lists(provider_ids, min_size=2, max_size=MAX_PROVIDERS, unique=True))
        start, end = draw(date_ranges(1, 1))
    return {"search_by": "provider", "provider_ids": ids, "start_date": start, "end_date": end}


VALID_BY_MODE = {"date_range": date_range_bodies, "mrn": mrn_bodies, "provider": provider_bodies}


def valid_bodies(mode: str | None = None) -> st.SearchStrategy[dict[str, Any]]:
    """Valid fetch bodies of one search mode, or of any."""
    if mode is not None:
        return VALID_BY_MODE[mode]()
    return st.one_of(*(strategy() for strategy in VALID_BY_MODE.values()))


def mode_of(body: dict[str, Any]) -> str:
    mode: str = body.get("search_by", "date_range")
    return mode


# --- invalid ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Invalid:
    """A request body that breaks one rule, and the answer it must get."""

    body: Any
    status: int
    message: str
    raw: bytes | None = None  # sent instead of ``json.dumps(body)`` when set

    def content(self) -> bytes:
        if self.raw is not None:
            return self.raw
        return json.dumps(self.body, ensure_ascii=False).encode("utf-8")


def _bad(body: Any, message: str) -> Invalid:
    return Invalid(body, 400, message)


def _ranged_body(mode: str | None, start: Any, end: Any, ids: list[str]) -> dict[str, Any]:
    """A date_range (``mode`` None: search_by left out) or provider body around the given dates."""
    body: dict[str, Any] = {} if mode is None else {"search_by": mode}
    body.update(start_date=start, end_date=end)
    if mode == "provider":
        body["provider_ids"] = ids
    return body


ranged_modes = st.sampled_from([None, "date_range", "provider"])
one_provider = st.lists(provider_ids, min_size=1, max_size=1)
some_providers = st.lists(provider_ids, min_size=1, max_size=MAX_PROVIDERS, unique=True)

malformed_dates = st.one_of(
    dates.map(lambda d: d.strftime("%m/%d/%Y")),
    dates.map(lambda d: d.strftime("%Y/%m/%d")),
    dates.map(lambda d: d.strftime("%Y%m%d")),
    dates.map(lambda d: d.strftime("%d-%m-%Y")),
    dates.map(lambda d: f"{d.year}-{d.month}-{d.day}"),  # not zero-padded
    dates.map(lambda d: d.isoformat() + "T00:00:00Z"),
    dates.map(lambda d: f" {d.isoformat()}"),
    st.sampled_from(["2025-02-30", "2023-02-29", "2025-13-01", "2025-00-10", "2025-04-31", "2025-01-32"]),
    st.text(max_size=12),
).filter(lambda text: text.strip() != "" and not is_iso_date(text))


@st.composite
def missing_dates(draw: st.DrawFn) -> Invalid:
    mode = draw(ranged_modes)
    start, end = draw(date_ranges(1, 1))
    body = _ranged_body(mode, start, end, draw(one_provider))
    gone = draw(st.sampled_from([["start_date"], ["end_date"], ["start_date", "end_date"]]))
    for name in gone:
        del body[name]
    return _bad(body, missing_message(gone))


@st.composite
def bad_date_formats(draw: st.DrawFn) -> Invalid:
    mode = draw(ranged_modes)
    start, end = draw(date_ranges(1, 1))
    which = draw(st.sampled_from(["start_date", "end_date", "both"]))
    if which in ("start_date", "both"):
        start = draw(malformed_dates)
    if which in ("end_date", "both"):
        end = draw(malformed_dates)
    return _bad(_ranged_body(mode, start, end, draw(one_provider)), MSG_INVALID_DATE)


@st.composite
def ends_before_start(draw: st.DrawFn) -> Invalid:
    mode = draw(ranged_modes)
    start = draw(dates)
    end = start - dt.timedelta(days=draw(st.integers(1, 400)))
    body = _ranged_body(mode, start.isoformat(), end.isoformat(), draw(some_providers))
    return _bad(body, MSG_END_BEFORE_START)


@st.composite
def ranges_too_long(draw: st.DrawFn) -> Invalid:
    start, end = draw(date_ranges(MAX_RANGE_DAYS + 1, 3 * 366))
    return _bad(_ranged_body(draw(st.sampled_from([None, "date_range"])), start, end, []), MSG_RANGE_TOO_LONG)


def documented_invalid() -> st.SearchStrategy[Invalid]:
    """Invalid bodies whose 400 message Cobalt documents word for word."""
    return st.one_of(missing_dates(), bad_date_formats(), ends_before_start(), ranges_too_long())


# decisions: the docs name the rule but not the answer (cobalt-api.md §2, "[decision]")

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
)
json_values = st.recursive(
    json_scalars,
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids, max_size=3),
    max_leaves=6,
)
not_strings = json_values.filter(lambda v: not isinstance(v, str) and v is not None)


@st.composite
def single_provider_too_long(draw: st.DrawFn) -> Invalid:
    start, end = draw(date_ranges(MAX_SINGLE_PROVIDER_DAYS + 1, 60))
    return _bad(_ranged_body("provider", start, end, draw(one_provider)), MSG_PROVIDER_RANGE_TOO_LONG)


@st.composite
def many_providers_many_days(draw: st.DrawFn) -> Invalid:
    ids = draw(st.lists(provider_ids, min_size=2, max_size=MAX_PROVIDERS, unique=True))
    start, end = draw(date_ranges(2, 30))
    return _bad(_ranged_body("provider", start, end, ids), MSG_PROVIDERS_ONE_DAY)


@st.composite
def bad_provider_ids(draw: st.DrawFn) -> Invalid:
    start, end = draw(date_ranges(1, 1))
    ids = draw(
        st.one_of(
            st.just([]),
            st.lists(provider_ids, min_size=MAX_PROVIDERS + 1, max_size=MAX_PROVIDERS + 5, unique=True),
            provider_ids.map(lambda p: [p, p]),  # duplicates
            st.lists(provider_ids, max_size=3).map(lambda ids: [*ids, ""]),  # an empty id
            st.lists(not_strings, min_size=1, max_size=3),  # ids that are not strings
            not_strings.filter(lambda v: not isinstance(v, list)),  # not an array
            provider_ids,  # a bare string, not an array
        )
    )
    return _bad(_ranged_body("provider", start, end, ids), MSG_PROVIDER_IDS)


@st.composite
def missing_provider_ids(draw: st.DrawFn) -> Invalid:
    start, end = draw(date_ranges(1, 1))
    return _bad(
        {"search_by": "provider", "start_date": start, "end_date": end}, missing_message(["provider_ids"])
    )


@st.composite
def missing_mrn(draw: st.DrawFn) -> Invalid:
    body: dict[str, Any] = {"search_by": "mrn"}
    blank = draw(st.sampled_from(["absent", None, ""]))  # JavaScript's `!value`: null and "" are missing
    if blank != "absent":
        body["mrn"] = blank
    return _bad(body, missing_message(["mrn"]))


@st.composite
def mrn_not_string(draw: st.DrawFn) -> Invalid:
    return _bad({"search_by": "mrn", "mrn": draw(not_strings)}, MSG_MRN)


@st.composite
def unknown_search_by(draw: st.DrawFn) -> Invalid:
    start, end = draw(date_ranges(1, 1))
    value = draw(st.one_of(st.text(min_size=1, max_size=20).filter(lambda s: s not in MODES), not_strings))
    return _bad({"search_by": value, "start_date": start, "end_date": end}, MSG_SEARCH_BY)


@st.composite
def blank_dates(draw: st.DrawFn) -> Invalid:
    mode = draw(ranged_modes)
    start, end = draw(date_ranges(1, 1))
    body = _ranged_body(mode, start, end, draw(one_provider))
    which = draw(st.sampled_from([["start_date"], ["end_date"], ["start_date", "end_date"]]))
    for name in which:
        body[name] = draw(st.sampled_from([None, ""]))
    return _bad(body, missing_message(which))


@st.composite
def dates_not_strings(draw: st.DrawFn) -> Invalid:
    mode = draw(ranged_modes)
    start, end = draw(date_ranges(1, 1))
    which = draw(st.sampled_from(["start_date", "end_date"]))
    body = _ranged_body(mode, start, end, draw(one_provider))
    body[which] = draw(not_strings)
    return _bad(body, MSG_INVALID_DATE)


@st.composite
def unknown_fields(draw: st.DrawFn) -> Invalid:
    start, end = draw(date_ranges(1, 1))
    name = draw(
        st.from_regex(r"[a-z][a-zA-Z_]{0,19}", fullmatch=True).filter(lambda n: n not in KNOWN_FIELDS)
    )
    body = {"start_date": start, "end_date": end, name: draw(json_values)}
    return _bad(body, f"Unknown field(s) in request body: {name}.")


def _is_json(raw: bytes) -> bool:
    try:
        json.loads(raw.decode("utf-8"))
    except ValueError:  # UnicodeDecodeError and JSONDecodeError alike
        return False
    return True


not_json = st.one_of(
    st.sampled_from(
        [
            b'{"start_date": ',
            b"{start_date: '2025-01-01'}",
            b'{"start_date": "2025-01-01",}',
            b"NaN",
            b"\xff\xfe",
        ]
    ),
    st.binary(min_size=1, max_size=40),
    st.text(min_size=1, max_size=40).map(str.encode),
).filter(lambda raw: raw.strip() != b"" and not _is_json(raw))


def decided_invalid() -> st.SearchStrategy[Invalid]:
    """Invalid bodies whose answer is the fake's decision (the docs give no wording)."""
    return st.one_of(
        single_provider_too_long(),
        many_providers_many_days(),
        bad_provider_ids(),
        missing_provider_ids(),
        missing_mrn(),
        mrn_not_string(),
        unknown_search_by(),
        blank_dates(),
        dates_not_strings(),
        unknown_fields(),
        not_json.map(lambda raw: Invalid(None, 400, MSG_NOT_JSON, raw=raw)),
        json_values.filter(lambda v: not isinstance(v, dict)).map(lambda v: _bad(v, MSG_NOT_OBJECT)),
    )


# --- auth -------------------------------------------------------------------------------------------


@st.composite
def broken_auth(draw: st.DrawFn) -> dict[str, str]:
    """For each auth header: ``keep``, ``drop`` or ``empty``; at least one not kept."""
    names = ("client_id", "client_secret", "access_token")
    choices = st.sampled_from(["keep", "drop", "empty"])
    plan = draw(st.tuples(choices, choices, choices).filter(lambda p: p != ("keep", "keep", "keep")))
    return dict(zip(names, plan, strict=True))
