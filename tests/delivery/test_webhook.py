"""The completion webhook: signed as Cobalt signs (HMAC-SHA256 over the exact bytes sent, equal to
JSON.stringify's output), the signing key chosen by the job's behaviours, a large result padded."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from mock_server.delivery.dispatcher import deliveries
from mock_server.delivery.webhook import pad, serialize, sign, signing_key, verify, verify_parsed
from mock_server.model.jobs import FetchRequest, Job

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


# --- what a job's webhook carries ----------------------------------------------------------


def _job(**behaviours: dict[str, Any]) -> Job:
    request = FetchRequest("date_range", dt.date(2025, 1, 6), dt.date(2025, 1, 7))
    return Job("job_x", "tok", "user_x", request, dt.datetime.now(dt.UTC), 0.0, behaviours=behaviours)


def test_signing_key_choices() -> None:
    assert signing_key(_job(), "whsec_now", None) == "whsec_now"
    assert signing_key(_job(bad_signature={}), "whsec_now", None) not in ("whsec_now", "")
    assert signing_key(_job(old_secret={}), "whsec_now", "whsec_old") == "whsec_old"
    assert signing_key(_job(old_secret={}), "whsec_now", None) == "whsec_now"  # nothing older yet
    assert deliveries(_job(duplicate_delivery={})) == 2
    assert deliveries(_job()) == 1


def test_pad_keeps_order_and_makes_unique_ids() -> None:
    items = [{"id": "appt_a", "n": 1}, {"id": "appt_b", "n": 2}]
    padded = pad(items, 5, "id")
    assert [p["n"] for p in padded] == [1, 1, 1, 2, 2]
    assert len({p["id"] for p in padded}) == 5
    assert all(p["id"].startswith("appt_") for p in padded)
    assert pad(items, 5, "id") == padded  # stable
    assert pad([], 5, "id") == []
    assert pad(items, 1, "id") is items


def test_pad_avoids_ids_already_taken() -> None:
    items = [{"ehr_appointment_id": "12345678"}]
    first = pad(items, 2, "ehr_appointment_id")[1]["ehr_appointment_id"]
    items.append({"ehr_appointment_id": first})
    padded = pad(items, 4, "ehr_appointment_id")
    ids = [p["ehr_appointment_id"] for p in padded]
    assert len(set(ids)) == 4
    assert all(i.isdigit() and len(i) == 8 for i in ids)
