"""Every accepted fetch completes with one event that satisfies the request, delivered and polled alike."""

from __future__ import annotations

import pytest

from contract_tests import properties
from contract_tests.properties import How
from contract_tests.strategies import MODES
from contract_tests.target import Target


@pytest.mark.parametrize("mode", MODES)
def test_fetch_completes_with_a_webhook_that_answers_it(target: Target, how: How, mode: str) -> None:
    properties.completes_with_webhook(target, how, mode)()
