"""MockClient: every control call from Python, errors as MockClientError, the lazy export."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

import mock_server
from mock_server.errors import CobaltMockError
from mock_server.testing.client import MockClient, MockClientError
from mock_server.testing.receiver import WebhookReceiver
from tests.conftest import Fake


def test_exported_lazily_from_the_package() -> None:
    assert "MockClient" in mock_server.__all__
    assert mock_server.MockClient is MockClient


def test_a_test_session_through_the_client(receiver: WebhookReceiver, serve: Callable[..., Fake]) -> None:
    fake = serve(retry_delay=0.01)
    fake.register(receiver.url)
    with MockClient(fake.url + "/") as client:
        assert client.health()["status"] == "ok"
        assert client.configure(delay="100", seed=3)["delay"] == "100"
        assert client.config()["seed"] == 3

        client.hold("tok_a")
        job_id = fake.fetch().json()["job_id"]
        assert client.jobs("tok_a", status="held")[0]["job_id"] == job_id
        assert "attempts" in client.jobs(detail=True)[0]
        assert client.release("tok_a") == [job_id]
        client.hold()
        held = fake.fetch().json()["job_id"]
        assert client.complete(held)["status"] == "completed"
        assert client.job(held)["attempts"][0]["status_code"] == 200
        redelivered = client.redeliver(held)
        assert redelivered["delivery"] == 2
        assert redelivered["job"]["job_id"] == held
        assert client.redeliver(held, wait=False)["delivery"] is None
        fake.state.wait_for_job(held)

        scenario = client.add_scenario("api_429", params={"retry_after": 3}, times=1)
        assert scenario["remaining"] == 1
        assert client.add_scenario({"behaviour": "empty"}, match={"access_token": "tok_b"})["id"] == "scn_2"
        assert [s["id"] for s in client.scenarios("tok_b")] == ["scn_1", "scn_2"]
        assert fake.fetch().status_code == 429
        client.remove_scenario("scn_2")
        client.add_scenario("large")
        assert client.clear_scenarios() == 1
        assert len(client.behaviours()) == 12

        requests = client.requests("tok_a", kind="request")
        assert [r["path"] for r in requests] == ["/v1/webhook"] + ["/v1/appointments/fetch"] * 3
        assert client.requests(since=requests[-1]["seq"], kind="request") == []
        assert client.requests(job_id=held, limit=1)[0]["kind"] == "delivery"

        client.reset("tok_a")
        assert client.jobs("tok_a") == []
        client.reset()
        assert client.jobs() == []
        assert client.config()["delay"] == "0"


def test_errors_carry_the_status_and_message(fake: Fake) -> None:
    with MockClient(fake.url) as client:
        with pytest.raises(MockClientError) as caught:
            client.job("job_nope")
        assert (caught.value.status, caught.value.message) == (404, "Job job_nope not found.")
        assert isinstance(caught.value, CobaltMockError)
        assert str(caught.value) == "404: Job job_nope not found."
        with pytest.raises(MockClientError, match="400: Unknown setting"):
            client.configure(nope=1)


def test_control_token(serve: Callable[..., Fake]) -> None:
    fake = serve(control_token="sekret")
    with MockClient(fake.url, "sekret") as client:
        assert client.jobs() == []
    with MockClient(fake.url) as client, pytest.raises(MockClientError, match="401"):
        client.jobs()


@pytest.mark.parametrize(
    ("status", "content", "message"),
    [
        (502, b"<html>bad gateway</html>", "502: <html>bad gateway</html>"),
        (503, b"", "503: Service Unavailable"),
        (500, b'{"oops": 1}', '500: {"oops": 1}'),
        (200, b"[1, 2]", "200: expected a JSON object, got '[1, 2]'"),
        (200, b"not json", "200: expected a JSON object, got 'not json'"),
    ],
)
def test_answers_that_are_not_the_fakes(status: int, content: bytes, message: str) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(status, content=content))
    with MockClient("http://fake", transport=transport) as client, pytest.raises(MockClientError) as caught:
        client.health()
    assert str(caught.value) == message


@pytest.mark.parametrize("api", ["guide", "reference"])
def test_webhooks_rotation_verification_and_the_clock(
    receiver: WebhookReceiver, serve: Callable[..., Fake], api: str
) -> None:
    fake = serve(webhook_api=api)
    with MockClient(fake.url) as client:
        hook = client.register_webhook(receiver.url + "/mine")
        assert client.webhooks() == [hook]
        job_id = fake.fetch().json()["job_id"]
        delivery = receiver.wait_for_webhook(job_id, timeout=10)
        signature = delivery.headers["cobalt-verification"]
        assert client.verify(hook["id"], delivery.body, signature)
        assert client.verify(hook["url"], delivery.body, signature)
        assert not client.verify(hook["id"], delivery.body + b" ", signature)
        rotated = client.rotate_secret(hook["id"])
        assert rotated["secret"] != hook["secret"]
        assert client.verify(hook["id"], delivery.body, signature) is (api == "reference")  # the overlap
        before = client.clock()
        assert client.advance_clock(24 * 3600) > before
        assert not client.verify(hook["id"], delivery.body, signature)
        with pytest.raises(MockClientError, match="Webhook wh_nope not found") as raised:
            client.verify("wh_nope", delivery.body, signature)
        assert raised.value.status == 404
        client.unregister_webhook(hook["id"])
        assert client.webhooks() == []
