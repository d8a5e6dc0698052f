"""The verification recipe accepts what the fake sends, and nothing else."""

from verify import is_from_cobalt


def test_the_recipe_accepts_the_fakes_webhooks_only(cobalt_mock):
    webhook = cobalt_mock.wait_for_webhook(cobalt_mock.fetch())
    signature = webhook.headers["cobalt-verification"]
    assert is_from_cobalt(webhook.body, signature, cobalt_mock.webhook_secret)
    assert not is_from_cobalt(webhook.body, signature, "whsec_someone_else")
    assert not is_from_cobalt(webhook.body + b" ", signature, cobalt_mock.webhook_secret)
