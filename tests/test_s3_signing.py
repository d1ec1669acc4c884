"""S3 GETs signed with AWS Signature Version 4 (annotation tables in requester-pays buckets),
checked against the worked example of the AWS S3 documentation ("Signature Calculations for the
Authorization Header: Transferring Payload in a Single Chunk", GET Object)."""

from __future__ import annotations

import datetime as dt

import pytest

from pipeline.net.http import s3_request

DOC_KEY = "AKIAIOSFODNN7EXAMPLE"
DOC_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


@pytest.fixture
def doc_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_S3_ENDPOINT", "AWS_HTTPS", "AWS_VIRTUAL_HOSTING", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", DOC_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", DOC_SECRET)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REQUEST_PAYER", "")  # the example has no request-payer header


def test_signature_matches_the_aws_documentation_example(doc_env: None) -> None:
    when = dt.datetime(2013, 5, 24, tzinfo=dt.UTC)
    url, headers = s3_request("s3://examplebucket/test.txt", when, {"Range": "bytes=0-9"})
    assert url == "https://examplebucket.s3.amazonaws.com/test.txt"
    assert headers["Authorization"] == (
        f"AWS4-HMAC-SHA256 Credential={DOC_KEY}/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    )


def test_requester_pays_path_style_and_session_token_are_signed(
    doc_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_REQUEST_PAYER", "requester")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "token123")
    monkeypatch.setenv("AWS_S3_ENDPOINT", "127.0.0.1:9000")
    monkeypatch.setenv("AWS_HTTPS", "NO")
    monkeypatch.setenv("AWS_VIRTUAL_HOSTING", "FALSE")
    url, headers = s3_request("s3://sentinel-s1-l1c/GRD/a b.xml")
    assert url == "http://127.0.0.1:9000/sentinel-s1-l1c/GRD/a%20b.xml"
    assert headers["x-amz-request-payer"] == "requester"
    assert headers["x-amz-security-token"] == "token123"
    signed = headers["Authorization"].split("SignedHeaders=")[1].split(",")[0]
    assert signed == "host;x-amz-content-sha256;x-amz-date;x-amz-request-payer;x-amz-security-token"


def test_no_credentials_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    with pytest.raises(ValueError, match="no AWS credentials"):
        s3_request("s3://bucket/key")
    (tmp_path / "creds").write_text("[default]\naws_access_key_id = K\naws_secret_access_key = S\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "creds"))
    _, headers = s3_request("s3://bucket/key")
    assert "Credential=K/" in headers["Authorization"]
