"""The engine behind the pytest plugin: one fake and receiver per session, a clean handle per test.

``CobaltMockServer`` (``mock_server.testing.session``) runs the fake (uvicorn in a thread on a
pre-bound port) and a ``WebhookReceiver``; ``CobaltMock`` is what a test uses. The fake's state
belongs to its event loop (in the server thread), so the handle reads and changes it there. The fake
records each exception raised inside it (a handler's 500, a failed job); the plugin hands each one
to the test that caused it, once, as the cause of a ``ServerError``, or as a report section of a
test that failed anyway. Kept apart from the plugin's hooks and fixtures the way pytest-httpserver
keeps its engine apart from its glue. Only the standard library, pytest and ``mock_server.settings``
load at import; the server's dependencies load when a server starts.

Webhooks work the same in both versions of Cobalt's webhook API (``webhook_api``): the receiver is
registered at ``receiver.url + "/"``; ``webhook_secret`` is what signs its deliveries (the account's
one secret in the guide, the receiver's webhook's own in the API reference), ``secret_for`` any other
webhook's, ``rotate_secret`` rotates as the version does, and ``wait_for_webhook`` verifies each
delivery with the secrets that verify its webhook now (``valid_secrets``: after a reference rotation
the old one too, for 24 h of the fake's clock, which ``advance_clock`` moves on).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

from mock_server.errors import CobaltMockError
from mock_server.settings import Settings
from mock_server.testing.session import CobaltMockServer

if TYPE_CHECKING:
    from mock_server.model.hooks import Webhook
    from mock_server.model.jobs import Job
    from mock_server.model.state import MockState
    from mock_server.testing.receiver import Delivery, WebhookReceiver

__all__ = ["MARKER", "CobaltMock", "ServerError"]

T = TypeVar("T")
MARKER = "cobalt_mock"
LOOP_TIMEOUT = 30.0
DEFAULT_HEADERS = {"client_id": "ci_test", "client_secret": "cs_test", "access_token": "test-access-token"}
DEFAULT_FETCH = {"start_date": "2025-01-06", "end_date": "2025-01-12"}


class ServerError(CobaltMockError):
    """The fake raised inside its thread during a test; the server's traceback is its cause."""


