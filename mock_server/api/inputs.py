"""What a request carries, read and checked: Cobalt's auth headers, the body, the query; untrusted
input turned into typed values or into Cobalt's error messages.

Every endpoint reads its input through these, so credentials, media type and size are checked the
same way and their errors are worded the same way everywhere. The fetch body is checked against
``schemas/fetch-request.json`` (through the one loader); each schema error maps to the message
Cobalt documents for it. Then the rules a schema cannot express: real calendar dates, range order
and length, provider-count rules, each read as the server's settings say (``max_range_days``,
``max_single_provider_days``, ``multi_provider_same_day``, ``max_providers``: ``docs/rules.md``); at
their defaults every message is Cobalt's documented one, otherwise it names the configured limit.
"""

from __future__ import annotations

import datetime as dt
import functools
import hmac
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope

from mock_server.api.pipeline import HEADERS_KEY, MSG_TOO_LARGE
from mock_server.errors import ApiError
from mock_server.model.behaviours import SCENARIO_HEADER
from mock_server.model.jobs import SEARCH_MODES, FetchRequest, SearchBy
from mock_server.resources import load_schema, registry, validator
from mock_server.settings import Settings, is_http_url

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

MSG_MEDIA_TYPE = "Content-Type must be application/json."

AUTH_HEADERS = {b"client_id": "client_id", b"client_secret": "client_secret", b"access_token": "access_token"}
WEBHOOK_AUTH_HEADERS = {b"client_id": "client_id", b"client_secret": "client_secret"}
BODY_HEADERS = {b"content-type": "content-type", b"content-length": "content-length"}


def header_values(scope: Scope, names: Mapping[bytes, str]) -> Mapping[str, str]:
    """``request.headers.get(name, "")`` for each of ``names`` (raw lower-case name → name); the
    first of repeated headers wins. A journaled request's headers were decoded once, by the
    journal's pass (``HEADERS_KEY``, where a header not sent reads as ""); others are read in one
    pass over the raw headers."""
    first: Mapping[str, str] | None = scope.get(HEADERS_KEY)
    if first is not None:
        return first
    values = dict.fromkeys(names.values(), "")
    for key, value in reversed(scope["headers"]):  # backwards, so the first one is written last
        if (name := names.get(key)) is not None:
            values[name] = value.decode("latin-1")
    return values


class Credentials(NamedTuple):
    """Who made an API call (the access token is empty for webhook calls, which need none)."""

    client_id: str
    access_token: str


class FetchInput(NamedTuple):
    credentials: Credentials
    request: FetchRequest
    scenario_header: str


_FETCH_HEADERS = {
    **AUTH_HEADERS,
    **BODY_HEADERS,
    SCENARIO_HEADER.encode(): SCENARIO_HEADER,
}


async def fetch_input(settings: Settings, scope: Scope, receive: Receive) -> FetchInput:
    """All a ``POST /v1/appointments/fetch`` carries, checked: the credentials, the validated body
    and the ``x-cobalt-mock-scenario`` header (the headers read in one pass)."""
    values = header_values(scope, _FETCH_HEADERS)
    credentials = check_credentials(settings, values)
    request = parse_fetch_request(await read_json(values, receive, settings.max_body_bytes), settings)
    return FetchInput(credentials, request, values[SCENARIO_HEADER])


def check_credentials(settings: Settings, values: Mapping[str, str], *, token: bool = True) -> Credentials:
    """Cobalt's three headers (``values`` from ``header_values``), checked before anything else;
    ``/v1/webhook*`` needs no access token."""
    names = ("client_id", "client_secret", "access_token") if token else ("client_id", "client_secret")
    missing = [name for name in names if not values[name].strip()]
    if missing:
        raise ApiError(401, f"Missing required header(s): {', '.join(missing)}")
    if settings.strict_credentials:
        expected = {"client_id": settings.client_id, "client_secret": settings.client_secret}
        if token:
            expected["access_token"] = settings.access_token
        for name, want in expected.items():
            if want is not None and not hmac.compare_digest(values[name].encode(), want.encode()):
                raise ApiError(401, "Invalid credentials.")
    return Credentials(values["client_id"], values["access_token"] if token else "")


