"""How Cobalt serializes and signs a webhook body, and how a receiver checks it.

Cobalt's documented Node receiver recomputes the signature over ``JSON.stringify(parsedBody)``, so the
fake sends compact JSON (no spaces, keys in insertion order, non-ASCII not escaped) and signs exactly
the bytes it sends: raw-body verifiers and re-stringify verifiers then agree.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from typing import Any

import orjson

SIGNATURE_HEADER = "cobalt-verification"


def serialize(payload: Any) -> bytes:
    """Compact JSON bytes identical to Node's ``JSON.stringify`` for the payloads the fake sends."""
    return orjson.dumps(payload)


def sign(secret: str, body: bytes) -> str:
    """Lowercase hex HMAC-SHA256 of ``body`` keyed with the secret string as given."""
    inner, outer = _keyed(secret)
    inner = inner.copy()
    inner.update(body)
    outer = outer.copy()
    outer.update(inner.digest())
    return outer.hexdigest()


_BLOCK = 64  # SHA-256's block size
_IPAD = bytes(b ^ 0x36 for b in range(256))
_OPAD = bytes(b ^ 0x5C for b in range(256))


@functools.lru_cache(maxsize=64)
def _keyed(secret: str) -> tuple[hashlib._Hash, hashlib._Hash]:
    """HMAC's (RFC 2104) inner and outer SHA-256 states after the padded key, made once per secret:
    a signature then hashes only the body and a digest (OpenSSL's one-shot HMAC sets up ~2 µs of
    key schedule and context on every call)."""
    key = secret.encode("utf-8")
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    return hashlib.sha256(key.translate(_IPAD)), hashlib.sha256(key.translate(_OPAD))


def verify(secret: str, body: bytes, signature: str) -> bool:
    """Constant-time check of ``signature`` against the raw bytes received."""
    expected = sign(secret, body).encode("ascii")
    return hmac.compare_digest(expected, signature.strip().lower().encode("utf-8", "replace"))


def verify_parsed(secret: str, parsed: Any, signature: str) -> bool:
    """Check the way Cobalt's documented Node receiver does: re-serialize the parsed body, then sign."""
    return verify(secret, serialize(parsed), signature)
