"""What a wait on the fake checks, and what the fake says when a wait fails.

The ``cobalt_mock`` handle's helpers for ``wait_for_webhook`` (a delivery's signature against the
secrets valid now) and for timeouts (the fake's side of a job: its status, attempts and errors).
Loaded the first time a test waits, when the fake is already running.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from mock_server.model.ids import utc_now
from mock_server.signing import SIGNATURE_HEADER, verify, verify_parsed
from mock_server.testing.handle import MARKER

if TYPE_CHECKING:
    from mock_server.model.jobs import Job
    from mock_server.model.state import MockState
    from mock_server.testing.receiver import Delivery

__all__ = ["explain", "verified"]


def verified(state: MockState, delivery: Delivery, check: bool) -> Delivery:
    """``delivery``, its signature checked against the secrets valid now; with ``check`` a
    signature that none matches fails the test."""
    __tracebackhide__ = True
    if delivery.signature_valid:
        return delivery
    hooks = state.store.webhooks  # the secret may have been rotated since the test began
    secrets = [hooks.secret]
    if hooks.previous_secret and hooks.previous_valid_until and hooks.previous_valid_until > utc_now():
        secrets.append(hooks.previous_secret)
    signature = delivery.headers.get(SIGNATURE_HEADER, "")
    if any(verify(secret, delivery.body, signature) for secret in secrets):
        parsed = any(verify_parsed(s, delivery.payload, signature) for s in secrets)
        return dataclasses.replace(delivery, signature_valid=True, reserialized_valid=parsed)
    if check:
        raise AssertionError(
            f"The webhook for job {delivery.job_id!r} arrived, but its signature does not match "
            f"the webhook secret: {delivery.describe()}.\nIf the test asked for a bad signature "
            "(the bad_signature behaviour), call wait_for_webhook(..., verify=False)."
        )
    return delivery


def explain(state: MockState, job_id: str) -> str:
    """What the fake knows about ``job_id``, for failure messages (call it on the fake's loop)."""
    job = state.store.job(job_id)
    lines = ["The fake's side:"]
    if job is None:
        known = ", ".join(state.store.jobs) or "none"
        lines.append(f"  it has no job {job_id!r} (jobs in this test: {known}).")
    else:
        lines.append(f"  job {job_id} is {job.status}{status_hint(job)}.")
        lines.extend(
            f"  attempt {a.attempt} to {a.url}: {a.status_code if a.error is None else a.error}"
            for a in job.attempts
        )
    urls = state.store.webhooks.urls()
    lines.append(f"  webhooks registered: {', '.join(urls) or 'none'}.")
    if state.errors:
        lines.append(f"  it raised {len(state.errors)} exception(s) in this test (reported with it):")
        lines.extend(f"    {type(e).__name__}: {e}" for e in state.errors)
    return "\n".join(lines)


def status_hint(job: Job) -> str:
    if job.status == "scheduled":
        left = (job.due_at - utc_now()).total_seconds()
        return f", due in {left:.2f}s (delay {job.delay:g}s; @pytest.mark.{MARKER}(delay=0) makes it 0)"
    if job.status == "held":
        return ", held: its access token is on hold until released"
    if job.status == "stalled":
        return ", stalled by the never_complete behaviour"
    if job.status == "completed" and not job.attempts:
        return ", but no webhook URL was registered when it completed"
    return ""
