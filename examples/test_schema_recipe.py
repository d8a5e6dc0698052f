"""The schemas ship in the package; one loader reads them."""

import pytest
from jsonschema import ValidationError

from mock_server import validator


def test_a_delivered_webhook_fits_both_schemas(cobalt_mock):
    payload = cobalt_mock.wait_for_webhook(cobalt_mock.fetch()).payload

    validator("webhook").validate(payload)  # the open contract: raises jsonschema.ValidationError
    assert validator("webhook.strict").is_valid(payload)  # the fake's own, stricter shape

    payload["data"]["surprise"] = 1  # the real API may add fields; the fake never does
    validator("webhook").validate(payload)
    with pytest.raises(ValidationError):
        validator("webhook.strict").validate(payload)
