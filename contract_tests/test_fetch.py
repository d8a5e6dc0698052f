"""POST /v1/appointments/fetch answers: 202 for every valid body, the right 4xx for every invalid one."""

from __future__ import annotations

import pytest

from contract_tests import checks, properties
from contract_tests.properties import How
from contract_tests.target import FakeTarget, Target


def test_valid_requests_are_accepted(target: Target, how: How) -> None:
    properties.valid_requests_accepted(target, how)()


def test_invalid_requests_get_the_documented_message(target: Target, how: How) -> None:
    properties.documented_errors(target, how)()


@pytest.mark.decision
def test_invalid_requests_get_the_decided_message(target: Target, how: How) -> None:
    properties.decided_errors(target, how)()


@pytest.mark.decision
def test_missing_auth_headers_are_named(target: Target, how: How) -> None:
    properties.missing_auth_rejected(target, how)()


@pytest.mark.decision
def test_other_failures_keep_the_error_shape(target: Target, how: How) -> None:
    properties.other_routes(target, how)()


@pytest.mark.fake_only
@pytest.mark.parametrize(
    ("method", "path", "content", "status"),
    [
        pytest.param("DELETE", "appointments", None, 405, id="wrong-method-on-cache-405"),
        pytest.param(
            "POST", "appointments/fetch", b" " * (1024 * 1024) + b"{}", 413, id="body-over-1MiB-413"
        ),
    ],
)
def test_the_fake_keeps_the_error_shape(
    fake: FakeTarget, method: str, path: str, content: bytes | None, status: int
) -> None:
    checks.check_error(fake.request(method, path, content=content), status, None)