def authenticate(settings: Settings, scope: Scope, *, token: bool = True) -> Credentials:
    return check_credentials(
        settings, header_values(scope, AUTH_HEADERS if token else WEBHOOK_AUTH_HEADERS), token=token
    )


async def read_json(values: Mapping[str, str], receive: Receive, limit: int) -> Any:
    """A JSON body: application/json only (``values`` holds the two ``BODY_HEADERS``)."""
    media_type = values["content-type"].split(";")[0].strip().lower()
    if media_type != "application/json":
        raise ApiError(415, MSG_MEDIA_TYPE)
    return parse_json_body(await read_body(values, receive, limit))


async def read_object(scope: Scope, receive: Receive, limit: int) -> dict[str, Any]:
    """A JSON object body where an empty body is ``{}``, of any content type (for curl's sake)."""
    raw = await read_body(header_values(scope, BODY_HEADERS), receive, limit)
    if not raw.strip():
        return {}
    body = parse_json_body(raw)
    if not isinstance(body, dict):
        raise ApiError(400, MSG_NOT_OBJECT)
    return body


async def read_body(values: Mapping[str, str], receive: Receive, limit: int) -> bytes:
    """The whole body, refused past ``limit`` bytes: before it is read when its declared length is
    larger, else as soon as what arrived is."""
    declared = values["content-length"]
    if declared.isdigit() and int(declared) > limit:
        raise ApiError(413, MSG_TOO_LARGE)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.request":
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise ApiError(413, MSG_TOO_LARGE)
            if not message.get("more_body", False):
                return b"".join(chunks) + chunk if chunks else chunk
            chunks.append(chunk)
        elif message["type"] == "http.disconnect":
            raise ClientDisconnect()


async def until_disconnect(receive: Receive) -> None:
    """Returns when the client hangs up (call once the body has been read)."""
    while (await receive())["type"] != "http.disconnect":
        pass


# The fetch body and the query


def _days(count: int) -> str:
    return f"{count} day" if count == 1 else f"{count} days"


def range_too_long(max_days: int) -> str:
    return f"Date range cannot exceed {_days(max_days)}."


def provider_range_too_long(max_days: int, providers: int = 1) -> str:
    which = "a single provider" if providers == 1 else "providers"
    return f"Date range cannot exceed {_days(max_days)} when fetching {which}."


def providers_one_day(max_providers: int) -> str:
    return f"start_date must equal end_date when fetching 2 to {max_providers} providers."


def bad_provider_ids(max_providers: int) -> str:
    return f"Invalid provider_ids. It must be an array of 1 to {max_providers} distinct, non-empty strings."


DEFAULTS = Settings()
"""Cobalt's documented rules, as the fake reads them by default."""
MSG_INVALID_DATE = "Invalid date format. Use ISO format (YYYY-MM-DD)."
MSG_END_BEFORE_START = "end_date must be after start_date."
MSG_RANGE_TOO_LONG = range_too_long(DEFAULTS.max_range_days)
MSG_PROVIDER_RANGE_TOO_LONG = provider_range_too_long(DEFAULTS.max_single_provider_days)
MSG_PROVIDERS_ONE_DAY = providers_one_day(DEFAULTS.max_providers)
MSG_SEARCH_BY = "Invalid search_by. Must be one of: date_range, mrn, provider."
MSG_MRN = "Invalid mrn. It must be a non-empty string."
MSG_PROVIDER_IDS = bad_provider_ids(DEFAULTS.max_providers)
MSG_NOT_JSON = "Request body must be valid JSON."
MSG_NOT_OBJECT = "Request body must be a JSON object."

