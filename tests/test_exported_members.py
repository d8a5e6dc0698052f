"""The public API: what ``mock_server`` exports, pinned (as httpx pins its own)."""

from __future__ import annotations

import importlib

import pytest

import mock_server

EXPECTED = [
    "ApiError",
    "Behaviour",
    "CobaltMock",
    "CobaltMockError",
    "CobaltMockServer",
    "ConfigError",
    "Delivery",
    "FakeServer",
    "MockClient",
    "MockClientError",
    "ServerError",
    "ServerThread",
    "Settings",
    "WebhookReceiver",
    "WebhookTimeout",
    "__version__",
    "create_app",
    "load_schema",
    "schema_names",
    "serialize",
    "sign",
    "validator",
    "verify",
    "verify_parsed",
]


def test_the_exported_names_are_pinned() -> None:
    assert mock_server.__all__ == EXPECTED
    assert dir(mock_server) == EXPECTED
    assert sorted([*mock_server._EXPORTS, "__version__"]) == EXPECTED  # each has its module


@pytest.mark.parametrize("name", EXPECTED)
def test_each_export_is_the_object_from_where_it_lives(name: str) -> None:
    exported = getattr(mock_server, name)
    if name == "__version__":
        assert exported == importlib.metadata.version("cobalt-mock")
        return
    home = importlib.import_module(exported.__module__)
    assert getattr(home, name) is exported


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        mock_server.nope  # noqa: B018
