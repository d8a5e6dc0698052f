"""The kit's exceptions: one base for everything it raises, and the API error the fake renders."""

from __future__ import annotations


class CobaltMockError(Exception):
    """Base class of every error cobalt-mock raises on purpose."""


class ConfigError(CobaltMockError, ValueError):
    """A setting (flag, environment variable, marker argument) has a value the kit cannot use."""


class ApiError(CobaltMockError):
    """An error answer in Cobalt's shape: ``{"success": false, "message": ...}`` with ``status``.

    Handlers raise it; one exception handler in the app renders it.
    """

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict[str, object]:
        return {"success": False, "message": self.message}