class CobaltMock:
    """What a test uses: the fake's URLs and credentials, its webhooks, jobs and events."""

    def __init__(self, server: CobaltMockServer, settings: Settings) -> None:
        self.server = server
        self._settings = settings
        self._reported = 0  # errors already handed to pytest
        assert server.receiver is not None
        self.receiver: WebhookReceiver = server.receiver

    @property
    def state(self) -> MockState:
        """The fake's model (``MockState``), for what the handle does not offer; call it on the
        fake's loop."""
        return self.server.state

    # lifecycle (the fixture's)

    def begin(self) -> None:
        """Reset the fake to this test's settings with the receiver registered; forget deliveries."""
        thread = self.server.thread
        if thread is None or not thread.running:
            error = thread.error if thread is not None else None
            pytest.fail(f"cobalt-mock: the fake server is not running ({error!r})", pytrace=False)
        secret = self._await(self._restart(self._settings, register=True))
        self.receiver.clear()
        self.receiver.secrets = (secret,)

    def end(self) -> None:
        """Cancel what is still running and reset the fake to the session's settings."""
        self._await(self._restart(self.server.settings, register=False))
        self.receiver.clear()

    async def _restart(self, settings: Settings, *, register: bool) -> str:
        """Returns the secret that signs the receiver's webhooks (the account's, unregistered)."""
        state = self.state
        await state.restart(settings)
        if not register:
            return state.account_secret
        state.errors.clear()
        self._reported = 0
        return state.secret_for(state.register_webhook(self.hook_url))

    # where and who

    @property
    def settings(self) -> Settings:
        return self.state.settings

    @property
    def url(self) -> str:
        """The fake's root, e.g. ``http://127.0.0.1:40123``."""
        return self.server.url

    @property
    def base_url(self) -> str:
        """Cobalt's base URL for the code under test: ``url + "/v1"``."""
        return self.server.url + "/v1"

    @property
    def hook_url(self) -> str:
        """Where the built-in receiver is registered: ``receiver.url + "/"``."""
        return self.receiver.url + "/"

    @property
    def headers(self) -> dict[str, str]:
        """Cobalt's three auth headers, with the configured credentials if any."""
        s = self.settings
        given = {"client_id": s.client_id, "client_secret": s.client_secret, "access_token": s.access_token}
        return {name: given[name] or default for name, default in DEFAULT_HEADERS.items()}

    def configure(self, **values: object) -> Settings:
        """Change settings in the middle of a test (new jobs use them); the marker is simpler."""
        return self._call(self.state.configure, **values)

    # webhooks

    @property
    def webhook_secret(self) -> str:
        """The secret that signs the receiver's webhooks now: the account's one secret (guide) or
        the receiver's webhook's own (reference). Rotating it changes it."""
        return self.secret_for(self.hook_url)

    def secret_for(self, id_or_url: str) -> str:
        """The secret that signs deliveries to a registered webhook (its id or URL) now."""
        return self._call(lambda: self.state.secret_for(self._webhook(id_or_url)))

    def valid_secrets(self, id_or_url: str | None = None) -> list[str]:
        """The secrets that verify a delivery to a webhook (the receiver's by default) now: the one
        that signs, and after an API reference rotation the one it replaced, for 24 hours of the
        fake's clock. The guide keeps no old secret: a rotation replaces it at once."""
        return self._call(lambda: self.state.valid_secrets(self._webhook(id_or_url or self.hook_url)))

    def rotate_secret(self, id_or_url: str | None = None) -> str:
        """Rotate as the fake's ``webhook_api`` does, and return the new secret: the account's, which
        signs every webhook (guide), or one webhook's own, the receiver's by default (reference)."""
        return self._call(lambda: self.state.rotate_secret(self._webhook(id_or_url or self.hook_url)))

    def advance_clock(self, seconds: float) -> dt.datetime:
        """Move the fake's clock ``seconds`` forward (a rotated secret's overlap ends without waiting
        for it); returns the fake's time. A test starts with the clock at real time."""
        return self._call(self.state.advance_clock, seconds)

    def _webhook(self, id_or_url: str) -> Webhook:
        """The registered webhook (call on the fake's loop), or ``LookupError`` naming those there are."""
        hook = self.state.webhook(id_or_url)
        if hook is None:
            known = ", ".join(f"{h.id} {h.url}" for h in self.state.webhooks()) or "none"
            raise LookupError(f"cobalt-mock has no webhook {id_or_url!r}; registered: {known}")
        return hook

    def register_webhook(self, url: str) -> str:
        """Send webhooks to ``url`` too (the receiver stays registered); returns the webhook id."""
        return self._call(lambda: self.state.register_webhook(url).id)

    def unregister_webhook(self, id_or_url: str) -> bool:
        """Stop sending webhooks to a registered id or URL (the receiver's URL too, if you like)."""

        def remove() -> bool:
            state = self.state
            return any(state.remove_webhook(h.id) for h in state.webhooks() if id_or_url in (h.id, h.url))

        return self._call(remove)

    @property
    def webhook_urls(self) -> list[str]:
        return self._call(self.state.webhook_urls)

    def wait_for_webhook(self, job_id: str, timeout: float = 5.0, *, verify: bool = True) -> Delivery:
        """The first webhook for ``job_id`` at the built-in receiver, as soon as it arrives.

        The delivery has ``.payload``, ``.headers``, ``.body`` and ``.signature_valid``. With
        ``verify`` (the default) a signature that no current secret matches fails the test.
        """
        __tracebackhide__ = True
        from mock_server.testing.receiver import WebhookTimeout

        try:
            delivery = self.receiver.wait_for_webhook(job_id, timeout)
        except WebhookTimeout as exc:
            raise WebhookTimeout(f"{exc}\n{self.explain(job_id)}") from None
        return self._verified(delivery, verify)

    async def wait_for_webhook_async(
        self, job_id: str, timeout: float = 5.0, *, verify: bool = True
    ) -> Delivery:
        """``wait_for_webhook`` for async tests: the test's event loop keeps running."""
        __tracebackhide__ = True
        from mock_server.testing.receiver import WebhookTimeout

        try:
            delivery = await self.receiver.wait_for_webhook_async(job_id, timeout)
        except WebhookTimeout as exc:
            raise WebhookTimeout(f"{exc}\n{self.explain(job_id)}") from None
        return self._verified(delivery, verify)

    def _verified(self, delivery: Delivery, check: bool) -> Delivery:
        """``delivery``, its signature checked against the secrets that verify its webhook now (the
        one registered at the URL it came to, else the receiver's; the secret may have been rotated
        since the test began); with ``check`` a signature that none matches fails."""
        __tracebackhide__ = True
        from mock_server.delivery.webhook import SIGNATURE_HEADER, verify, verify_parsed

        if delivery.signature_valid:
            return delivery

        def valid() -> list[str]:
            state = self.state
            hook = state.webhook(self.receiver.url + delivery.path) or state.webhook(self.hook_url)
            return state.valid_secrets(hook)

        secrets = self._call(valid)
        signature = delivery.headers.get(SIGNATURE_HEADER, "")
        if any(verify(secret, delivery.body, signature) for secret in secrets):
            parsed = any(verify_parsed(s, delivery.payload, signature) for s in secrets)
            return dataclasses.replace(delivery, signature_valid=True, reserialized_valid=parsed)
        if check:
            raise AssertionError(
                f"The webhook for job {delivery.job_id!r} arrived, but its signature does not match "
                f"the webhook secret: {delivery.describe()}.\nIf the test asked for a bad signature "
                "(the bad_signature behaviour, or old_secret with the guide's webhook API, whose old "
                "secret stops verifying at a rotation), call wait_for_webhook(..., verify=False)."
            )
        return delivery

    def wait_for_job(self, job_id: str, timeout: float = 5.0) -> Job:
        """Block until the job has made every delivery attempt (to whatever URLs are registered)."""
        __tracebackhide__ = True
        try:
            return self.state.wait_for_job(job_id, timeout)
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}\n{self.explain(job_id)}") from None

    def explain(self, job_id: str) -> str:
        """What the fake knows about ``job_id``: for failure messages."""
        return self._call(_explain, self.state, job_id)

    @property
    def deliveries(self) -> list[Delivery]:
        """Every request the built-in receiver got in this test."""
        return self.receiver.deliveries

    # jobs and events

    def fetch(
        self,
        body: Mapping[str, Any] | None = None,
        /,
        *,
        headers: Mapping[str, str] | None = None,
        **fields: Any,
    ) -> str:
        """``POST /v1/appointments/fetch`` (a week by default); returns the job id or fails."""
        __tracebackhide__ = True
        json = {**(body or {}), **fields} or DEFAULT_FETCH
        response = self.server.http.post(
            "/v1/appointments/fetch", json=json, headers={**self.headers, **(headers or {})}
        )
        if response.status_code != 202:
            raise AssertionError(
                f"POST /v1/appointments/fetch answered {response.status_code}: {response.text}"
            )
        job_id: str = response.json()["job_id"]
        return job_id

    @property
    def jobs(self) -> list[Job]:
        """Every job of this test, oldest first."""
        return self._call(self.state.jobs)

    def job(self, job_id: str) -> Job:
        job = self._call(self.state.find_job, job_id)
        if job is None:
            raise LookupError(f"cobalt-mock has no job {job_id!r}; jobs in this test: {self.jobs}")
        return job

    # scenarios and job control (the control API's, without HTTP)

    def add_scenario(self, scenario: Mapping[str, Any] | None = None, /, **fields: Any) -> dict[str, Any]:
        """Install a scenario, e.g. ``add_scenario(behaviour="ehr_failure", times=1)``; returns its JSON.

        The shape is the control API's (``POST /_mock/scenarios``): ``behaviour``, ``params``,
        ``match``, and ``times`` / ``every`` / ``probability``. ``ConfigError`` if it is invalid.
        """
        definition = {**(scenario or {}), **fields}
        return self._call(lambda: self.state.add_scenario(definition).to_json())

    def clear_scenarios(self) -> int:
        return self._call(self.state.clear_scenarios)

    def hold(self, access_token: str | None = None) -> None:
        """New jobs (of one token, or all) wait in status "held" until ``release`` or ``complete``."""
        self._call(self.state.hold, access_token)

    def release(self, access_token: str | None = None) -> list[str]:
        """Stop holding and let held jobs run; returns their ids."""
        return [job.job_id for job in self._call(self.state.release, access_token)]

    def complete(self, job_id: str, timeout: float = 5.0) -> Job:
        """Finish a scheduled, held or stalled job now and return it once its deliveries are done."""
        self._call(self.state.complete_now, job_id)
        return self.wait_for_job(job_id, timeout)

    def redeliver(self, job_id: str, timeout: float = 5.0) -> int:
        """Deliver a completed job's webhook again; returns the delivery number once it is sent."""
        import asyncio

        async def run() -> int:
            return await asyncio.wait_for(self.state.redeliver(job_id), timeout)

        return self._await(run())

    def journal(self, *, kind: str | None = None, job_id: str | None = None) -> list[dict[str, Any]]:
        """This test's journal: every API request and delivery attempt, secrets redacted."""
        entries = self.state.journal(kind=kind, job_id=job_id)  # type: ignore[arg-type]
        return [entry.to_json() for entry in entries]

    def events(self, job_id: str | None = None) -> list[dict[str, Any]]:
        """Recorded webhook events (one per URL), oldest first, as ``GET /v1/webhook-events`` shows them."""
        return self._call(lambda: [row.to_json() for row in self.state.events(job_id=job_id)])

    # errors raised inside the server

    # errors raised inside the server

    @property
    def errors(self) -> list[BaseException]:
        """Exceptions the fake raised during this test (handlers' 500s, failed jobs)."""
        return self._settled(lambda: list(self.state.errors))

    def _new_errors(self) -> list[BaseException]:
        def take() -> list[BaseException]:
            errors = self.state.errors[self._reported :]
            self._reported += len(errors)
            return errors

        return self._settled(take)

    def _settled(self, read: Callable[[], T]) -> T:
        """``read()`` of the errors, on the fake's loop once the server has finished with them.

        The server records an error and logs it, traceback and all, in one step of its loop, and a
        client can have its 500 before that step ends (a handler's error is logged after the answer
        is sent). Read on the loop, the errors come after that step: pytest must not format a
        traceback while the server thread formats one, since CPython 3.11's parser keeps one
        recursion counter for all threads ("SystemError: AST constructor recursion depth mismatch"
        in pytest's report, an INTERNALERROR). A server that has stopped has no thread to wait for.
        """
        loop = self.server.loop
        if loop is None:
            return read()
        return self._call(read)

    def raise_errors(self, when: str) -> None:
        __tracebackhide__ = True
        errors = self._new_errors()
        if len(errors) == 1:
            raise ServerError(
                f"cobalt-mock: the fake server raised {type(errors[0]).__name__} {when}; "
                "its traceback is above"
            ) from errors[0]
        if errors:
            raise ServerError(
                f"cobalt-mock: the fake server raised {len(errors)} exceptions {when}; see above"
            ) from BaseExceptionGroup("exceptions inside the cobalt-mock server", errors)

    def report_errors(self, item: pytest.Item) -> None:
        import traceback

        errors = self._new_errors()
        if errors:
            text = "\n".join("".join(traceback.format_exception(e)) for e in errors)
            item.add_report_section("call", "cobalt-mock server errors", text)

    # the server's event loop

    def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn`` on the fake's loop, which owns its state; returns its result."""

        async def run() -> T:
            return fn(*args, **kwargs)

        return self._await(run())

    def _await(self, coro: Coroutine[Any, Any, T]) -> T:
        import asyncio

        loop = self.server.loop
        if loop is None:
            coro.close()
            raise CobaltMockError("the cobalt-mock server is not running")
        return asyncio.run_coroutine_threadsafe(coro, loop).result(LOOP_TIMEOUT)

    def __repr__(self) -> str:
        return f"<CobaltMock {self.url} delay={self.settings.delay} seed={self.settings.seed}>"


