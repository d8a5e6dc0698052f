"""How Cobalt serializes and signs a webhook body, and how a receiver checks it.

Cobalt's documented Node receiver recomputes the signature over ``JSON.stringify(parsedBody)``, so the
fake sends compact JSON (no spaces, keys in insertion order, non-ASCII not escaped) and signs exactly
the bytes it sends: raw-body verifiers and re-stringify verifiers then agree.
"""

from __future__ import annotations

import hmac
from typing import Any

import orjson

SIGNATURE_HEADER = "cobalt-verification"


def serialize(payload: Any) -> bytes:
    """Compact JSON bytes identical to Node's ``JSON.stringify`` for the payloads the fake sends."""
    return orjson.dumps(payload)


def sign(secret: str, body: bytes) -> str:
    """Lowercase hex HMAC-SHA256 of ``body`` keyed with the secret string as given."""
    return hmac.digest(secret.encode("utf-8"), body, "sha256").hex()


def signed(payload: Any, secret: str) -> tuple[bytes, str]:
    """``payload`` serialized, and the signature of exactly those bytes: what Cobalt sends."""
    body = serialize(payload)
    return body, sign(secret, body)


def verify(secret: str, body: bytes, signature: str) -> bool:
    """Constant-time check of ``signature`` against the raw bytes received."""
    expected = sign(secret, body).encode("ascii")
    return hmac.compare_digest(expected, signature.strip().lower().encode("utf-8", "replace"))


def verify_parsed(secret: str, parsed: Any, signature: str) -> bool:
    """Check the way Cobalt's documented Node receiver does: re-serialize the parsed body, then sign."""
    return verify(secret, serialize(parsed), signature)
