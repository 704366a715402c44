"""ProctorExam signing: the documented string, known HMAC values (computed with openssl), and what is signed."""

from __future__ import annotations

from proctordash.integrations.base import Secret
from proctordash.integrations.proctorexam.signing import signature, signed_params, signing_string


def test_documented_example_string():
    # README: params page=1, nonce=1527500365, timestamp=1527500365052 sign exactly this string.
    params = {"page": 1, "nonce": "1527500365", "timestamp": 1527500365052}
    assert signing_string(params) == "nonce=1527500365?page=1?timestamp=1527500365052"


def test_signature_is_hmac_sha256_hex_of_the_string():
    # printf 'nonce=1527500365?page=1?timestamp=1527500365052' | openssl dgst -sha256 -hmac 'secret-key-example'
    params = {"page": 1, "nonce": 1527500365, "timestamp": 1527500365052}
    assert signature(params, "secret-key-example") == "5ddac4d37bd07612bd1809e4c82cfb66a0c7b646fe5da2166ffe733ce3db111d"
    assert signature(params, Secret("secret-key-example")) == signature(params, "secret-key-example")


def test_signed_params_sorts_by_name_and_leaves_values_unencoded():
    signed = signed_params({"status": "exam_started", "page": 2, "limit": 300}, secret_key="k", nonce=42,
                           timestamp_ms=1700000000000)
    # printf 'limit=300?nonce=42?page=2?status=exam_started?timestamp=1700000000000' | openssl dgst -sha256 -hmac k
    assert signed["signature"] == "d06594855897ecd5e43c2f5241a91609882a3df2a2e51ab713e46d42d0fb96d5"
    assert signed["nonce"] == "42" and signed["timestamp"] == "1700000000000"
    # The signature never signs itself, and a value with reserved characters is signed as is, not %-encoded.
    assert signing_string({**signed, "q": "a b&c"}).endswith("?q=a b&c?status=exam_started?timestamp=1700000000000")
    assert "signature=" not in signing_string(signed)


def test_timestamp_defaults_to_now_in_milliseconds(monkeypatch):
    monkeypatch.setattr("proctordash.integrations.proctorexam.signing.time.time", lambda: 1234.5678)
    assert signed_params({}, secret_key="k", nonce=1)["timestamp"] == "1234567"
