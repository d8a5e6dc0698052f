"""The engine behind the pytest plugin: one fake and receiver per session, a clean handle per test.

``CobaltMockServer`` (``mock_server.testing.session``) runs the fake (uvicorn in a thread on a pre-bound
port) and a ``WebhookReceiver``; ``CobaltMock`` is what a test uses, with what its waits check and
explain in ``mock_server.testing.waiting``. Kept apart from ``pytest_plugin`` (the hooks and fixtures) the
way pytest-httpserver keeps its engine apart from its glue. Only the standard library, pytest and
``mock_server.settings`` load at import; the server's dependencies load when a server starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pytest

from mock_server.settings import Settings
from mock_server.testing.onloop import OnTheLoop, ServerError
from mock_server.testing.session import CobaltMockServer

if TYPE_CHECKING:
    from mock_server.model.jobs import Job
    from mock_server.testing.receiver import Delivery, WebhookReceiver

__all__ = ["CobaltMock", "CobaltMockServer", "ServerError"]

MARKER = "cobalt_mock"
DEFAULT_HEADERS = {"client_id": "ci_test", "client_secret": "cs_test", "access_token": "test-access-token"}
DEFAULT_FETCH = {"start_date": "2025-01-06", "end_date": "2025-01-12"}


# -- the per-test handle -----------------------------------------------------------------------


class CobaltMock(OnTheLoop):
    """What a test uses: the fake's URLs and credentials, its webhooks, jobs and events."""

    def __init__(self, server: CobaltMockServer, settings: Settings) -> None:
        self.server = server
        self._settings = settings
        self._reported = 0
        assert server.receiver is not None
        self.receiver: WebhookReceiver = server.receiver

    # lifecycle (the fixture's)

    def begin(self) -> None:
        """Reset the fake to this test's settings with the receiver registered; forget deliveries."""
        thread = self.server.thread
        if thread is None or not thread.running:
            error = thread.error if thread is not None else None
            pytest.fail(f"cobalt-mock: the fake server is not running ({error!r})", pytrace=False)
        self._await(self._reset(self._settings, register=True))
        self.receiver.clear()
        self.receiver.secrets = (self._settings.webhook_secret,)

    def end(self) -> None:
        """Cancel what is still running and reset the fake to the session's settings."""
        self._await(self._reset(self.server.settings, register=False))
        self.receiver.clear()

    async def _reset(self, settings: Settings, *, register: bool) -> None:
        state = self.state
        await state.dispatcher.drain(0)
        state.initial_settings = settings  # what reset() restores: this test's settings
        state.reset()
        if register:
            state.errors.clear()
            self._reported = 0
            state.store.webhooks.register(self.receiver.url + "/")

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
    def webhook_secret(self) -> str:
        """The secret that signs webhooks now (rotating it through the API changes it)."""
        return self.state.store.webhooks.secret

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

    def register_webhook(self, url: str) -> str:
        """Send webhooks to ``url`` too (the receiver stays registered); returns the webhook id."""
        return self._call(lambda: self.state.store.webhooks.register(url).id)

    def unregister_webhook(self, id_or_url: str) -> bool:
        """Stop sending webhooks to a registered id or URL (the receiver's URL too, if you like)."""

        def remove() -> bool:
            hooks = self.state.store.webhooks
            return any(hooks.remove(h.id) for h in hooks if id_or_url in (h.id, h.url))

        return self._call(remove)

    @property
    def webhook_urls(self) -> list[str]:
        return self._call(lambda: self.state.store.webhooks.urls())

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

    def _verified(self, delivery: Delivery, verify: bool) -> Delivery:
        __tracebackhide__ = True
        from mock_server.testing import waiting

        return waiting.verified(self.state, delivery, verify)

    def wait_for_job(self, job_id: str, timeout: float = 5.0) -> Job:
        """Block until the job has made every delivery attempt (to whatever URLs are registered)."""
        __tracebackhide__ = True
        try:
            return self.state.store.wait_for_job(job_id, timeout)
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}\n{self.explain(job_id)}") from None

    def explain(self, job_id: str) -> str:
        """What the fake knows about ``job_id``: for failure messages."""
        from mock_server.testing import waiting

        return self._call(waiting.explain, self.state, job_id)

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
        return self._call(lambda: list(self.state.store.jobs.values()))

    def job(self, job_id: str) -> Job:
        job = self._call(self.state.store.job, job_id)
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
        entries = self.state.journal.entries(kind=kind, job_id=job_id)  # type: ignore[arg-type]
        return [entry.to_json() for entry in entries]

    def events(self, job_id: str | None = None) -> list[dict[str, Any]]:
        """Recorded webhook events (one per URL), oldest first, as ``GET /v1/webhook-events`` shows them."""
        return self._call(lambda: [row.to_json() for row in self.state.store.find_events(job_id=job_id)])

    def __repr__(self) -> str:
        return f"<CobaltMock {self.url} delay={self.settings.delay} seed={self.settings.seed}>"
