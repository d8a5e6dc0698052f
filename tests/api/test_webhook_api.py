"""Webhook management over HTTP, in both documented versions (``webhook_api``; docs/webhook-api.md).

Every answer is checked against the strict schema of its version; deliveries are checked with the
secret the version says signs them; the other version's body field and rotation route are refused,
naming what this version takes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from mock_server import resources
from mock_server.delivery.webhook import verify
from mock_server.settings import DEFAULT_WEBHOOK_SECRET
from mock_server.testing.receiver import WebhookReceiver
from tests.api.test_app import error
from tests.conftest import Fake

SIGNATURE = "cobalt-verification"
DAY = 24 * 3600


def answer(response: httpx.Response, schema: str) -> Any:
    """The 200 answer, which must fit ``schema``'s strict wrapper (what the fake emits)."""
    assert response.status_code == 200, response.text
    body = response.json()
    problems = [e.message for e in resources.validator(f"{schema}.strict").iter_errors(body)]
    assert problems == [], problems
    return body


def control(fake: Fake) -> dict[str, dict[str, Any]]:
    """The control plane's view of every webhook, by URL: its secret and the secrets valid now."""
    listed = fake.http.get("/_mock/webhooks").json()
    return {hook["url"]: hook for hook in listed["webhooks"]}


def delivered(fake: Fake, receiver: WebhookReceiver, path: str = "") -> tuple[bytes, str]:
    """A fetch's webhook as it reached ``receiver`` at ``path``: its bytes and signature."""
    job_id = fake.fetch().json()["job_id"]
    hit = receiver.wait_for(lambda d: d.job_id == job_id and d.path == (path or "/"), timeout=10)[0]
    return hit.body, hit.headers[SIGNATURE]


# --- the guide (the default) -------------------------------------------------------------------------


def test_guide_lifecycle(fake: Fake, receiver: WebhookReceiver) -> None:
    listed = answer(fake.http.get("/v1/webhook"), "webhook-list-response")
    assert listed == {
        "success": True,
        "webhook_url": None,
        "webhook_urls": [],
        "webhook_secret_key": DEFAULT_WEBHOOK_SECRET,
    }
    registered = answer(
        fake.http.post("/v1/webhook", json={"webhook_url": receiver.url}), "webhook-register-response"
    )
    assert registered == {
        "success": True,
        "message": "Webhook registered successfully",
        "webhook_secret_key": DEFAULT_WEBHOOK_SECRET,
    }
    fake.http.post("/v1/webhook", json={"webhook_url": receiver.url})  # idempotent
    listed = answer(fake.http.get("/v1/webhook"), "webhook-list-response")
    assert listed["webhook_url"] == receiver.url
    (hook,) = listed["webhook_urls"]
    assert list(hook) == ["id", "url"]
    assert hook["id"].startswith("wh_")

    rotated = answer(fake.http.post("/v1/webhook/rotate-secret"), "webhook-rotate-response")
    new_secret = rotated["webhook_secret_key"]
    assert new_secret.startswith("whsec_")
    assert new_secret != DEFAULT_WEBHOOK_SECRET
    assert fake.http.get("/v1/webhook").json()["webhook_secret_key"] == new_secret
    body, signature = delivered(fake, receiver)
    assert verify(new_secret, body, signature)
    assert not verify(DEFAULT_WEBHOOK_SECRET, body, signature)
    # The guide promises no overlap: the replaced secret stops verifying at the rotation.
    assert control(fake)[receiver.url]["valid_secrets"] == [new_secret]
    newer = fake.http.post("/v1/webhook/rotate-secret").json()["webhook_secret_key"]
    assert newer not in (new_secret, DEFAULT_WEBHOOK_SECRET)

    removed = answer(fake.http.delete(f"/v1/webhook/{hook['id']}"), "webhook-delete-response")
    assert removed == {"success": True, "message": "Webhook URL removed successfully"}
    assert error(fake.http.delete(f"/v1/webhook/{hook['id']}"), 404) == "Webhook not found."
    assert fake.http.get("/v1/webhook").json()["webhook_urls"] == []


def test_guide_refuses_the_reference_body_and_route(fake: Fake) -> None:
    url = "https://example.com/hook"
    assert error(fake.http.post("/v1/webhook", json={"url": url}), 400) == (
        "Unknown field url; this server follows the guide's webhook API (webhook_url)."
    )
    fake.register(url)
    (hook,) = fake.http.get("/v1/webhook").json()["webhook_urls"]
    assert error(fake.http.post(f"/v1/webhook/{hook['id']}/rotate-secret"), 404) == (
        "POST /v1/webhook/{id}/rotate-secret is the API reference's; this server follows the guide's "
        "webhook API (POST /v1/webhook/rotate-secret)."
    )
    assert fake.http.get("/v1/webhook").json()["webhook_secret_key"] == DEFAULT_WEBHOOK_SECRET  # not rotated


