"""The model's own rules, without HTTP: API-level faults answered by ``MockState.accept``."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from mock_server.api.app import create_app
from mock_server.errors import ApiError
from mock_server.model.jobs import FetchRequest
from mock_server.model.state import MockState
from mock_server.settings import Settings

REQUEST = FetchRequest("date_range", dt.date(2025, 1, 6), dt.date(2025, 1, 7))


def _state() -> MockState:
    state: MockState = create_app(Settings().replace(delay=3600)).state.cobalt
    return state


def _never() -> asyncio.Future[None]:
    return asyncio.get_running_loop().create_future()


@pytest.mark.parametrize(("header", "status"), [("api_429", 429), ("api_500", 500), ("api_timeout=0", 504)])
def test_api_faults_raise_their_answer_and_accept_no_job(header: str, status: int) -> None:
    state = _state()
    caller = ("ci", "tok")

    async def main() -> None:
        with pytest.raises(ApiError) as caught:
            await state.accept(*caller, REQUEST, header, _never)
        assert caught.value.status == status

    asyncio.run(main())
    assert state.jobs() == []


def test_an_api_timeout_ends_when_the_client_hangs_up_or_on_a_reset() -> None:
    state = _state()
    caller = ("ci", "tok")

    async def main() -> None:
        def gone() -> asyncio.Future[None]:
            future = _never()
            future.set_result(None)
            return future

        with pytest.raises(ApiError, match="Gateway timeout"):
            await asyncio.wait_for(state.accept(*caller, REQUEST, "api_timeout=60", gone), 1)
        assert len(state.holds) == 0

        held = asyncio.ensure_future(state.accept(*caller, REQUEST, "api_timeout=60", _never))
        await asyncio.sleep(0)
        assert len(state.holds) == 1
        state.holds.release("another token")
        await asyncio.sleep(0)
        assert not held.done()
        state.reset("tok")
        state.holds.release()  # nothing left: idempotent
        with pytest.raises(ApiError, match="Gateway timeout"):
            await asyncio.wait_for(held, 1)
        assert len(state.holds) == 0

    asyncio.run(main())


@pytest.mark.parametrize(("api", "expected"), [("guide", ["whsec_root"]), ("reference", [])])
def test_without_a_webhook_only_the_guide_has_secrets_to_verify_with(api: str, expected: list[str]) -> None:
    """A delivery whose webhook is gone (unregistered mid-test): the guide's account secret still
    verifies it; the reference's secrets went with their webhook."""
    state: MockState = create_app(
        Settings().replace(webhook_api=api, webhook_secret="whsec_root")
    ).state.cobalt
    assert state.valid_secrets(None) == expected
