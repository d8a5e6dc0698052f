"""POST /v1/appointments/fetch answers: 202 for every valid body, the right 4xx for every invalid one."""

from __future__ import annotations

import pytest
from hypothesis import settings

from contract_tests import checks, properties
from contract_tests.target import Target


def test_valid_requests_are_accepted(target: Target, contract_settings: settings) -> None:
    properties.valid_requests_accepted(target, contract_settings)()


def test_invalid_requests_get_the_documented_message(target: Target, contract_settings: settings) -> None:
    properties.documented_errors(target, contract_settings)()


@pytest.mark.decision
def test_invalid_requests_get_the_decided_message(target: Target, contract_settings: settings) -> None:
    properties.decided_errors(target, contract_settings)()


@pytest.mark.decision
def test_missing_auth_headers_are_named(target: Target, contract_settings: settings) -> None:
    properties.missing_auth_rejected(target, contract_settings)()


@pytest.mark.decision
@pytest.mark.parametrize(
    ("method", "path", "content", "status"),
    [
        pytest.param("GET", "no-such-endpoint", None, 404, id="unknown-path-404"),
        pytest.param("PUT", "appointments/fetch", b"{}", 405, id="wrong-method-405"),
        pytest.param("DELETE", "appointments", None, 405, id="wrong-method-on-cache-405"),
        pytest.param(
            "POST", "appointments/fetch", b" " * (1024 * 1024) + b"{}", 413, id="body-over-1MiB-413"
        ),
    ],
)
def test_other_failures_keep_the_error_shape(
    target: Target, method: str, path: str, content: bytes | None, status: int
) -> None:
    checks.check_error(target.request(method, path, content=content), status, None)
