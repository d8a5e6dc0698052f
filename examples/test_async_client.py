"""An async test: the test's event loop keeps running while it waits for the webhook."""

import httpx
import pytest


@pytest.mark.anyio  # or pytest-asyncio's asyncio marker
async def test_async_client(cobalt_mock):
    async with httpx.AsyncClient(base_url=cobalt_mock.base_url, headers=cobalt_mock.headers) as client:
        response = await client.post(
            "/appointments/fetch", json={"start_date": "2025-01-06", "end_date": "2025-01-12"}
        )
    webhook = await cobalt_mock.wait_for_webhook_async(response.json()["job_id"])
    assert webhook.payload["job_id"] == response.json()["job_id"]


@pytest.fixture
def anyio_backend():
    return "asyncio"
