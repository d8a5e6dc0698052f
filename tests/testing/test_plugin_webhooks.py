"""End to end, once per ``webhook_api`` value: a client registers its own receiver through the Cobalt
API in that version's shape, fetches, receives, verifies the signature, rotates, and verifies with
the old and the new secret as that version documents. The plugin handle and ``MockClient`` (the
control plane) must agree with what the client learnt from the API.

The guide promises no overlap: after a rotation only the new secret verifies. The API reference
keeps the old one verifying for 24 hours, on the fake's clock, moved on here instead of waited for.
A delivery signed with the old secret comes from the ``old_secret`` behaviour.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mock_server import MockClient, WebhookReceiver, verify
from mock_server.testing.handle import CobaltMock

pytest_plugins = ["pytester"]

SIGNATURE = "cobalt-verification"
DAY = 24 * 3600
OLD_SECRET = {"x-cobalt-mock-scenario": "old_secret"}
VERSIONS = [
    pytest.param(api, marks=pytest.mark.cobalt_mock(webhook_api=api), id=api)
    for api in ("guide", "reference")
]


@pytest.fixture
def ours() -> Iterator[WebhookReceiver]:
    """The client's own endpoint (no secret configured: the test checks signatures itself)."""
    with WebhookReceiver() as receiver:
        yield receiver


class Client:
    """What a Cobalt client built from one version of the docs does over HTTP."""

    def __init__(self, cobalt_mock: CobaltMock, api: str) -> None:
        self.mock, self.api = cobalt_mock, api
        self.http = httpx.Client(base_url=cobalt_mock.base_url, headers=cobalt_mock.headers, timeout=10)

    def register(self, url: str) -> tuple[str, str]:
        """Register ``url``; returns its webhook id and the secret that signs its deliveries."""
        if self.api == "guide":
            secret = self.ok(self.http.post("/webhook", json={"webhook_url": url}))["webhook_secret_key"]
            listed = self.ok(self.http.get("/webhook"))["webhook_urls"]
            return next(h["id"] for h in listed if h["url"] == url), secret
        hook = self.ok(self.http.post("/webhook", json={"url": url}))["webhook"]
        assert hook["webhook_url"] == url
        return hook["webhook_id"], hook["webhook_secret_key"]

    def rotate(self, hook_id: str) -> str:
        if self.api == "guide":
            secret: str = self.ok(self.http.post("/webhook/rotate-secret"))["webhook_secret_key"]
            return secret
        rotated = self.ok(self.http.post(f"/webhook/{hook_id}/rotate-secret"))["webhook"]
        assert rotated["id"] == hook_id
        return str(rotated["secret"])

    def received(self, ours: WebhookReceiver, headers: dict[str, str] | None = None) -> tuple[bytes, str]:
        job_id = self.mock.fetch(headers=headers)
        delivery = ours.wait_for_webhook(job_id)
        assert delivery.payload["job_id"] == job_id
        return delivery.body, delivery.headers[SIGNATURE]

    @staticmethod
    def ok(response: httpx.Response) -> Any:
        assert response.status_code == 200, response.text
        return response.json()


@pytest.mark.parametrize("api", VERSIONS)
def test_register_fetch_receive_verify_rotate_verify(
    cobalt_mock: CobaltMock, ours: WebhookReceiver, api: str
) -> None:
    client = Client(cobalt_mock, api)
    url = ours.url + "/cobalt"
    hook_id, secret = client.register(url)
    assert cobalt_mock.secret_for(url) == cobalt_mock.secret_for(hook_id) == secret
    with MockClient(cobalt_mock.url) as control:
        (mine,) = [h for h in control.webhooks() if h["url"] == url]
        assert (mine["id"], mine["secret"], mine["valid_secrets"]) == (hook_id, secret, [secret])

        body, signature = client.received(ours)
        assert verify(secret, body, signature)
        assert control.verify(hook_id, body, signature)

        new = client.rotate(hook_id)
        assert new != secret
        assert cobalt_mock.secret_for(url) == new
        body, signature = client.received(ours)
        assert verify(new, body, signature)  # the new secret signs at once, in both versions
        assert not verify(secret, body, signature)

        old_body, old_signature = client.received(ours, OLD_SECRET)
        assert verify(secret, old_body, old_signature)  # signed with the secret the rotation replaced
        if api == "guide":  # no overlap: the old secret no longer verifies anything
            assert cobalt_mock.valid_secrets(url) == [new]
            assert not control.verify(url, old_body, old_signature)
        else:  # the old secret keeps verifying for 24 hours of the fake's clock
            assert cobalt_mock.valid_secrets(url) == [new, secret]
            assert control.verify(url, old_body, old_signature)
            cobalt_mock.advance_clock(DAY - 1)
            assert control.verify(url, old_body, old_signature)
            control.advance_clock(1)
            assert cobalt_mock.valid_secrets(url) == [new]
            assert not control.verify(url, old_body, old_signature)
        assert control.verify(url, body, signature)  # the new one verifies throughout
    client.http.close()


@pytest.mark.parametrize("api", VERSIONS)
def test_the_built_in_receiver_is_verified_with_its_webhooks_secret(
    cobalt_mock: CobaltMock, api: str
) -> None:
    first = cobalt_mock.wait_for_webhook(cobalt_mock.fetch())
    assert first.signature_valid
    assert verify(cobalt_mock.webhook_secret, first.body, first.headers[SIGNATURE])
    other = cobalt_mock.register_webhook(cobalt_mock.receiver.url + "/other")
    differs = cobalt_mock.secret_for(other) != cobalt_mock.webhook_secret
    assert differs is (api == "reference")  # a secret per webhook, or one per account
    new = cobalt_mock.rotate_secret()
    assert cobalt_mock.webhook_secret == new
    job_id = cobalt_mock.fetch()
    both = cobalt_mock.receiver.wait_for(lambda d: d.job_id == job_id, count=2)
    assert cobalt_mock.wait_for_webhook(job_id).signature_valid
    for delivery in both:  # each signed with the secret of the webhook it came to
        secret = cobalt_mock.secret_for(cobalt_mock.receiver.url + delivery.path)
        assert verify(secret, delivery.body, delivery.headers[SIGNATURE])
    with pytest.raises(LookupError, match="no webhook 'wh_nope'"):
        cobalt_mock.secret_for("wh_nope")


@pytest.mark.cobalt_mock(webhook_api="reference")
def test_the_clock_starts_each_test_at_real_time(cobalt_mock: CobaltMock) -> None:
    import datetime as dt

    moved = cobalt_mock.advance_clock(3 * DAY)
    assert moved - dt.datetime.now(dt.UTC) > dt.timedelta(days=2)
    delivery = cobalt_mock.wait_for_webhook(cobalt_mock.fetch())
    stamped = dt.datetime.fromisoformat(delivery.payload["timestamp"].replace("Z", "+00:00"))
    assert stamped - dt.datetime.now(dt.UTC) > dt.timedelta(days=2)  # the fake's clock stamps it
    cobalt_mock.end()
    cobalt_mock.begin()
    assert abs(cobalt_mock.state.now() - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)


def test_the_docs_example_passes(pytester: pytest.Pytester) -> None:
    page = (Path(__file__).resolve().parents[2] / "docs" / "webhook-api.md").read_text(encoding="utf-8")
    (block,) = re.findall(r"```python\n(.*?)```", page, re.DOTALL)
    pytester.makepyfile(test_webhook_api_page="import pytest\n\n" + block)
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