def test_guide_registration_errors(fake: Fake) -> None:
    assert error(fake.http.post("/v1/webhook", json={}), 400) == "Missing required parameters: webhook_url."
    assert "Invalid webhook_url" in error(fake.http.post("/v1/webhook", json={"webhook_url": "nope"}), 400)
    assert error(fake.http.post("/v1/webhook", content=b"x", headers={"content-type": "text/plain"}), 415)
    assert error(
        fake.http.post("/v1/webhook", json={"webhook_url": "http://127.0.0.1:9/h", "x": 1}), 400
    ) == ("Unknown field x; this server follows the guide's webhook API (webhook_url).")


def test_start_up_webhooks_are_registered(serve: Callable[..., Fake], receiver: WebhookReceiver) -> None:
    fake = serve(webhook_urls=receiver.url + "/boot")
    assert [h["url"] for h in fake.http.get("/v1/webhook").json()["webhook_urls"]] == [receiver.url + "/boot"]
    job_id = fake.fetch().json()["job_id"]
    assert receiver.wait_for_webhook(job_id, timeout=10).path == "/boot"


# --- the API reference ----------------------------------------------------------------------------------


@pytest.fixture
def reference(serve: Callable[..., Fake]) -> Fake:
    return serve(webhook_api="reference")


def create(fake: Fake, url: str) -> dict[str, str]:
    created = answer(fake.http.post("/v1/webhook", json={"url": url}), "webhook-reference-create-response")
    hook: dict[str, str] = created["webhook"]
    assert list(hook) == ["webhook_id", "webhook_url", "webhook_secret_key"]
    return hook


def test_a_reference_client_registers_with_url_and_gets_a_webhook(reference: Fake) -> None:
    response = reference.http.post("/v1/webhook", json={"url": "https://example.com/cobalt"})
    assert response.status_code == 200, response.text
    created = response.json()
    assert created["success"] is True
    hook = created["webhook"]
    assert hook["webhook_url"] == "https://example.com/cobalt"
    assert hook["webhook_id"].startswith("wh_")
    assert len(hook["webhook_id"]) == 25
    assert hook["webhook_secret_key"].startswith("whsec_")
    assert answer(response, "webhook-reference-create-response") == created


def test_reference_lifecycle(reference: Fake, receiver: WebhookReceiver) -> None:
    first = create(reference, receiver.url + "/")
    second = create(reference, receiver.url + "/second")
    assert create(reference, receiver.url + "/") == first  # idempotent: one webhook per URL
    assert first["webhook_id"] != second["webhook_id"]
    assert first["webhook_secret_key"] != second["webhook_secret_key"]  # a secret per webhook

    listed = answer(reference.http.get("/v1/webhook"), "webhook-reference-list-response")
    assert listed == {
        "success": True,
        "webhook_url": first["webhook_url"],
        "webhook_urls": [{"id": h["webhook_id"], "url": h["webhook_url"]} for h in (first, second)],
    }  # no account-wide secret: this version has none

    job_id = reference.fetch().json()["job_id"]
    got = {d.path: d for d in receiver.wait_for(lambda d: d.job_id == job_id, timeout=10, count=2)}
    assert got["/"].body == got["/second"].body
    assert verify(first["webhook_secret_key"], got["/"].body, got["/"].headers[SIGNATURE])
    assert verify(second["webhook_secret_key"], got["/second"].body, got["/second"].headers[SIGNATURE])
    assert not verify(second["webhook_secret_key"], got["/"].body, got["/"].headers[SIGNATURE])

    rotated = answer(
        reference.http.post(f"/v1/webhook/{second['webhook_id']}/rotate-secret"),
        "webhook-reference-rotate-response",
    )
    new = rotated["webhook"]["secret"]
    assert rotated == {"success": True, "webhook": {"id": second["webhook_id"], "secret": new}}
    assert new.startswith("whsec_")
    assert new != second["webhook_secret_key"]
    hooks = control(reference)
    assert hooks[first["webhook_url"]]["valid_secrets"] == [first["webhook_secret_key"]]  # untouched
    assert hooks[second["webhook_url"]]["valid_secrets"] == [new, second["webhook_secret_key"]]
    body, signature = delivered(reference, receiver, "/second")
    assert verify(new, body, signature)  # the new secret signs at once

    almost = reference.http.post("/_mock/clock", json={"advance": DAY - 60}).json()
    assert almost["success"] is True
    assert control(reference)[second["webhook_url"]]["valid_secrets"] == [new, second["webhook_secret_key"]]
    reference.http.post("/_mock/clock", json={"advance": 60})
    assert control(reference)[second["webhook_url"]]["valid_secrets"] == [new]  # 24 h later: gone

    assert error(reference.http.post("/v1/webhook/wh_nope/rotate-secret"), 404) == "Webhook not found."
    removed = answer(reference.http.delete(f"/v1/webhook/{second['webhook_id']}"), "webhook-delete-response")
    assert removed == {"success": True, "message": "Webhook URL removed successfully"}
    assert error(reference.http.delete(f"/v1/webhook/{second['webhook_id']}"), 404) == "Webhook not found."