def _explain(state: MockState, job_id: str) -> str:
    """What the fake knows about ``job_id``, for failure messages (call it on the fake's loop)."""
    job = state.find_job(job_id)
    lines = ["The fake's side:"]
    if job is None:
        known = ", ".join(j.job_id for j in state.jobs()) or "none"
        lines.append(f"  it has no job {job_id!r} (jobs in this test: {known}).")
    else:
        lines.append(f"  job {job_id} is {job.status}{_status_hint(job, state.now())}.")
        lines.extend(
            f"  attempt {a.attempt} to {a.url}: {a.status_code if a.error is None else a.error}"
            for a in job.attempts
        )
    urls = state.webhook_urls()
    lines.append(f"  webhooks registered: {', '.join(urls) or 'none'}.")
    if state.errors:
        lines.append(f"  it raised {len(state.errors)} exception(s) in this test (reported with it):")
        lines.extend(f"    {type(e).__name__}: {e}" for e in state.errors)
    return "\n".join(lines)


def _status_hint(job: Job, now: dt.datetime) -> str:
    if job.status == "scheduled":
        left = (job.due_at - now).total_seconds()
        return f", due in {left:.2f}s (delay {job.delay:g}s; @pytest.mark.{MARKER}(delay=0) makes it 0)"
    if job.status == "held":
        return ", held: its access token is on hold until released"
    if job.status == "stalled":
        return ", stalled by the never_complete behaviour"
    if job.status == "completed" and not job.attempts:
        return ", but no webhook URL was registered when it completed"
    return ""
