"""The one frozen ``Settings`` object: defaults, then ``COBALT_MOCK_*`` environment, then flags/markers.

Every setting has one name used everywhere: the field ``delay``, the variable ``COBALT_MOCK_DELAY``,
the flag ``--delay`` and the marker argument ``cobalt_mock(delay=...)``. Nothing else reads
``os.environ``.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import random
import shlex
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple
from urllib.parse import urlsplit

from mock_server.errors import ConfigError

ENV_PREFIX = "COBALT_MOCK_"
# uvicorn's levels (uvicorn.config.LOG_LEVELS), spelled out so this module needs no uvicorn import.
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")
# The two documented versions of webhook registration (docs/webhook-api.md).
WEBHOOK_APIS = ("guide", "reference")


class SettingError(ConfigError):
    """A setting's value was refused: ``name``, the ``value`` as given, the ``reason``, and where it
    came from when that is known (``source``, e.g. ``COBALT_MOCK_DELAY=abc``)."""

    def __init__(self, name: str, value: object, reason: str, source: str | None = None) -> None:
        super().__init__(f"{source or name}: {reason}")
        self.name = name
        self.value = value
        self.reason = reason
        self.source = source


def flag_for(name: str, prefix: str = "--") -> str:
    """A setting's command-line flag: ``delay`` → ``--delay``; the repeatable ``webhook_urls`` is
    ``--webhook-url``. The pytest plugin's flags take the prefix ``--cobalt-mock-``."""
    return prefix + ("webhook-url" if name == "webhook_urls" else name.replace("_", "-"))


# Fixed and printed at start-up, like `stripe listen`, so a restart keeps receivers' config valid.
DEFAULT_WEBHOOK_SECRET = "whsec_cobalt_mock_0123456789abcdef"  # noqa: S105 - a public test secret


@dataclass(frozen=True)
class Delay:
    """How long a job takes: fixed, uniform in a range, or lognormal around a median.

    Text forms: ``2``, ``1..5``, ``lognormal:2:0.5`` (median seconds, sigma).
    """

    kind: Literal["fixed", "uniform", "lognormal"] = "fixed"
    low: float = 0.0
    high: float = 0.0

    @classmethod
    def parse(cls, value: object) -> Delay:
        if isinstance(value, Delay):
            return value
        if isinstance(value, bool):
            raise ConfigError(f"delay must be seconds, a range like 1..5, or lognormal:M:S; got {value!r}")
        if isinstance(value, int | float):
            return cls._checked("fixed", float(value), float(value))
        text = str(value).strip()
        try:
            if text.startswith("lognormal:"):
                _, median, sigma = text.split(":")
                return cls._checked("lognormal", float(median), float(sigma))
            if ".." in text:
                low, high = text.split("..")
                return cls._checked("uniform", float(low), float(high))
            seconds = float(text)
        except ValueError:
            raise ConfigError(
                f"delay must be seconds, a range like 1..5, or lognormal:M:S; got {text!r}"
            ) from None
        return cls._checked("fixed", seconds, seconds)

    @classmethod
    def _checked(cls, kind: Literal["fixed", "uniform", "lognormal"], low: float, high: float) -> Delay:
        if not (math.isfinite(low) and math.isfinite(high)) or low < 0 or high < 0:
            raise ConfigError(f"delay values must be finite and >= 0; got {low}, {high}")
        if kind == "uniform" and high < low:
            raise ConfigError(f"delay range {low}..{high} ends before it starts")
        return cls(kind, low, high)

    def draw(self, rng: random.Random) -> float:
        """Seconds for one job, drawn from ``rng`` (seeded per job, so runs repeat)."""
        if self.kind == "fixed":
            return self.low
        if self.kind == "uniform":
            return rng.uniform(self.low, self.high)
        return rng.lognormvariate(math.log(self.low), self.high) if self.low > 0 else 0.0

    def __str__(self) -> str:
        if self.kind == "fixed":
            return f"{self.low:g}"
        if self.kind == "uniform":
            return f"{self.low:g}..{self.high:g}"
        return f"lognormal:{self.low:g}:{self.high:g}"


