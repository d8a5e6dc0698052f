"""Verifying a webhook in your own receiver: the HMAC-SHA256 of the raw body, keyed with the secret."""

import hashlib
import hmac


def is_from_cobalt(raw_body: bytes, signature: str, secret: str) -> bool:
    expected = hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)