# Order in which missing parameters are named, as in "Missing required parameters: start_date, end_date."
_PARAM_ORDER = ("start_date", "end_date", "mrn", "provider_ids", "webhook_url", "url")
# Cobalt checks presence like JavaScript's `!value`: null and "" count as missing, for every field of
# the body whether or not the mode uses it (cobalt-api.md section 8; Cobalt's own curl sends `"mrn": ""`
# in date-range mode). `[]` is a blank provider_ids outside provider mode; in it, it is a bad value.


def without_blanks(body: Mapping[str, Any]) -> dict[str, Any]:
    """``body`` with its blank fields left out, as Cobalt reads it (unknown fields are kept, to be
    refused by name)."""
    mode = body.get("search_by")
    provider = type(mode) is str and mode == "provider"
    return {
        k: v
        for k, v in body.items()
        if not (
            k in KNOWN_FIELDS
            and (
                (v is None or (type(v) is str and v == ""))
                or (k == "provider_ids" and v == [] and not provider)
            )
        )
    }


def missing_message(names: Iterable[str]) -> str:
    ordered = sorted(set(names), key=lambda n: (_PARAM_ORDER.index(n) if n in _PARAM_ORDER else 99, n))
    return f"Missing required parameters: {', '.join(ordered)}."


def parse_json_body(raw: bytes) -> Any:
    """Strict JSON (UTF-8, no NaN, no lone surrogates, so every accepted string can be re-sent)."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ApiError(400, MSG_NOT_JSON) from None


def parse_fetch_request(body: Any, settings: Settings = DEFAULTS) -> FetchRequest:
    """Validate a parsed fetch body by ``settings``' rule readings, raising
    ``ApiError(400, <Cobalt's message>)``."""
    if type(body) is dict and (quick := quick_fetch(body, settings.max_range_days)) is not None:
        return quick
    return validate_fetch_body(body, settings)


def validate_fetch_body(body: Any, settings: Settings = DEFAULTS) -> FetchRequest:
    """The general path of ``parse_fetch_request``: every body, every rule, every message."""
    if not isinstance(body, dict):
        raise ApiError(400, MSG_NOT_OBJECT)
    body = without_blanks(body)
    most = settings.max_providers
    if not plainly_valid(body, most):  # the schema decides (and words) everything but the common shapes
        errors = list(fetch_request_validator(most).iter_errors(body))
        if errors:
            raise ApiError(400, _message_for(body, errors, most))
    search_by: SearchBy = body.get("search_by", "date_range")
    if search_by == "mrn":
        return FetchRequest("mrn", mrn=body["mrn"])
    start, end = parse_date(body["start_date"]), parse_date(body["end_date"])
    if end < start:
        raise ApiError(400, MSG_END_BEFORE_START)
    days = (end - start).days + 1
    if search_by == "date_range":
        if days > settings.max_range_days:
            raise ApiError(400, range_too_long(settings.max_range_days))
        return FetchRequest("date_range", start, end)
    providers = tuple(body["provider_ids"])
    if len(set(providers)) != len(providers):
        raise ApiError(400, bad_provider_ids(most))
    if len(providers) > 1 and settings.multi_provider_same_day:
        if days > 1:
            raise ApiError(400, providers_one_day(most))
    elif days > settings.max_single_provider_days:
        raise ApiError(400, provider_range_too_long(settings.max_single_provider_days, len(providers)))
    return FetchRequest("provider", start, end, provider_ids=providers)


def quick_fetch(body: dict[str, Any], max_range_days: int = DEFAULTS.max_range_days) -> FetchRequest | None:
    """The two shapes nearly every fetch has, accepted without the general path: a date range of
    at most ``max_range_days`` (``search_by`` given or not) and an MRN. None means "take the general
    path", which decides everything else and words every error (``tests/api/test_inputs.py`` checks
    with Hypothesis that both paths agree on every body)."""
    mode = body.get("search_by", "date_range")
    if mode == "mrn":
        mrn = body.get("mrn")
        if len(body) == 2 and type(mrn) is str and mrn:
            return FetchRequest("mrn", None, None, mrn)
        return None
    if mode != "date_range" or len(body) != (3 if "search_by" in body else 2):
        return None
    start, end = _quick_date(body.get("start_date")), _quick_date(body.get("end_date"))
    if start is None or end is None or not 0 <= (end - start).days < max_range_days:
        return None
    return FetchRequest("date_range", start, end)


def _quick_date(value: object) -> dt.date | None:
    return _schema_date(value) if type(value) is str else None


@functools.lru_cache(maxsize=1024)
def _schema_date(value: str) -> dt.date | None:
    """``value`` as a date if the schema's ``date`` accepts it, else None (remembered: a client
    asks for the same few days again and again)."""
    return dt.date.fromisoformat(value) if _is_schema_date(value) else None


def plainly_valid(body: Mapping[str, Any], max_providers: int = DEFAULTS.max_providers) -> bool:
    """True only for bodies ``fetch_request_validator(max_providers)`` accepts: its rules written
    out by hand.

    Every fetch passes here first because asking jsonschema costs ~50 times more (a third of a
    fetch's time). False only means "ask the schema", which stays the authority and words the error;
    ``tests/api/test_inputs.py`` checks with Hypothesis that the two agree on every body.
    """
    body = without_blanks(body)
    for key, value in body.items():
        if key == "start_date" or key == "end_date":
            if not _is_schema_date(value):
                return False
        elif key == "search_by":
            if type(value) is not str or value not in SEARCH_MODES:
                return False
        elif key == "mrn":
            if type(value) is not str or not value:
                return False
        elif key == "provider_ids":
            if type(value) is not list or not 1 <= len(value) <= max_providers:
                return False
            if any(type(item) is not str or not item for item in value):
                return False
        else:
            return False
    mode = body.get("search_by", "date_range")
    if mode == "mrn":
        return "mrn" in body
    if "start_date" not in body or "end_date" not in body:
        return False
    return mode == "date_range" or "provider_ids" in body


def _is_schema_date(value: object) -> bool:
    """``common.json#/$defs/date``: the pattern and the ``date`` format (a real calendar date)."""
    if (
        type(value) is not str
        or len(value) != 10
        or not value.isascii()
        or value[4] != "-"
        or value[7] != "-"
    ):
        return False
    if not (value[:4] + value[5:7] + value[8:]).isdigit():
        return False
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def fetch_request_schema(max_providers: int) -> dict[str, Any]:
    """``schemas/fetch-request.json`` with ``provider_ids`` up to ``max_providers`` (the file holds
    Cobalt's documented 10): the schema this server's fetch follows, and its OpenAPI document shows."""
    schema = load_schema("fetch-request")
    if max_providers == DEFAULTS.max_providers:
        return schema
    changed: dict[str, Any] = _with_max_items(schema, max_providers)
    return changed


def _with_max_items(node: Any, max_items: int) -> Any:
    if isinstance(node, list):
        return [_with_max_items(item, max_items) for item in node]
    if not isinstance(node, dict):
        return node
    return {k: max_items if k == "maxItems" else _with_max_items(v, max_items) for k, v in node.items()}


@functools.lru_cache(maxsize=8)
def fetch_request_validator(max_providers: int) -> Draft202012Validator:
    """The validator of ``fetch_request_schema(max_providers)``, made once per limit."""
    if max_providers == DEFAULTS.max_providers:
        return validator("fetch-request")
    from jsonschema import Draft202012Validator  # as resources.validator: not at start-up

    return Draft202012Validator(
        fetch_request_schema(max_providers),
        registry=registry(),
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def _message_for(body: Mapping[str, Any], errors: list[ValidationError], max_providers: int) -> str:
    """The one message Cobalt would give, chosen by a fixed priority over all schema errors."""
    unknown = [k for k in body if k not in KNOWN_FIELDS]
    if unknown:
        return _unknown_message(unknown)
    fields = {str(e.path[0]) for e in errors if e.path}
    if "search_by" in fields:
        return MSG_SEARCH_BY
    required: list[str] = []
    for error in errors:
        if error.validator == "required" and isinstance(error.validator_value, list):
            required.extend(str(name) for name in error.validator_value)
    missing = [name for name in required if name not in body]
    if missing:
        return missing_message(missing)
    if fields & {"start_date", "end_date"}:
        return MSG_INVALID_DATE
    if "mrn" in fields:
        return MSG_MRN
    return bad_provider_ids(max_providers)


KNOWN_FIELDS = frozenset({"search_by", "start_date", "end_date", "mrn", "provider_ids"})


def _unknown_message(unknown: list[str]) -> str:
    names = ", ".join(k if len(k) <= 40 else k[:40] + "…" for k in unknown[:5])
    return f"Unknown field(s) in request body: {names}."


def parse_date(value: object) -> dt.date:
    """A real calendar date written exactly ``YYYY-MM-DD``."""
    if not isinstance(value, str) or len(value) != 10 or value[4] != "-" or value[7] != "-":
        raise ApiError(400, MSG_INVALID_DATE)
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ApiError(400, MSG_INVALID_DATE) from None


def parse_date_range(params: Mapping[str, str]) -> tuple[dt.date, dt.date]:
    """``start_date``/``end_date`` query parameters, both required, in order."""
    missing = [name for name in ("start_date", "end_date") if not params.get(name)]
    if missing:
        raise ApiError(400, missing_message(missing))
    start, end = parse_date(params["start_date"]), parse_date(params["end_date"])
    if end < start:
        raise ApiError(400, MSG_END_BEFORE_START)
    return start, end


# The registration body's one field in each documented version (``webhook_api``), and the version
# as the refusal of the other's field names it.
WEBHOOK_URL_FIELD = {"guide": "webhook_url", "reference": "url"}
WEBHOOK_API_NAME = {"guide": "the guide's", "reference": "the API reference's"}


def parse_webhook_url(body: Any, api: str) -> str:
    """The URL of a registration body in ``api``'s version (``webhook_url`` in the guide's, ``url``
    in the API reference's): an absolute http(s) URL with a host, by the same check as the webhook
    URLs given at start-up (``settings.is_http_url``). Any other field, the other version's
    included, is refused by name with the one this version takes."""
    if not isinstance(body, dict):
        raise ApiError(400, MSG_NOT_OBJECT)
    field = WEBHOOK_URL_FIELD[api]
    unknown = [k for k in body if k != field]
    if unknown:  # the request schemas are closed (schemas/README.md), like the fetch body's
        raise ApiError(400, unknown_webhook_field_message(unknown, api))
    url = body.get(field)
    if url in (None, ""):
        raise ApiError(400, missing_message([field]))
    if not isinstance(url, str) or not is_http_url(url):
        raise ApiError(400, f"Invalid {field}. It must be an absolute http or https URL.")
    return url


def unknown_webhook_field_message(unknown: list[str], api: str) -> str:
    """``Unknown field url; this server follows the guide's webhook API (webhook_url).``"""
    names = ", ".join(k if len(k) <= 40 else k[:40] + "…" for k in unknown[:5])
    fields = "field" if len(unknown) == 1 else "fields"
    return (
        f"Unknown {fields} {names}; this server follows {WEBHOOK_API_NAME[api]} webhook API "
        f"({WEBHOOK_URL_FIELD[api]})."
    )


def parse_int_param(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":  # `?page=` is `page` left out (the OpenAPI document: allowEmptyValue)
        return default
    if not raw.isascii() or not raw.isdigit() or not low <= int(raw) <= high:
        raise ApiError(400, f"Invalid {name}. It must be an integer from {low} to {high}.")
    return int(raw)


def parse_choice(params: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str | None:
    raw = params.get(name)
    if raw is None or raw == "":  # left out, as the OpenAPI document says (allowEmptyValue)
        return None
    if raw not in choices:
        raise ApiError(400, f"Invalid {name}. Must be one of: {', '.join(choices)}.")
    return raw


def parse_bool_param(params: Mapping[str, str], name: str, default: bool = False) -> bool:
    raw = parse_choice(params, name, ("true", "false", "1", "0"))
    return default if raw is None else raw in ("true", "1")