def test_reference_refuses_the_guide_body_and_route(reference: Fake) -> None:
    url = "https://example.com/hook"
    assert error(reference.http.post("/v1/webhook", json={"webhook_url": url}), 400) == (
        "Unknown field webhook_url; this server follows the API reference's webhook API (url)."
    )
    assert error(reference.http.post("/v1/webhook", json={"url": url, "events": []}), 400) == (
        "Unknown field events; this server follows the API reference's webhook API (url)."
    )
    assert error(reference.http.post("/v1/webhook", json={}), 400) == "Missing required parameters: url."
    assert (
        error(reference.http.post("/v1/webhook", json={"url": ""}), 400)
        == "Missing required parameters: url."
    )
    assert "Invalid url" in error(reference.http.post("/v1/webhook", json={"url": "nope"}), 400)
    assert error(reference.http.post("/v1/webhook/rotate-secret"), 404) == (
        "POST /v1/webhook/rotate-secret is the guide's; this server follows the API reference's "
        "webhook API (POST /v1/webhook/{id}/rotate-secret)."
    )


def test_reference_ids_and_secrets_come_from_the_seed(serve: Callable[..., Fake]) -> None:
    def created(**settings: Any) -> tuple[dict[str, str], str]:
        fake = serve(webhook_api="reference", **settings)
        hook = create(fake, "https://example.com/a")
        rotated = fake.http.post(f"/v1/webhook/{hook['webhook_id']}/rotate-secret").json()
        return hook, rotated["webhook"]["secret"]

    assert created(seed=7) == created(seed=7)
    assert created(seed=7)[0]["webhook_id"] != created(seed=8)[0]["webhook_id"]
    assert created(seed=7)[1] != created(seed=8)[1]


def test_reference_start_up_webhooks_start_with_the_printed_secret(
    serve: Callable[..., Fake], receiver: WebhookReceiver
) -> None:
    fake = serve(webhook_api="reference", webhook_urls=receiver.url + "/boot")
    body, signature = delivered(fake, receiver, "/boot")
    assert verify(DEFAULT_WEBHOOK_SECRET, body, signature)
    (hook,) = fake.http.get("/v1/webhook").json()["webhook_urls"]
    new = fake.http.post(f"/v1/webhook/{hook['id']}/rotate-secret").json()["webhook"]["secret"]
    assert control(fake)[receiver.url + "/boot"]["valid_secrets"] == [new, DEFAULT_WEBHOOK_SECRET]


@pytest.mark.parametrize(
    ("api", "previous_verifies"), [("guide", False), ("reference", True)], ids=["guide", "reference"]
)
def test_old_secret_signs_with_the_secret_a_rotation_replaced(
    serve: Callable[..., Fake], receiver: WebhookReceiver, api: str, previous_verifies: bool
) -> None:
    """The ``old_secret`` behaviour: signed with the previous secret, which verifies only where the
    version keeps an overlap."""
    fake = serve(webhook_api=api, webhook_urls=receiver.url + "/")
    job_id = fake.fetch(headers={"x-cobalt-mock-scenario": "old_secret"}).json()["job_id"]
    delivery = receiver.wait_for_webhook(job_id, timeout=10)
    assert verify(DEFAULT_WEBHOOK_SECRET, delivery.body, delivery.headers[SIGNATURE])  # rotated first
    (hook,) = control(fake).values()
    assert hook["secret"] != DEFAULT_WEBHOOK_SECRET
    assert (DEFAULT_WEBHOOK_SECRET in hook["valid_secrets"]) is previous_verifies


def test_webhook_api_can_change_at_run_time(fake: Fake) -> None:
    patched = fake.http.patch("/_mock/config", json={"webhook_api": "reference"})
    assert patched.json()["config"]["webhook_api"] == "reference"
    hook = create(fake, "https://example.com/now-reference")
    assert hook["webhook_secret_key"].startswith("whsec_")
    bad = fake.http.patch("/_mock/config", json={"webhook_api": "v2"})
    assert error(bad, 400) == "Webhook_api: expected one of guide, reference; got 'v2'."
