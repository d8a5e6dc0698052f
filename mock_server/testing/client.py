"""``MockClient``: the ``/_mock/`` control plane from Python — a thin, synchronous httpx wrapper.

Every method is one HTTP call; anything but a 2xx raises ``MockClientError`` with the fake's message.
Pass ``access_token`` to scope a call to one token (parallel test workers sharing a server).

Webhooks look the same whichever version of Cobalt's webhook API the fake follows (``webhook_api``):
``register_webhook``, ``webhooks`` and ``rotate_secret`` give each webhook's id, URL, the ``secret``
that signs its deliveries and the ``valid_secrets`` that verify them now (the old one too, for 24 h
after an API reference rotation), and ``verify`` checks a received body's signature against those.
``advance_clock`` moves the fake's clock on, to see that overlap end.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any

import httpx

from mock_server.errors import CobaltMockError

__all__ = ["MockClient", "MockClientError"]


class MockClientError(CobaltMockError):
    """The control plane answered with an error (``status`` and the fake's ``message``)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


def _token(access_token: str | None) -> dict[str, str]:
    return {} if access_token is None else {"access_token": access_token}


class MockClient:
    """Drive a running fake: reset, config, jobs, the request journal and scenarios."""

    def __init__(
        self,
        base_url: str,
        control_token: str | None = None,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"authorization": f"Bearer {control_token}"} if control_token else {}
        self.http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers=headers,
            timeout=timeout,
            transport=transport,
            trust_env=False,
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> MockClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _call(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None, json: object = None
    ) -> dict[str, Any]:
        query = {k: v for k, v in (params or {}).items() if v is not None}
        response = self.http.request(method, "/_mock" + path, params=query, json=json)
        try:
            body = response.json()
        except ValueError:
            body = None
        if not response.is_success:
            message = body.get("message") if isinstance(body, dict) else None
            raise MockClientError(
                response.status_code, str(message or response.text or response.reason_phrase)
            )
        if not isinstance(body, dict):
            raise MockClientError(
                response.status_code, f"expected a JSON object, got {response.text[:200]!r}"
            )
        return body

    # state and config

    def health(self) -> dict[str, Any]:
        return self._call("GET", "/health")

    def reset(self, access_token: str | None = None) -> None:
        """Forget everything (as if restarted), or one access token's jobs, journal and scenarios."""
        self._call("POST", "/reset", json=_token(access_token))

    def config(self) -> dict[str, Any]:
        config: dict[str, Any] = self._call("GET", "/config")["config"]
        return config

    def configure(self, **values: object) -> dict[str, Any]:
        """Change settings at run time (``delay="1..3"``, ``seed=7``, ...); returns the new config."""
        config: dict[str, Any] = self._call("PATCH", "/config", json=values)["config"]
        return config

    # jobs

    def jobs(
        self, access_token: str | None = None, *, status: str | None = None, detail: bool = False
    ) -> list[dict[str, Any]]:
        params = {"access_token": access_token, "status": status, "detail": "true" if detail else None}
        jobs: list[dict[str, Any]] = self._call("GET", "/jobs", params=params)["jobs"]
        return jobs

    def job(self, job_id: str) -> dict[str, Any]:
        job: dict[str, Any] = self._call("GET", f"/jobs/{job_id}")["job"]
        return job

    def hold(self, access_token: str | None = None) -> None:
        """New jobs (of one token, or all) wait in status "held" until ``release`` or ``complete``."""
        self._call("POST", "/jobs/hold", json=_token(access_token))

    def release(self, access_token: str | None = None) -> list[str]:
        """Stop holding; held jobs complete at their due time (or now). Returns their ids."""
        released: list[str] = self._call("POST", "/jobs/release", json=_token(access_token))["released"]
        return released

    def complete(self, job_id: str, *, wait: bool = True) -> dict[str, Any]:
        """Finish a scheduled, held or stalled job now; with ``wait``, return after its deliveries."""
        job: dict[str, Any] = self._call(
            "POST", f"/jobs/{job_id}/complete", params={"wait": str(wait).lower()}
        )["job"]
        return job

    def redeliver(self, job_id: str, *, wait: bool = True) -> dict[str, Any]:
        """Deliver a completed job's webhook again; returns ``{"delivery": n, "job": {...}}``."""
        body = self._call("POST", f"/jobs/{job_id}/redeliver", params={"wait": str(wait).lower()})
        return {"delivery": body["delivery"], "job": body["job"]}

    # the journal

    def requests(
        self,
        access_token: str | None = None,
        *,
        kind: str | None = None,
        since: int | None = None,
        job_id: str | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Journal entries (API requests and delivery attempts), oldest first."""
        params = {
            "access_token": access_token,
            "kind": kind,
            "since": since,
            "job_id": job_id,
            "limit": limit,
        }
        entries: list[dict[str, Any]] = self._call("GET", "/requests", params=params)["entries"]
        return entries

    # scenarios

    def add_scenario(self, scenario: Mapping[str, Any] | str, /, **fields: Any) -> dict[str, Any]:
        """Add a scenario: its JSON form, or a behaviour name plus fields.

        ``add_scenario("api_429", params={"retry_after": 3}, times=1, match={"access_token": "t"})``
        """
        body = {"behaviour": scenario, **fields} if isinstance(scenario, str) else {**scenario, **fields}
        added: dict[str, Any] = self._call("POST", "/scenarios", json=body)["scenario"]
        return added

    def scenarios(self, access_token: str | None = None) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self._call("GET", "/scenarios", params={"access_token": access_token})[
            "scenarios"
        ]
        return found

    def remove_scenario(self, scenario_id: str) -> None:
        self._call("DELETE", f"/scenarios/{scenario_id}")

    def clear_scenarios(self, access_token: str | None = None) -> int:
        removed: int = self._call("DELETE", "/scenarios", params={"access_token": access_token})["removed"]
        return removed

    # webhooks and the clock

    def webhooks(self) -> list[dict[str, Any]]:
        """Every registered webhook: ``id``, ``url``, ``secret`` and ``valid_secrets``."""
        found: list[dict[str, Any]] = self._call("GET", "/webhooks")["webhooks"]
        return found

    def register_webhook(self, url: str) -> dict[str, Any]:
        """Register ``url`` (in either version of the webhook API); returns the webhook."""
        hook: dict[str, Any] = self._call("POST", "/webhooks", json={"url": url})["webhook"]
        return hook

    def unregister_webhook(self, webhook_id: str) -> None:
        self._call("DELETE", f"/webhooks/{webhook_id}")

    def rotate_secret(self, webhook_id: str) -> dict[str, Any]:
        """Rotate as the fake's ``webhook_api`` does: the account's secret, which every webhook
        shares (guide), or this webhook's own (reference). Returns the webhook afterwards."""
        hook: dict[str, Any] = self._call("POST", f"/webhooks/{webhook_id}/rotate-secret")["webhook"]
        return hook

    def verify(self, id_or_url: str, body: bytes, signature: str) -> bool:
        """Whether ``signature`` (a ``cobalt-verification`` header) signs ``body`` with a secret
        that verifies the webhook with this id or URL now."""
        from mock_server.delivery.webhook import verify

        hook = next((h for h in self.webhooks() if id_or_url in (h["id"], h["url"])), None)
        if hook is None:
            raise MockClientError(404, f"Webhook {id_or_url} not found.")
        return any(verify(secret, body, signature) for secret in hook["valid_secrets"])

    def clock(self) -> str:
        """The fake's time (ISO 8601 UTC)."""
        now: str = self._call("GET", "/clock")["now"]
        return now

    def advance_clock(self, seconds: float) -> str:
        """Move the fake's clock ``seconds`` forward; returns its time (ISO 8601 UTC)."""
        now: str = self._call("POST", "/clock", json={"advance": seconds})["now"]
        return now

    def behaviours(self) -> list[dict[str, Any]]:
        """Every behaviour with its level, parameters and magic values."""
        found: list[dict[str, Any]] = self._call("GET", "/behaviours")["behaviours"]
        return found
