"""Webhook registration in both versions of Cobalt's webhook API (``webhook_api``), on the fake.

A live run never registers a webhook on a real account (the ``webhook-api`` rule is not exercised
there; the report names the version it assumed), so this is fake-only: for each version, drawn URLs
are registered, listed and rotated with that version's answers (the open schemas, as a real API's
would be judged), and the other version's body field and rotation route are refused, naming what
this version takes. Drawn URLs all point at the fake's own receiver, and no job runs: nothing is
delivered anywhere.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contract_tests import checks
from contract_tests.target import FakeTarget
from mock_server.api.handlers import MSG_GUIDE_ROTATE, MSG_REFERENCE_ROTATE
from mock_server.api.inputs import unknown_webhook_field_message

pytestmark = pytest.mark.fake_only

OTHER = {"guide": "reference", "reference": "guide"}
paths = st.from_regex(r"[a-z0-9_\-]{1,20}(/[a-z0-9_\-]{1,10}){0,2}", fullmatch=True)


@pytest.mark.parametrize("api", ["guide", "reference"])
def test_each_version_registers_lists_and_rotates_its_way(
    make_fake: Callable[..., FakeTarget], contract_settings: settings, api: str
) -> None:
    fake = make_fake(webhook_api=api, register=False)
    field, other_field = checks.REGISTRATION[api][0], checks.REGISTRATION[OTHER[api]][0]

    @settings(contract_settings, max_examples=20)
    @given(path=paths)
    def registered(path: str) -> None:
        url = f"{fake.receiver.url}/{path}"
        secret = checks.check_registration(fake.request("POST", "webhook", body={field: url}), api)
        (hook,) = [h for h in checks.check_listing(fake.request("GET", "webhook"), api) if h["url"] == url]
        route = "webhook/rotate-secret" if api == "guide" else f"webhook/{hook['id']}/rotate-secret"
        new = checks.check_rotation(fake.request("POST", route), api)
        assert new != secret
        other_route = f"webhook/{hook['id']}/rotate-secret" if api == "guide" else "webhook/rotate-secret"
        refused = MSG_REFERENCE_ROTATE if api == "guide" else MSG_GUIDE_ROTATE
        checks.check_error(fake.request("POST", other_route), 404, refused, rule="webhook-api")
        gone = fake.request("DELETE", f"webhook/{hook['id']}")
        checks.check_schema("webhook-delete-response", gone.json())

    @settings(contract_settings, max_examples=20)
    @given(
        path=paths,
        extra=st.dictionaries(st.from_regex(r"[a-z_]{1,12}", fullmatch=True), st.none(), max_size=2),
    )
    def refused(path: str, extra: dict[str, None]) -> None:
        body = {other_field: f"{fake.receiver.url}/{path}", **{k: v for k, v in extra.items() if k != field}}
        message = unknown_webhook_field_message(list(body), api)
        checks.check_error(fake.request("POST", "webhook", body=body), 400, message, rule="webhook-api")

    registered()
    refused()
    assert checks.check_listing(fake.request("GET", "webhook"), api) == []


def test_the_registration_check_names_the_version_it_expected(make_fake: Callable[..., FakeTarget]) -> None:
    fake = make_fake(webhook_api="reference", register=False)
    created = fake.request("POST", "webhook", body={"url": fake.receiver.url + "/x"})
    with pytest.raises(AssertionError, match="webhook_api=guide: POST /v1/webhook does not match"):
        checks.check_registration(created, "guide")
    with pytest.raises(AssertionError, match="webhook_api=reference: GET /v1/webhook answered 405"):
        checks.check_listing(fake.request("PUT", "webhook"), "reference")
