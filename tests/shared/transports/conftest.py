"""Fixtures of the transport tests: the scripted SES over HTTPS."""

from __future__ import annotations

import pytest


@pytest.fixture
def fake_ses_over_https(smtp_cert, monkeypatch):
    """The scripted SES behind TLS with a certificate of the suite's own (not in any bundle)."""
    from tests.support.fake_ses import ScriptedSes

    ses = ScriptedSes(tls=smtp_cert)
    for name, value in {"AWS_ENDPOINT_URL_SESV2": ses.url, "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    yield ses
    ses.close()