def _parse_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigError(f"expected a boolean (true/false), got {value!r}")


def _parse_list(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    if isinstance(value, list | tuple):
        return tuple(str(part) for part in value)
    raise ConfigError(f"expected a comma-separated list, got {value!r}")


def _parse_mapping(value: object) -> tuple[tuple[str, str], ...]:
    """``token=ref,token2=ref2`` or a dict, kept as sorted pairs so Settings stays hashable."""
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), str(v)) for k, v in value.items()))
    pairs = []
    for part in _parse_list(value):
        key, sep, val = part.partition("=")
        if not sep or not key or not val:
            raise ConfigError(f"expected key=value pairs, got {part!r}")
        pairs.append((key.strip(), val.strip()))
    return tuple(sorted(pairs))


def is_http_url(url: str) -> bool:
    """An absolute http(s) URL with a host (and a port from 1 to 65535, if any): what the fake
    delivers webhooks to, whether registered through the API or given at start-up."""
    try:
        parts = urlsplit(url)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        return False
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and port_ok
        and url.isprintable()
        and " " not in url
    )


def _parse_webhook_urls(value: object) -> tuple[str, ...]:
    """Checked now, as the API checks a registration, so a typo fails at start-up, not at the first
    delivery."""
    urls = _parse_list(value)
    for url in urls:
        if not is_http_url(url):
            raise ConfigError(f"{url!r} is not an absolute http or https URL, like http://127.0.0.1:9/hook")
    return urls


def _non_empty(what: str) -> Callable[[object], str]:
    def parse(value: object) -> str:
        text = str(value)
        if not text:
            raise ConfigError(f"expected {what}, got ''")
        return text

    return parse


def _parse_log_level(value: object) -> str:
    level = str(value).strip().lower()
    if level not in LOG_LEVELS:
        raise ConfigError(f"expected one of {', '.join(LOG_LEVELS)}; got {value!r}")
    return level


def _parse_webhook_api(value: object) -> str:
    api = str(value).strip().lower()
    if api not in WEBHOOK_APIS:
        raise ConfigError(f"expected one of {', '.join(WEBHOOK_APIS)}; got {value!r}")
    return api


