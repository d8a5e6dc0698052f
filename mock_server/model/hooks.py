"""Registered webhooks and the secrets that sign their deliveries, in Cobalt's two documented versions.

``webhook_api`` (a setting) says which one the fake follows; the registry keeps what both need, so
either can be read at any time:

* ``guide``: one secret per account (``account``) signs every webhook. Rotating it replaces it at
  once: the guide promises no overlap, so the fake takes the stricter reading and the old secret
  stops verifying (a receiver that must accept the old one has not followed the guide).
* ``reference``: each webhook has its own ``whsec_`` secret, and rotating one keeps the previous one
  verifying for 24 hours (the API reference's words), on the fake's clock. The new secret signs from
  the rotation on; "keeps verifying" is what the fake's verification helpers accept.

Ids and secrets are drawn from the seed (``data.ids.stable_id``), so a fake started the same way
gives the same webhook the same id and secret, run after run. Webhooks registered at start-up
(``webhook_urls``) start with the ``webhook_secret`` setting as their own secret, the one the fake
prints, so a receiver configured for it keeps working in either version.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from mock_server.data.ids import stable_id
from mock_server.data.stable import stable_digest
from mock_server.model.clock import Clock

GUIDE_OVERLAP = dt.timedelta()
REFERENCE_OVERLAP = dt.timedelta(hours=24)


class Secret:
    """A signing secret and the one it replaced: ``value`` signs; ``previous`` (kept for the
    ``old_secret`` behaviour) still verifies until ``previous_until``."""

    def __init__(self, value: str) -> None:
        self.value = value
        self.previous: str | None = None
        self.previous_until: dt.datetime | None = None
        self.rotations = 0

    def rotate(self, new: str, until: dt.datetime) -> str:
        self.previous, self.previous_until, self.value = self.value, until, new
        self.rotations += 1
        return new

    def valid(self, now: dt.datetime) -> list[str]:
        """The secrets a receiver may verify with at ``now``: this one, and the previous one during
        its overlap."""
        if self.previous is not None and self.previous_until is not None and self.previous_until > now:
            return [self.value, self.previous]
        return [self.value]


@dataclass(eq=False)  # a handful: no slots (they cost the import a second class)
class Webhook:
    id: str
    url: str
    secret: Secret  # its own: the API reference's; the guide signs with the account's

    def to_json(self) -> dict[str, str]:
        return {"id": self.id, "url": self.url}


class WebhookRegistry:
    """Registered URLs, the account's secret and each webhook's."""

    def __init__(self, secret: str, urls: Iterable[str] = (), *, seed: int, clock: Clock) -> None:
        self._clock = clock
        self._hooks: dict[str, Webhook] = {}
        self.reset(secret, urls, seed)

    def reset(self, secret: str, urls: Iterable[str], seed: int) -> None:
        """Back to ``secret`` and these URLs only, nothing rotated, ids and secrets drawn afresh."""
        self._root, self._seed, self._registered = secret, seed, 0
        self.account = Secret(secret)
        self._hooks.clear()
        for url in urls:
            self.register(url).secret = Secret(secret)

    def register(self, url: str) -> Webhook:
        """Idempotent: registering a URL twice keeps one registration (one delivery per event)."""
        for hook in self._hooks.values():
            if hook.url == url:
                return hook
        self._registered += 1
        hook_id = stable_id("wh_", "webhook", self._seed, self._registered)
        hook = Webhook(hook_id, url, Secret(drawn_secret(self._root, self._seed, hook_id, 0)))
        self._hooks[hook.id] = hook
        return hook

    def remove(self, hook_id: str) -> bool:
        return self._hooks.pop(hook_id, None) is not None

    def get(self, hook_id: str) -> Webhook | None:
        return self._hooks.get(hook_id)

    def find(self, id_or_url: str) -> Webhook | None:
        """The webhook with this id, or registered at this URL."""
        return self._hooks.get(id_or_url) or next(
            (h for h in self._hooks.values() if h.url == id_or_url), None
        )

    def signer(self, hook: Webhook, api: str) -> Secret:
        """What signs ``hook``'s deliveries: the account's secret (guide) or its own (reference)."""
        return self.account if api == "guide" else hook.secret

    def targets(self, api: str) -> list[tuple[str, Secret]]:
        """Each registered URL with what signs its deliveries."""
        if api == "guide":
            return [(hook.url, self.account) for hook in self._hooks.values()]
        return [(hook.url, hook.secret) for hook in self._hooks.values()]

    def rotate(self, api: str, hook: Webhook | None = None) -> str:
        """A new secret where ``api`` keeps one: the account's (guide), ``hook``'s (reference).
        Returns it; the old one verifies for the version's overlap."""
        if api == "guide":
            key, overlap, owner = self.account, GUIDE_OVERLAP, "account"
        else:
            assert hook is not None, "the API reference rotates one webhook's secret"
            key, overlap, owner = hook.secret, REFERENCE_OVERLAP, hook.id
        return key.rotate(
            drawn_secret(self._root, self._seed, owner, key.rotations + 1), self._clock.now() + overlap
        )

    def rotate_unrotated(self, api: str) -> None:
        """Rotate every secret of ``api`` that has no previous one (the ``old_secret`` behaviour
        signs with the previous secret, so there must be one)."""
        hooks = [None] if api == "guide" else list(self._hooks.values())
        for hook in hooks:
            key = self.account if hook is None else hook.secret
            if key.previous is None:
                self.rotate(api, hook)

    def verifying(self, key: Secret) -> list[str]:
        """The secrets that verify a delivery signed for ``key`` now, on the fake's clock."""
        return key.valid(self._clock.now())

    def __iter__(self) -> Iterator[Webhook]:
        return iter(list(self._hooks.values()))

    def __len__(self) -> int:
        return len(self._hooks)

    def __contains__(self, hook_id: object) -> bool:
        return hook_id in self._hooks

    def urls(self) -> list[str]:
        return [hook.url for hook in self._hooks.values()]


@functools.lru_cache(maxsize=1024)
def drawn_secret(root: str, seed: int, owner: str, generation: int) -> str:
    """A ``whsec_`` secret stable for the seed, the root secret, its owner and its generation
    (remembered: each test's handle registers its receiver again after a reset, and draws the same)."""
    return "whsec_" + stable_digest("secret", root, seed, owner, generation).hex()
