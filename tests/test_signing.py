"""Signing: lowercase hex HMAC-SHA256 over the exact bytes sent, equal to JSON.stringify's output."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from mock_server.signing import serialize, sign, verify, verify_parsed

SECRET = "whsec_test"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**53), max_value=2**53) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)


def test_signature_is_lowercase_hex_hmac_sha256() -> None:
    body = b'{"a":1}'
    expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert sign(SECRET, body) == expected
    assert expected == expected.lower()
    assert len(expected) == 64


def test_serialization_is_compact_ordered_and_keeps_non_ascii() -> None:
    payload = {"z": 1, "a": "José – 東京", "n": None, "l": [True, False]}
    assert serialize(payload) == '{"z":1,"a":"José – 東京","n":null,"l":[true,false]}'.encode()


@given(st.dictionaries(st.text(), json_values, max_size=5))
def test_serialize_matches_json_stringify(payload: dict[str, Any]) -> None:
    # Python's json with these options is byte-for-byte JSON.stringify for strings, ints, bools, null.
    try:
        reference = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: the fake rejects them on input, so never sends them
        return
    assert serialize(payload) == reference


def test_verify_raw_and_reserialized() -> None:
    payload = {"id": "evt_1", "data": {"name": "Zoë"}}
    body = serialize(payload)
    sig = sign(SECRET, body)
    assert verify(SECRET, body, sig)
    assert verify(SECRET, body, sig.upper())  # hex case does not matter to a receiver
    assert verify(SECRET, body, f" {sig}\n")
    assert verify_parsed(SECRET, json.loads(body), sig)
    assert not verify(SECRET, body + b" ", sig)
    assert not verify("other", body, sig)
    assert not verify(SECRET, body, "")
    assert not verify(SECRET, body, "ü" * 64)
    # A pretty-printed body breaks raw verification but not the re-stringify check: why we send compact.
    pretty = json.dumps(payload, indent=2).encode()
    assert not verify(SECRET, pretty, sig)
    assert verify_parsed(SECRET, json.loads(pretty), sig)


@given(st.text().filter(lambda s: not any("\ud800" <= c <= "\udfff" for c in s)), st.binary(max_size=300))
def test_signature_is_hmac_sha256_for_any_secret_and_body(secret: str, body: bytes) -> None:
    # Empty, short, non-ASCII and longer-than-a-block (64 bytes, hashed first) secrets alike.
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert sign(secret, body) == expected
    assert sign(secret, body) == expected  # signing again is unaffected by the first signature


def test_signatures_by_interleaved_secrets_do_not_mix() -> None:
    secrets = ["", "k", "é" * 40, "x" * 64, "y" * 65, "z" * 500]
    bodies = [b"", b"{}", b"a" * 1000]
    for _ in range(2):
        for secret in secrets:
            for body in bodies:
                assert sign(secret, body) == hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