def check_timezone(name: str) -> str:
    """``name`` if it is an IANA zone name, else ``ConfigError``."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise ConfigError(f"Unknown time zone {name!r}; use an IANA name like America/New_York.") from None
    return name


def _parse_timezone(value: object) -> str | None:
    """Checked now, so a typo fails at start-up, not as a failed fetch later."""
    name = _parse_optional_str(value)
    return None if name is None else check_timezone(name)


def _parse_optional_str(value: object) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text or None


def number(kind: type[int] | type[float], low: float, high: float = math.inf) -> Callable[[object], Any]:
    """A parser of numbers (given as numbers or text) of ``kind`` from ``low`` to ``high``."""
    bounds = f">= {low:g}" if high == math.inf else f"from {low:g} to {high:g}"

    def parse(value: object) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ConfigError(f"expected a number, got {value!r}")
        try:
            parsed = kind(value)
        except ValueError:
            raise ConfigError(f"expected a number, got {value!r}") from None
        if isinstance(value, float) and kind is int and parsed != value:
            raise ConfigError(f"expected a whole number, got {value!r}")
        if not (math.isfinite(parsed) and low <= parsed <= high):
            raise ConfigError(f"expected a number {bounds}, got {value!r}")
        return parsed

    return parse


@dataclass(frozen=True)
class Settings:
    """Everything the fake can be told; ``SPECS`` says what each setting means and takes."""

    host: str = "127.0.0.1"
    port: int = 8765
    webhook_urls: tuple[str, ...] = ()
    webhook_secret: str = DEFAULT_WEBHOOK_SECRET
    webhook_api: str = "guide"
    delay: Delay = field(default_factory=lambda: Delay("fixed", 2.0, 2.0))
    # Added before every API answer (not /_mock/), drawn per request from the seed.
    api_latency: Delay = field(default_factory=Delay)
    seed: int = 0
    timezone: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    access_token: str | None = None
    token_references: tuple[tuple[str, str], ...] = ()
    # Readings of Cobalt's fetch rules (docs/rules.md), the stricter one by default; day counts are
    # inclusive: end_date - start_date <= N - 1.
    max_range_days: int = 7
    max_single_provider_days: int = 5
    multi_provider_same_day: bool = True
    max_providers: int = 10
    # Cobalt's delivery rules; changeable only so tests of other things need not wait on them.
    webhook_timeout: float = 5.0
    retry_timeout: float = 2.0
    retry_delay: float = 1.0
    delivery_concurrency: int = 64
    max_jobs: int = 10_000
    admission_timeout: float = 5.0
    max_events: int = 10_000
    max_cached_appointments: int = 200_000
    max_journal: int = 10_000
    max_body_bytes: int = 1_048_576
    # `cobalt-mock serve` closes a connection that takes longer to send a whole request.
    read_timeout: float = 10.0
    shutdown_grace: float = 5.0
    control: bool = True
    control_token: str | None = None
    log_level: str = "info"

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        warn: Callable[[str], object] | None = None,
        /,  # the settings' names are the keywords
        **overrides: object,
    ) -> Settings:
        """Defaults, then ``COBALT_MOCK_<NAME>`` variables of ``environ`` (``os.environ`` if None),
        then ``overrides`` (flags, markers).

        A bad variable's error names it (``COBALT_MOCK_DELAY=abc: ...``). Each variable that no
        setting reads is told to ``warn``, if given, in one message with the nearest known name.
        """
        env = os.environ if environ is None else environ
        if warn is not None:
            for message in _unknown_variables(env):
                warn(message)
        given = {k: v for k, v in overrides.items() if v is not None}
        parsed: dict[str, Any] = {}
        for name in SPECS:
            key = ENV_PREFIX + name.upper()
            if key in env and name not in given:  # a flag over a bad variable wins, unread
                try:
                    parsed[name] = parse_setting(name, env[key])
                except SettingError as exc:
                    source = f"{key}={shlex.quote(env[key])}"
                    raise SettingError(name, env[key], exc.reason, source) from None
        return dataclasses.replace(cls(), **parsed).replace(**given)

    def replace(self, **values: object) -> Settings:
        """A copy with ``values`` parsed from text or native types; unknown names are an error."""
        unknown = sorted(set(values) - set(SPECS))
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(unknown)}")
        parsed = {name: parse_setting(name, value) for name, value in values.items()}
        return dataclasses.replace(self, **parsed)

    @property
    def strict_credentials(self) -> bool:
        return any((self.client_id, self.client_secret, self.access_token))

    def reference_for(self, access_token: str) -> str | None:
        return dict(self.token_references).get(access_token)

    def public(self) -> dict[str, object]:
        """The settings as plain JSON values, secrets redacted (for logs and ``/_mock/config``)."""
        out: dict[str, object] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in _SECRET_FIELDS and value is not None:
                value = "***"
            elif isinstance(value, Delay):
                value = str(value)
            elif f.name == "token_references":
                value = dict(value)
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out


def parse_setting(name: str, value: object) -> Any:
    """One setting's value from text or a native type, or a ``SettingError`` naming the setting."""
    try:
        return SPECS[name].parse(value)
    except ConfigError as exc:
        raise SettingError(name, value, str(exc)) from None


