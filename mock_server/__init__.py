"""cobalt-mock: a local fake and contract-testing kit for Cobalt's appointments live-fetch API.

Names are imported lazily so that the pytest plugin (imported by every test session once the package
is installed) costs other test suites nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "ApiError": "mock_server.errors",
    "CobaltMockError": "mock_server.errors",
    "ConfigError": "mock_server.errors",
    "MockClient": "mock_server.testing.client",
    "Settings": "mock_server.settings",
    "create_app": "mock_server.api.app",
}

__all__ = [
    "ApiError",
    "CobaltMockError",
    "ConfigError",
    "MockClient",
    "Settings",
    "__version__",
    "create_app",
]

if TYPE_CHECKING:
    from mock_server.api.app import create_app
    from mock_server.errors import ApiError, CobaltMockError, ConfigError
    from mock_server.settings import Settings
    from mock_server.testing.client import MockClient


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'mock_server' has no attribute {name!r}")
