"""WebhookRegistry: both versions' secrets, ids and secrets from the seed, overlaps on the fake's clock."""

from __future__ import annotations

import datetime as dt

import pytest

from mock_server.model.clock import Clock
from mock_server.model.hooks import WebhookRegistry

ROOT = "whsec_root"


def registry(*urls: str, seed: int = 0) -> tuple[WebhookRegistry, Clock]:
    clock = Clock()
    return WebhookRegistry(ROOT, urls, seed=seed, clock=clock), clock


def test_ids_and_secrets_are_drawn_from_the_seed_and_start_up_hooks_use_the_root() -> None:
    hooks, _ = registry("http://h/boot")
    (boot,) = hooks
    assert boot.secret.value == ROOT
    a = hooks.register("http://h/a")
    assert a.id.startswith("wh_")
    assert a.secret.value.startswith("whsec_")
    again, _ = registry("http://h/boot")
    assert again.register("http://h/a").id == a.id
    assert again.register("http://h/a").secret.value == a.secret.value
    other, _ = registry("http://h/boot", seed=1)
    assert other.register("http://h/a").id != a.id
    assert hooks.find(a.id) is hooks.find("http://h/a") is a
    assert hooks.find("http://h/none") is None
    assert hooks.get(a.id) is a


def test_the_guide_rotates_the_account_secret_with_no_overlap() -> None:
    hooks, _ = registry("http://h/a", "http://h/b")
    a, b = hooks
    before = hooks.account.value
    new = hooks.rotate("guide")
    assert hooks.signer(a, "guide") is hooks.signer(b, "guide") is hooks.account
    assert hooks.account.previous == before
    assert hooks.verifying(hooks.account) == [new]
    assert [key.value for _, key in hooks.targets("guide")] == [new, new]
    assert a.secret.value == ROOT  # the webhooks' own secrets are the reference's, untouched


def test_the_reference_rotates_one_webhook_and_keeps_the_old_secret_24_hours() -> None:
    hooks, clock = registry()
    a, b = hooks.register("http://h/a"), hooks.register("http://h/b")
    old = a.secret.value
    new = hooks.rotate("reference", a)
    assert hooks.verifying(a.secret) == [new, old]
    assert hooks.verifying(b.secret) == [b.secret.value]
    clock.advance(24 * 3600 - 1)
    assert hooks.verifying(a.secret) == [new, old]
    clock.advance(1)
    assert hooks.verifying(a.secret) == [new]
    assert hooks.rotate("reference", a) not in (new, old)  # each generation its own secret


@pytest.mark.parametrize("api", ["guide", "reference"])
def test_old_secret_rotates_only_what_has_no_previous_secret(api: str) -> None:
    hooks, _ = registry()
    a = hooks.register("http://h/a")
    hooks.register("http://h/b")
    hooks.rotate(api, a)
    signing = [key.value for _, key in hooks.targets(api)]
    hooks.rotate_unrotated(api)
    after = [key.value for _, key in hooks.targets(api)]
    if api == "guide":
        assert after == signing  # the account had a previous secret already
    else:
        assert after[0] == signing[0]  # a was rotated
        assert after[1] != signing[1]  # b had no previous secret
    assert all(key.previous is not None for _, key in hooks.targets(api))


def test_a_reset_forgets_registrations_and_rotations() -> None:
    hooks, _ = registry("http://h/boot")
    first = hooks.register("http://h/a").id
    hooks.rotate("guide")
    hooks.remove(first)
    hooks.reset(ROOT, ["http://h/boot"], 0)
    assert hooks.account.value == ROOT
    assert hooks.account.previous is None
    assert hooks.register("http://h/a").id == first
    assert len(hooks) == 2
    assert first in hooks


def test_the_clock_only_moves_forward() -> None:
    clock = Clock()
    start = dt.datetime.now(dt.UTC)
    assert clock.advance(0) - start < dt.timedelta(minutes=1)
    assert clock.advance(3600) - start >= dt.timedelta(hours=1)
    clock.reset()
    assert clock.now() - start < dt.timedelta(minutes=1)
