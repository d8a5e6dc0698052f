"""cobalt-mock: a local fake and contract-testing kit for Cobalt's appointments live-fetch API.

Everything a user imports is exported here (``tests/test_exported_members.py`` pins the list).
Names load on first use, so that the pytest plugin, which every test session imports once the
package is installed, costs other test suites nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from mock_server.version import __version__

_EXPORTS = {
    # the fake
    "create_app": "mock_server.api.app",
    "Settings": "mock_server.settings",
    # running it in tests
    "FakeServer": "mock_server.testing.server",
    "ServerThread": "mock_server.testing.server",
    "CobaltMock": "mock_server.testing.handle",
    "CobaltMockServer": "mock_server.testing.session",
    "WebhookReceiver": "mock_server.testing.receiver",
    "Behaviour": "mock_server.testing.receiver",
    "Delivery": "mock_server.testing.receiver",
    "WebhookTimeout": "mock_server.testing.receiver",
    "MockClient": "mock_server.testing.client",
    "MockClientError": "mock_server.testing.client",
    # schemas and signatures
    "load_schema": "mock_server.resources",
    "schema_names": "mock_server.resources",
    "validator": "mock_server.resources",
    "serialize": "mock_server.delivery.webhook",
    "sign": "mock_server.delivery.webhook",
    "verify": "mock_server.delivery.webhook",
    "verify_parsed": "mock_server.delivery.webhook",
    # errors
    "CobaltMockError": "mock_server.errors",
    "ConfigError": "mock_server.errors",
    "ApiError": "mock_server.errors",
    "ServerError": "mock_server.testing.handle",
}

__all__ = [
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

if TYPE_CHECKING:
    from mock_server.api.app import create_app
    from mock_server.delivery.webhook import serialize, sign, verify, verify_parsed
    from mock_server.errors import ApiError, CobaltMockError, ConfigError
    from mock_server.resources import load_schema, schema_names, validator
    from mock_server.settings import Settings
    from mock_server.testing.client import MockClient, MockClientError
    from mock_server.testing.handle import CobaltMock, ServerError
    from mock_server.testing.receiver import Behaviour, Delivery, WebhookReceiver, WebhookTimeout
    from mock_server.testing.server import FakeServer, ServerThread
    from mock_server.testing.session import CobaltMockServer


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'mock_server' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
