"""Email over TLS with a login against a real local SMTP server (aiosmtpd): STARTTLS and
implicit TLS, the password taken from the environment and never stored or logged."""

from __future__ import annotations

import logging
import shutil
import ssl
import subprocess
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine, select

from backup.db.models import Campaign
from backup.errors import ConfigError, UsageError
from exporters.campaigns import plan, sender
from exporters.campaigns.channels.email import _loopback, parse_smtp_url

from .fakes import SmtpSink, free_port
from .test_send import email_options, messages

CANARY = "s3cret-pw-canary-7f1e"

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl makes the test certificate")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )
    return cert, key


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


def test_starttls_login_with_the_password_from_the_environment(store: Engine, clock, certificate, monkeypatch, caplog, tmp_path):
    cert, key = certificate
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # trust the test certificate (OpenSSL's default verify paths)
    monkeypatch.setenv("AUDIENCE_SMTP_PASSWORD", CANARY)
    sink = SmtpSink(tls_context=server_context(cert, key), require_starttls=True, login=("ana@ana.example", CANARY))
    try:
        caplog.set_level(logging.DEBUG)
        url = f"smtp://ana%40ana.example@127.0.0.1:{sink.port}"
        plan.create_campaign(store, email_options(url), clock=clock)
        report = sender.send(store, "invite", clock=clock)
        assert report.outcomes == {"sent": 2}
        assert sink.logins == [("ana@ana.example", CANARY)]  # one session for the whole run
        assert sink.per_recipient() == {"ada@example.org": 1, "hostile@example.org": 1}
        with store.connect() as conn:
            settings = conn.execute(select(Campaign.settings)).scalar_one()
        assert settings["smtp"] == {"scheme": "smtp", "host": "127.0.0.1", "port": sink.port, "user": "ana@ana.example"}
        assert CANARY not in repr(settings) and CANARY not in caplog.text
        assert all(CANARY not in (m.text or "") + (m.reason or "") for m in messages(store, "invite"))
        if store.url.get_backend_name() == "sqlite":
            db = Path(store.url.database)
            for f in (db, Path(f"{db}-wal")):
                if f.exists():
                    assert CANARY.encode() not in f.read_bytes()
    finally:
        sink.close()


def test_a_wrong_password_is_a_config_error_that_names_the_variable_not_the_secret(store: Engine, clock, certificate, monkeypatch):
    cert, key = certificate
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    monkeypatch.setenv("MY_SMTP_PW", "wrong-" + CANARY)
    sink = SmtpSink(tls_context=server_context(cert, key), require_starttls=True, login=("ana", CANARY))
    try:
        plan.create_campaign(store, email_options(f"smtp://ana@127.0.0.1:{sink.port}", smtp_password_env="MY_SMTP_PW"), clock=clock)
        with pytest.raises(ConfigError) as err:
            sender.send(store, "invite", clock=clock)
        assert "MY_SMTP_PW" in (err.value.hint or "") and CANARY not in str(err.value) + (err.value.hint or "")
        assert sink.messages == []
        assert sender.status(store, "invite", clock=clock)["status"] == "paused"
    finally:
        sink.close()


def test_implicit_tls_smtps(store: Engine, clock, certificate, monkeypatch):
    cert, key = certificate
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    sink = SmtpSink()
    sink.controller.stop()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port, ssl_context=server_context(cert, key))
    controller.start()
    try:
        plan.create_campaign(store, email_options(f"smtps://127.0.0.1:{port}"), clock=clock)
        assert sender.send(store, "invite", clock=clock).outcomes == {"sent": 2}
        assert len(sink.messages) == 2
    finally:
        controller.stop()


def test_an_untrusted_certificate_is_refused(store: Engine, clock, certificate):
    cert, key = certificate  # SSL_CERT_FILE not set: the self-signed certificate is not trusted
    sink = SmtpSink(tls_context=server_context(cert, key), require_starttls=True)
    try:
        plan.create_campaign(store, email_options(sink.url), clock=clock)
        with pytest.raises(ConfigError, match="TLS"):
            sender.send(store, "invite", clock=clock)
        assert sink.messages == []
    finally:
        sink.close()


def test_smtp_urls():
    assert parse_smtp_url("smtp://me%40x.org@mail.x.org") == {"scheme": "smtp", "host": "mail.x.org", "port": 587, "user": "me@x.org"}
    assert parse_smtp_url("smtps://mail.x.org")["port"] == 465
    for bad in ("http://mail.x.org", "smtp://", "smtp://u:pw@mail.x.org", "smtp://mail.x.org:notaport"):
        with pytest.raises(UsageError):
            parse_smtp_url(bad)
    assert _loopback("127.0.0.1") and _loopback("localhost") and _loopback("::1") and not _loopback("mail.x.org")
