"""Registered webhook URLs and the signing secret (one per account, as Cobalt's guide describes)."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from mock_server.data.ids import new_id


@dataclass  # a handful: no slots (they cost the import a second class)
class Webhook:
    id: str
    url: str

    def to_json(self) -> dict[str, str]:
        return {"id": self.id, "url": self.url}


class WebhookRegistry:
    """Registered URLs and the signing secret (one per account, as Cobalt's guide describes)."""

    ROTATION_GRACE = dt.timedelta(hours=24)

    def __init__(self, secret: str, urls: Iterable[str] = ()) -> None:
        self._hooks: dict[str, Webhook] = {}
        self.reset(secret, urls)

    def reset(self, secret: str, urls: Iterable[str] = ()) -> None:
        """Back to ``secret`` and these URLs only, with no previous secret."""
        self.secret = secret
        self.previous_secret: str | None = None
        self.previous_valid_until: dt.datetime | None = None
        self._hooks.clear()
        for url in urls:
            self.register(url)

    def register(self, url: str) -> Webhook:
        """Idempotent: registering a URL twice keeps one registration (one delivery per event)."""
        for hook in self._hooks.values():
            if hook.url == url:
                return hook
        hook = Webhook(new_id("wh_"), url)
        self._hooks[hook.id] = hook
        return hook

    def remove(self, hook_id: str) -> bool:
        return self._hooks.pop(hook_id, None) is not None

    def rotate(self, now: dt.datetime) -> str:
        self.previous_secret = self.secret
        self.previous_valid_until = now + self.ROTATION_GRACE
        self.secret = "whsec_" + secrets.token_hex(16)
        return self.secret

    def valid_secrets(self, now: dt.datetime) -> list[str]:
        """The secrets a receiver may verify with at ``now``: the current one, and the previous one
        during its grace period."""
        secrets = [self.secret]
        if self.previous_secret and self.previous_valid_until and self.previous_valid_until > now:
            secrets.append(self.previous_secret)
        return secrets

    def __iter__(self) -> Iterator[Webhook]:
        return iter(list(self._hooks.values()))

    def __len__(self) -> int:
        return len(self._hooks)

    def __contains__(self, hook_id: object) -> bool:
        return hook_id in self._hooks

    def urls(self) -> list[str]:
        return [hook.url for hook in self._hooks.values()]
