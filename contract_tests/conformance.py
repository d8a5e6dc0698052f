"""Every rule the contract suite knows, and the conformance report a live run ends with.

``RULES`` lists each documented rule (``doc``, from ``shared/cobalt-api.md`` and Cobalt's pages) and
each decision of ours (``decision``, where the docs are silent or ambiguous), with the setting of the
fake that a contradicted decision maps to. The checks (``checks.py``) name the rule behind every
assertion; while a ``Recorder`` is active they record a verdict for it, with the request and the
answer when the API contradicts it. ``Report`` folds those outcomes into one verdict per rule:

* ``confirmed``: at least one request exercised the rule and none contradicted it;
* ``contradicted``: a request's answer broke it (kept with the request and the answer);
* ``not exercised``: nothing in this run could check it, with why (polling shows no raw bytes, an
  empty result has no appointments to check, no MRN was supplied...).

A contradicted decision means *our decision is wrong*: the report says which setting makes the fake
match the API, instead of calling it an API failure.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Kind = Literal["doc", "decision"]
Verdict = Literal["confirmed", "contradicted", "not exercised"]

NO_SETTING = "no setting yet: the fake's code must change (open an issue with this report attached)"


@dataclass(frozen=True)
class Rule:
    id: str
    kind: Kind
    source: str  # where it is stated: a section of cobalt-api.md
    text: str
    # For a decision: what makes the fake match an API that contradicts it.
    fix: str = ""
    # Why a live (polling) run can never check it, if it cannot.
    not_live: str = ""


_POLLED = "a live run polls GET /v1/webhook-events, which gives the event's data only (no delivery)"
_NO_STATE = "the suite never changes account state on a real API (it registers no webhook)"

RULES: tuple[Rule, ...] = (
    # POST /v1/appointments/fetch: the 202
    Rule(
        "fetch-accepted-202",
        "doc",
        "§2",
        "a valid fetch is answered 202 with {success: true, message, job_id}",
    ),
    Rule("fetch-accepted-message", "doc", "§2", "the 202 message is Cobalt's, word for word"),
    Rule("range-7-days-allowed", "doc", "§2", "a 7-day range (Jan 1 - Jan 7, as every example) is accepted"),
    Rule(
        "range-same-day-allowed",
        "decision",
        "§2",
        "end_date == start_date is a valid one-day range",
        fix=NO_SETTING,
    ),
    Rule(
        "range-8-days-refused",
        "decision",
        "§2, §8",
        "7 days counted inclusively: an 8-day range (end - start = 7) is refused",
        fix="set max_range_days = 8 (the API counts the 7 days exclusively: end - start <= 7)",
    ),
    Rule(
        "range-too-long-refused",
        "doc",
        "§2",
        "a range well over 7 days -> 400 'Date range cannot exceed 7 days.'",
    ),
    Rule(
        "end-before-start-refused",
        "doc",
        "§2",
        "end before start -> 400 'end_date must be after start_date.'",
    ),
    Rule(
        "invalid-date-refused",
        "doc",
        "§2",
        "a malformed or impossible date -> 400 'Invalid date format. Use ISO format (YYYY-MM-DD).'",
    ),
    Rule(
        "missing-dates-named",
        "doc",
        "§2",
        "date_range/provider without dates -> 400 'Missing required parameters: ...' naming only the missing",
    ),
    Rule(
        "error-status-400",
        "decision",
        "§2",
        "an invalid body is answered 400 (Cobalt documents the wording, not the status)",
        fix=NO_SETTING,
    ),
    Rule(
        "mrn-required",
        "decision",
        "§2",
        "mrn mode without mrn -> 400 'Missing required parameters: mrn.'",
        fix=NO_SETTING,
    ),
    Rule(
        "provider-ids-required",
        "decision",
        "§2",
        "provider mode without provider_ids -> 400 'Missing required parameters: provider_ids.'",
        fix=NO_SETTING,
    ),
    Rule(
        "provider-count-1-10",
        "decision",
        "§2, §8",
        "1 and 10 providers are accepted, 11 are refused with our provider_ids message",
        fix="set max_providers to the count the API accepts",
    ),
    Rule(
        "single-provider-5-days",
        "decision",
        "§2, §8",
        "one provider: 5 days counted inclusively accepted, 6 refused",
        fix="set max_single_provider_days = 6 "
        "(the API reads 'at most 5 days after start_date' as end - start <= 5)",
    ),
    Rule(
        "providers-same-day",
        "decision",
        "§2, §8",
        "2-10 providers need start_date == end_date; 2 days are refused",
        fix="set multi_provider_same_day = false (the API lets several providers span days)",
    ),
    Rule(
        "other-invalid-bodies",
        "decision",
        "§2",
        "an unknown search_by or a body that is not JSON -> 400 with our one-sentence message",
        fix=NO_SETTING,
    ),
    Rule(
        "empty-means-absent",
        "decision",
        "§8",
        'a field the mode does not use may be blank: {"mrn": ""} in date-range mode is accepted',
        fix=NO_SETTING,
    ),
    Rule(
        "trailing-slash", "decision", "§8", "POST /v1/appointments/fetch/ is the same route", fix=NO_SETTING
    ),
    Rule("no-5xx", "decision", "§2", "no input ever produces a 5xx", fix=NO_SETTING),
    Rule(
        "error-shape",
        "decision",
        "§2",
        "unknown path 404, wrong method 405, with {success: false, message}",
        fix=NO_SETTING,
    ),
    Rule(
        "body-too-large-413",
        "decision",
        "§2",
        "a body over 1 MiB -> 413",
        fix=NO_SETTING,
        not_live="a live run does not upload 1 MiB bodies to a real API",
    ),
    # authentication
    Rule(
        "auth-missing-401",
        "decision",
        "§1",
        "a missing or empty auth header -> 401 {success: false, message}",
        fix=NO_SETTING,
    ),
    Rule(
        "auth-missing-named",
        "decision",
        "§1",
        "the 401 message names every missing header: 'Missing required header(s): ...'",
        fix=NO_SETTING,
    ),
    Rule(
        "auth-invalid-credentials",
        "decision",
        "§1",
        "wrong credentials -> 401 'Invalid credentials.'",
        fix=NO_SETTING,
        not_live="a live run never sends wrong credentials (an account could be locked)",
    ),
    # the completion
    Rule(
        "events-listed",
        "doc",
        "§5",
        "GET /v1/webhook-events?job_id= lists the job's completion event, and only the job's",
    ),
    Rule("events-page-shape", "doc", "§5", "the webhook-events page has its documented fields"),
    Rule(
        "token-reference",
        "decision",
        "§1",
        "each event names the access token's access_token_reference_id (a non-empty string)",
        fix="set token_references (access_token=reference) to the API's references",
    ),
    Rule(
        "job-succeeds",
        "doc",
        "§3",
        "a valid fetch completes with data.success true (unless declared expected to fail)",
    ),
    Rule("data-schema", "doc", "§3", "data has the documented fields with their types, per mode"),
    Rule("datetime-offsets", "doc", "§3", "every appointment datetime is ISO 8601 with a UTC offset"),
    Rule("count-matches", "doc", "§3", "appointment_count equals the number of appointments"),
    Rule("dates-echoed", "doc", "§3", "data.start_date and data.end_date are the requested dates"),
    Rule("inside-range", "doc", "§3", "every appointment's local date lies inside the requested dates"),
    Rule("only-requested-providers", "doc", "§3", "provider mode returns only the requested providers"),
    Rule("mrn-echoed", "doc", "§3", "MRN mode echoes the requested mrn"),
    Rule(
        "failure-shape",
        "decision",
        "§3",
        "a failed fetch: data.success false, appointment_count 0, appointments [], failure_reason, reasons",
        fix=NO_SETTING,
    ),
    Rule(
        "events-data-delivered",
        "doc",
        "§5",
        "webhook-events data is identical to the delivered data",
        not_live=_POLLED,
    ),
    # delivery: needs a receiver
    Rule(
        "envelope-schema",
        "doc",
        "§3",
        "the delivered event: id, job_id of the 202, type, action, timestamp",
        not_live=_POLLED,
    ),
    Rule(
        "delivery-headers",
        "doc",
        "§3",
        "content-type, webhook-id (= payload id, our decision), webhook-timestamp, webhook-attempt",
        not_live=_POLLED,
    ),
    Rule(
        "signature-raw-body",
        "doc",
        "§3",
        "cobalt-verification is HMAC-SHA256 of the raw body",
        not_live=_POLLED,
    ),
    Rule(
        "signature-restringified",
        "doc",
        "§3",
        "the signature also verifies over JSON.stringify(JSON.parse(body))",
        not_live=_POLLED,
    ),
    Rule(
        "retry-once",
        "doc",
        "§3",
        "a 5xx, 429 or connection error gets one retry, same bytes, webhook-attempt 2",
        not_live=_POLLED,
    ),
    Rule("no-retry", "doc", "§3", "other 4xx and timeouts are not retried", not_live=_POLLED),
    # what the suite does not read
    Rule(
        "cache-holds-results",
        "doc",
        "§6",
        "fetched date-range and provider results land in GET /v1/appointments",
        not_live="the suite does not read GET /v1/appointments yet",
    ),
    Rule(
        "webhook-calls-two-headers",
        "doc",
        "§1",
        "webhook-management calls need only client_id and client_secret",
        not_live="reading GET /v1/webhook would copy the account's webhook secret into the report",
    ),
    # account-level decisions a live run does not touch
    Rule(
        "webhook-api",
        "decision",
        "§4, §8",
        "webhook registration follows the version the setting webhook_api names (the report's "
        "webhook_api): guide, body webhook_url and one account secret; or reference, body url and a "
        "whsec_ secret per webhook",
        fix="set webhook_api to the other version (guide or reference)",
        not_live=_NO_STATE,
    ),
    Rule(
        "bounded-admission",
        "decision",
        "§8",
        "too many unfinished jobs -> 429 'Too many fetches in progress. Retry later.' with Retry-After",
        fix="set max_jobs and admission_timeout to the API's limits",
        not_live="a live run stays far below any admission limit",
    ),
)
BY_ID = {rule.id: rule for rule in RULES}


# --- recording ---------------------------------------------------------------------------------------


@dataclass
class Outcome:
    rule: str
    verdict: Verdict
    detail: str = ""
    step: str = ""
    request: Any = None
    answer: Any = None


@dataclass
class Recorder:
    """Collects outcomes while active (``with recorder.active(): ...``); the checks find it here."""

    outcomes: list[Outcome] = field(default_factory=list)
    step: str = ""
    request: Any = None
    answer: Any = None

    @contextlib.contextmanager
    def active(self) -> Iterator[Recorder]:
        token = _CURRENT.set(self)
        try:
            yield self
        finally:
            _CURRENT.reset(token)

    @contextlib.contextmanager
    def at(self, step: str, request: Any) -> Iterator[None]:
        """Outcomes recorded inside are about ``step``, which sent ``request``."""
        saved = self.step, self.request, self.answer
        self.step, self.request, self.answer = step, request, None
        try:
            yield
        finally:
            self.step, self.request, self.answer = saved

    def add(self, rule: str, verdict: Verdict, detail: str = "") -> None:
        assert rule in BY_ID, f"unknown rule {rule!r}"
        self.outcomes.append(Outcome(rule, verdict, detail, self.step, self.request, self.answer))


_CURRENT: contextvars.ContextVar[Recorder | None] = contextvars.ContextVar("recorder", default=None)


def current() -> Recorder | None:
    return _CURRENT.get()


def record(rule: str, verdict: Verdict, detail: str = "") -> None:
    recorder = _CURRENT.get()
    if recorder is not None:
        recorder.add(rule, verdict, detail)


def answered(answer: Any) -> None:
    """The answer the current step got (an HTTP exchange or polled data), kept with contradictions."""
    recorder = _CURRENT.get()
    if recorder is not None:
        recorder.answer = answer


# --- the report --------------------------------------------------------------------------------------

_KEEP = 3  # contradicting requests kept per rule


@dataclass(frozen=True)
class Finding:
    rule: Rule
    verdict: Verdict
    confirmed_by: int
    contradictions: tuple[Outcome, ...]
    why_not: tuple[str, ...]

    @property
    def decision_wrong(self) -> bool:
        return self.verdict == "contradicted" and self.rule.kind == "decision"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rule": self.rule.id,
            "kind": self.rule.kind,
            "source": self.rule.source,
            "text": self.rule.text,
            "verdict": self.verdict,
            "confirmed_by": self.confirmed_by,
        }
        if self.verdict == "contradicted":
            out["meaning"] = (
                "our decision is wrong" if self.decision_wrong else "the API breaks a documented rule"
            )
            if self.decision_wrong:
                out["fix"] = self.rule.fix
            out["contradictions"] = [
                {"step": o.step, "request": o.request, "answer": o.answer, "detail": o.detail}
                for o in self.contradictions
            ]
        if self.verdict == "not exercised":
            out["why"] = list(self.why_not)
        return out


class Report:
    """One verdict per rule of ``RULES``, from a run's outcomes."""

    def __init__(self, outcomes: list[Outcome], *, live: bool, meta: dict[str, Any] | None = None) -> None:
        self.live = live
        self.meta = dict(meta or {})
        self.findings = [self._finding(rule, [o for o in outcomes if o.rule == rule.id]) for rule in RULES]

    def _finding(self, rule: Rule, outcomes: list[Outcome]) -> Finding:
        bad = [o for o in outcomes if o.verdict == "contradicted"]
        good = sum(o.verdict == "confirmed" for o in outcomes)
        why: list[str] = []
        if self.live and rule.not_live:
            why.append(rule.not_live)
        for o in outcomes:
            if o.verdict == "not exercised" and o.detail not in why:
                why.append(o.detail)
        if not why and not outcomes:
            why.append("no request of this run reached it")
        verdict: Verdict = "contradicted" if bad else "confirmed" if good else "not exercised"
        return Finding(rule, verdict, good, tuple(bad[:_KEEP]), tuple(why[:_KEEP]))

    def of(self, rule: str) -> Finding:
        return next(f for f in self.findings if f.rule.id == rule)

    def verdicts(self) -> dict[str, Verdict]:
        return {f.rule.id: f.verdict for f in self.findings}

    def counts(self) -> dict[str, int]:
        out = {"confirmed": 0, "contradicted": 0, "not exercised": 0}
        for f in self.findings:
            out[f.verdict] += 1
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "live": self.live,
            **self.meta,
            "counts": self.counts(),
            "rules": [f.to_json() for f in self.findings],
        }

    def summary_lines(self) -> list[str]:
        counts = self.counts()
        lines = [
            f"Cobalt conformance: {counts['confirmed']} confirmed, {counts['contradicted']} contradicted, "
            f"{counts['not exercised']} not exercised (of {len(self.findings)} rules)"
        ]
        for f in self.findings:
            if f.verdict == "contradicted":
                first = f.contradictions[0]
                label = "OUR DECISION IS WRONG" if f.decision_wrong else "API BREAKS THE DOCS"
                lines.append(f"  {label}: {f.rule.id}: {f.rule.text}")
                lines.append(f"    {first.step}: {first.detail.splitlines()[0] if first.detail else ''}")
                if f.decision_wrong:
                    lines.append(f"    fix: {f.rule.fix}")
        exercised_not = [f.rule.id for f in self.findings if f.verdict == "not exercised"]
        if exercised_not:
            lines.append(f"  not exercised: {', '.join(exercised_not)}")
        return lines

    def to_markdown(self) -> str:
        counts = self.counts()
        out = [
            "# Cobalt conformance report",
            "",
            f"{counts['confirmed']} confirmed, {counts['contradicted']} contradicted, "
            f"{counts['not exercised']} not exercised, of {len(self.findings)} rules.",
            "",
        ]
        for key, value in self.meta.items():
            out.append(f"- {key}: `{json.dumps(value, ensure_ascii=False)}`")
        out += ["", "| rule | kind | verdict | detail |", "|---|---|---|---|"]
        for f in self.findings:
            if f.verdict == "contradicted":
                first = f.contradictions[0]
                detail = ("**our decision is wrong**; " + f.rule.fix + "; ") if f.decision_wrong else ""
                detail += f"{first.step}: {first.detail.splitlines()[0] if first.detail else ''}"
            elif f.verdict == "not exercised":
                detail = "; ".join(f.why_not)
            else:
                detail = f"{f.confirmed_by} check(s)"
            rule = f"`{f.rule.id}` ({f.rule.source}) {_cell(f.rule.text)}"
            out.append(f"| {rule} | {f.rule.kind} | {f.verdict} | {_cell(detail)} |")
        contradicted = [f for f in self.findings if f.verdict == "contradicted"]
        if contradicted:
            out += ["", "## Contradictions", ""]
            for f in contradicted:
                out.append(f"### `{f.rule.id}`")
                for o in f.contradictions:
                    out += [
                        f"- step `{o.step}`: {_cell(o.detail)}",
                        f"  - request: `{_cell(json.dumps(o.request, ensure_ascii=False))}`",
                        f"  - answer: `{_cell(json.dumps(o.answer, ensure_ascii=False))}`",
                    ]
        return "\n".join(out) + "\n"

    def write(self, directory: Path) -> tuple[Path, Path]:
        directory.mkdir(parents=True, exist_ok=True)
        as_json, as_md = directory / "conformance.json", directory / "conformance.md"
        as_json.write_text(json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        as_md.write_text(self.to_markdown(), encoding="utf-8")
        return as_json, as_md


def _cell(text: str) -> str:
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= 300 else text[:300] + "…"