def _unknown_variables(env: Mapping[str, str]) -> list[str]:
    known = [name.upper() for name in SPECS]
    messages = []
    for key in sorted(k for k in env if k.startswith(ENV_PREFIX) and k[len(ENV_PREFIX) :] not in known):
        # Matched without the prefix they share, which would make every name look close.
        close = difflib.get_close_matches(key[len(ENV_PREFIX) :], known, n=1)
        hint = f"did you mean {ENV_PREFIX}{close[0]}?" if close else "cobalt-mock serve --help lists them"
        messages.append(f"{key} is not a cobalt-mock setting and is ignored; {hint}")
    return messages


_SECRET_FIELDS = frozenset({"client_secret", "access_token", "control_token"})


class Spec(NamedTuple):
    """One setting's parser and its help: what it means and which values it takes. The default and
    the environment variable are added by ``describe``; ``--help`` and the docs' settings reference
    both print ``describe``, so the two cannot disagree."""

    parse: Callable[[object], Any]
    help: str
    reads: str = ""
    """For a setting that picks a reading of Cobalt's docs: the sentence of the docs it reads."""


SPECS: dict[str, Spec] = {
    "host": Spec(
        _non_empty("a host name or IP address"),  # "" would bind every interface
        "interface to bind; anything but loopback exposes the fake (and its control API) to the network",
    ),
    "port": Spec(number(int, 0, 65535), "TCP port to listen on, 0-65535; 0 picks a free one"),
    "webhook_urls": Spec(
        _parse_webhook_urls,
        "webhook URL registered at start-up, as POST /v1/webhook would (repeatable flag; "
        "comma-separated in the variable); absolute http or https",
    ),
    "webhook_secret": Spec(
        _non_empty("a non-empty secret"),
        "secret that signs every webhook (HMAC-SHA256 of the body); fixed by default and printed "
        "at start-up, so receivers stay configured across restarts",
    ),
    "webhook_api": Spec(
        _parse_webhook_api,
        "webhook registration as Cobalt's guide has it (guide: body webhook_url, one secret per "
        "account) or as its API reference has it (reference: body url, a whsec_ secret per "
        "webhook, the old one verifying 24 h after a rotation); docs/webhook-api.md",
        reads=(
            "Guide: To register a new webhook, POST /v1/webhook {webhook_url}; to rotate your webhook "
            "secret key, POST /v1/webhook/rotate-secret. API reference: POST /v1/webhook {url} "
            "creates a webhook whose response includes a signing secret; POST "
            "/v1/webhook/{id}/rotate-secret generates a new signing secret for the webhook, and the "
            "previous secret will continue to work for 24 hours."
        ),
    ),
    "delay": Spec(
        Delay.parse,
        "seconds from an accepted fetch to its webhook: fixed (2), uniform in a range (1..5) or "
        "lognormal:MEDIAN:SIGMA; drawn per job from the seed",
    ),
    "api_latency": Spec(
        Delay.parse,
        "latency added before every /v1 answer (not /_mock/), same forms as delay; drawn per request",
    ),
    "seed": Spec(
        number(int, -(2**63)),
        "seed of the generated appointments and per-job draws: same seed and request, same data",
    ),
    "timezone": Spec(
        _parse_timezone,
        "clinic time zone (IANA name, e.g. America/New_York) for every access token; unset, each "
        "token gets one drawn from the seed",
    ),
    "client_id": Spec(
        _parse_optional_str, "accept only this client_id; unset, any non-empty value is accepted"
    ),
    "client_secret": Spec(
        _parse_optional_str,
        "accept only this client_secret; unset, any non-empty value is accepted",
    ),
    "access_token": Spec(
        _parse_optional_str,
        "accept only this access_token; unset, any non-empty value is accepted",
    ),
    "token_references": Spec(
        _parse_mapping,
        "access_token_reference_id per access token, as token=ref pairs: tok=user_1,tok2=user_2 "
        "(unset tokens get user_ + a hash of the token)",
    ),
    "max_range_days": Spec(
        number(int, 1),
        "longest date_range fetch in days, both ends counted (end_date - start_date <= N - 1); "
        "8 is the lax reading of Cobalt's 7 (end_date - start_date <= 7); >= 1",
        reads="Date range cannot exceed 7 days.",
    ),
    "max_single_provider_days": Spec(
        number(int, 1),
        "longest one-provider fetch in days, both ends counted (end_date - start_date <= N - 1); "
        "6 is the lax reading of Cobalt's 5 (end_date - start_date <= 5); >= 1",
        reads="one provider: a range of at most 5 days after start_date",
    ),
    "multi_provider_same_day": Spec(
        _parse_bool,
        "whether a fetch of 2 or more providers needs start_date == end_date (true/false); false "
        "gives it the one-provider limit, max_single_provider_days",
        reads="2-10 providers: start_date must equal end_date",
    ),
    "max_providers": Spec(
        number(int, 1),
        "most provider_ids in one provider fetch; >= 1",
        reads="provider_ids: array of 1-10 EHR provider id strings",
    ),
    "webhook_timeout": Spec(
        number(float, 0.001), "seconds a webhook's first attempt may take (Cobalt: 5); > 0"
    ),
    "retry_timeout": Spec(number(float, 0.001), "seconds the retry may take (Cobalt: 2); > 0"),
    "retry_delay": Spec(
        number(float, 0), "seconds before the one retry after a 5xx, 429 or connection error (Cobalt: 1)"
    ),
    "delivery_concurrency": Spec(number(int, 1), "webhook deliveries in flight at once; >= 1"),
    "max_jobs": Spec(
        number(int, 1),
        "unfinished jobs at once; a fetch past it waits up to admission_timeout for room, then gets "
        "429 (an accepted job is never dropped); also how many jobs /_mock/jobs keeps; >= 1",
    ),
    "admission_timeout": Spec(
        number(float, 0),
        "seconds a fetch waits for room while max_jobs jobs are unfinished, then 429 'Too many "
        "fetches in progress. Retry later.' with Retry-After; >= 0",
    ),
    "max_events": Spec(
        number(int, 1), "webhook events kept for GET /v1/webhook-events; oldest evicted first; >= 1"
    ),
    "max_cached_appointments": Spec(
        number(int, 1), "appointments kept in the GET /v1/appointments cache; oldest evicted; >= 1"
    ),
    "max_journal": Spec(number(int, 1), "requests kept in the journal (/_mock/requests); >= 1"),
    "max_body_bytes": Spec(number(int, 1), "largest request body accepted; larger ones get 413; >= 1"),
    "read_timeout": Spec(
        number(float, 0.001),
        "seconds a connection has to send a whole request; idle or slower ones are closed; > 0",
    ),
    "shutdown_grace": Spec(
        number(float, 0),
        "seconds to finish due webhooks after SIGTERM/SIGINT; a second signal exits at once",
    ),
    "control": Spec(_parse_bool, "serve the control API under /_mock/ (true/false)"),
    "control_token": Spec(
        _parse_optional_str,
        "token the control API requires as 'authorization: Bearer TOKEN' (unset: none; loopback only)",
    ),
    "log_level": Spec(
        _parse_log_level,
        f"log level: {', '.join(LOG_LEVELS)}; at info and below, one access line per request",
    ),
}


def default_text(name: str) -> str:
    """A setting's default as it would be written in a flag or variable (``unset`` for none)."""
    value = Settings().public()[name]
    if value is None or value == [] or value == {}:
        return "unset"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return ",".join(map(str, value))
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def explain(meaning: str, default: str, env: str | None) -> str:
    """A flag's help in the one form every ``cobalt-mock`` flag uses: what it means and takes, then
    its default and its environment twin (``None``: it has none)."""
    twin = f"env {env}" if env else "no environment variable"
    return f"{meaning} (default {default}; {twin})"


def describe(name: str) -> str:
    """A setting's one-paragraph help: meaning, allowed values, default, environment twin."""
    return explain(SPECS[name].help, default_text(name), ENV_PREFIX + name.upper())
