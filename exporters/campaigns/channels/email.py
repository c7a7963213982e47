"""Email over SMTP (smtplib): STARTTLS or implicit TLS, one session per run.

``--smtp smtp://user@host:587`` (STARTTLS, required unless the host is this machine: a local
relay) or ``smtps://user@host:465`` (TLS from the start). The password comes from the
environment variable the campaign names (default ``AUDIENCE_SMTP_PASSWORD``, or the same name
in ``secrets.toml``); a password in the URL is refused, and none is ever stored or logged.

Every message carries (RFC 8058, CAN-SPAM, Gmail's sender rules):

- ``List-Unsubscribe: <mailto:...>, <https://...>`` and, with an https address,
  ``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` (the one-click POST, which must need no
  cookie or login). A DKIM signature must cover both headers: sign at your relay;
- a footer with the sender's postal address and how to unsubscribe.

What the server says decides the outcome. The transaction is driven step by step (MAIL, RCPT,
DATA) so that we know how far it got: a refusal before the end of DATA means nothing was
delivered; a connection lost while waiting for DATA's answer means we cannot know (the
message may be queued): ``unknown``, and the campaign pauses. A 5xx for a recipient is a
bounce (failed); a 4xx or 421 is a deferral, and a refusal that sounds like spam or a rate
limit is trouble: the campaign pauses with the server's words.
"""

from __future__ import annotations

import email.utils
import ipaddress
import smtplib
import socket
import ssl
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from urllib.parse import quote, unquote, urlsplit

from backup.config import secret
from backup.errors import ConfigError, UsageError

from ..templates import clean_field
from . import TROUBLE_WORDS, Channel, Outcome, Outgoing

DEFAULT_PASSWORD_ENV = "AUDIENCE_SMTP_PASSWORD"
DEFAULT_PORTS = {"smtp": 587, "smtps": 465}
TIMEOUT = 60.0  # seconds for each SMTP command (RFC 5321 §4.5.3.2 allows 10 min for DATA's end; we stop earlier)


def parse_smtp_url(url: str) -> dict:
    """``smtp[s]://[user@]host[:port]`` -> the settings stored with the campaign (no password)."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        raise UsageError(f"--smtp {url!r} is not an smtp:// or smtps:// URL", hint="e.g. --smtp smtp://me@mail.example.com:587")
    if parts.password is not None:
        raise UsageError(
            "--smtp must not hold a password",
            hint=f"put the password in an environment variable ({DEFAULT_PASSWORD_ENV}, or name another with --smtp-password-env)",
        )
    try:
        port = parts.port or DEFAULT_PORTS[scheme]
    except ValueError:
        raise UsageError(f"--smtp {url!r}: the port is not a number") from None
    user = unquote(parts.username) if parts.username else None
    return {"scheme": scheme, "host": parts.hostname, "port": port, "user": user}


def smtp_display(settings: dict) -> str:
    user = f"{quote(settings['user'], safe='')}@" if settings.get("user") else ""
    return f"{settings['scheme']}://{user}{settings['host']}:{settings['port']}"


def _loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def sender_domain(address: str) -> str:
    return address.rpartition("@")[2].lower()


class EmailChannel(Channel):
    name = "email"
    max_chars = None  # the template cap (10 KB) is the limit

    def __init__(self, *, settings: dict, sender: str, campaign: str, timeout: float = TIMEOUT):
        self.smtp_settings = settings["smtp"]
        self.password_env = settings.get("smtp_password_env") or DEFAULT_PASSWORD_ENV
        self.sender = sender
        self.from_name = settings.get("from_name")
        self.subject = settings.get("subject")
        self.postal_address = settings.get("postal_address")
        self.unsubscribe_url = settings.get("unsubscribe_url")
        self.unsubscribe_mailto = settings.get("unsubscribe_mailto") or sender
        self.campaign = campaign
        self.timeout = timeout
        self._smtp: smtplib.SMTP | None = None
        self._password: str | None = None

    # -- connection --------------------------------------------------------------------------

    def check(self) -> None:
        self._connect()

    def _connect(self) -> smtplib.SMTP:
        s = self.smtp_settings
        host, port = s["host"], s["port"]
        context = ssl.create_default_context()
        where = smtp_display(s)
        try:
            if s["scheme"] == "smtps":
                smtp = smtplib.SMTP_SSL(host, port, timeout=self.timeout, context=context)
            else:
                smtp = smtplib.SMTP(host, port, timeout=self.timeout)
            smtp.ehlo()
            if s["scheme"] == "smtp":
                if smtp.has_extn("starttls"):
                    smtp.starttls(context=context)
                    smtp.ehlo()
                elif not _loopback(host):
                    smtp.close()
                    raise ConfigError(
                        f"{where} offers no STARTTLS; audience does not send mail in clear text over the network",
                        hint="use the server's submission port (587, STARTTLS) or smtps:// (465)",
                    )
            if s.get("user"):
                if self._password is None:
                    self._password = secret(self.password_env)
                smtp.login(s["user"], self._password)
        except smtplib.SMTPAuthenticationError as exc:
            raise ConfigError(
                f"{where} refused the login ({exc.smtp_code})",
                hint=f"check the password in {self.password_env}",
            ) from None
        except ssl.SSLError as exc:
            raise ConfigError(f"{where}: TLS failed ({exc.reason or type(exc).__name__})", hint="check the host name and its certificate") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise ConfigError(f"cannot use the mail server {where}: {_words(exc)}", hint="check --smtp and that the server is up") from None
        self._smtp = smtp
        return smtp

    def _session(self) -> smtplib.SMTP:
        """The open session, or a new one if the server closed it between messages (safe:
        no transaction was in flight)."""
        if self._smtp is not None:
            try:
                code, _ = self._smtp.noop()
                if code == 250:
                    return self._smtp
            except (smtplib.SMTPException, OSError):
                pass
            self._drop()
        return self._connect()

    def _drop(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.close()
            except OSError:
                pass
            self._smtp = None

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                pass
            self._drop()

    # -- message -----------------------------------------------------------------------------

    def unsubscribe_link(self, ref: str) -> str | None:
        if not self.unsubscribe_url:
            return None
        url = self.unsubscribe_url
        if "{ref}" in url:
            return url.replace("{ref}", quote(ref, safe=""))
        return url + ("&" if "?" in url else "?") + f"ref={quote(ref, safe='')}"

    def build(self, message: Outgoing) -> EmailMessage:
        subject = message.subject or self.subject
        if not subject:
            raise UsageError("the email has no subject", hint="start each variant with a line `Subject: ...`, or give --subject")
        msg = EmailMessage(policy=SMTP_POLICY)
        from_name = clean_field(self.from_name, limit=128) if self.from_name else ""
        msg["From"] = Address(display_name=from_name, addr_spec=self.sender)
        msg["To"] = Address(display_name=clean_field(message.recipient, limit=128), addr_spec=message.address)
        msg["Subject"] = clean_field(subject, limit=200)
        msg["Date"] = email.utils.formatdate(localtime=False)
        msg["Message-ID"] = email.utils.make_msgid(idstring=message.ref, domain=sender_domain(self.sender))
        mailto = f"mailto:{self.unsubscribe_mailto}?subject={quote('unsubscribe ' + message.ref)}"
        https = self.unsubscribe_link(message.ref)
        msg["List-Unsubscribe"] = ", ".join(f"<{u}>" for u in (mailto, https) if u)
        if https:
            msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"  # RFC 8058 §3.1
        msg["X-Audience-Campaign"] = clean_field(self.campaign, limit=128)
        msg.set_content(message.text + "\n\n" + self.footer(message.ref) + "\n")
        return msg

    def footer(self, ref: str) -> str:
        lines = ["-- "]
        if self.postal_address:
            lines.append(clean_field(self.postal_address, limit=300))
        how = f'reply with "unsubscribe" to {self.unsubscribe_mailto}'
        link = self.unsubscribe_link(ref)
        if link:
            how = f"open {link}, or {how}"
        lines.append(f"You got this message once, from me; you will not get it again. To unsubscribe: {how}.")
        return "\n".join(lines)

    def send(self, message: Outgoing) -> Outcome:
        try:
            msg = self.build(message)
        except (ValueError, TypeError, IndexError) as exc:  # email.errors.HeaderParseError is a ValueError
            return Outcome("skipped", reason=f"not a usable email address or name ({type(exc).__name__})")
        smtp = self._session()
        stage = "MAIL FROM"
        try:
            code, resp = smtp.mail(self.sender)
            if code != 250:
                return self._refused(stage, code, resp, recipient=False)
            stage = "RCPT TO"
            code, resp = smtp.rcpt(message.address)
            if code not in (250, 251):
                smtp.rset()
                return self._refused(stage, code, resp, recipient=True)
            stage = "DATA"
            code, resp = smtp.data(msg.as_bytes())
        except smtplib.SMTPServerDisconnected as exc:
            self._drop()
            if stage == "DATA":
                return Outcome("unknown", reason=f"the mail server closed the connection during DATA ({_words(exc)})",
                               pause="the mail server dropped the connection while taking a message; it may or may not have gone out")
            return Outcome("planned", pause=f"the mail server closed the connection at {stage} ({_words(exc)})")
        except smtplib.SMTPResponseException as exc:  # smtplib raises for some answers (DATA's 354 missing, ...)
            self._drop()
            return self._refused(stage, exc.smtp_code, exc.smtp_error, recipient=stage == "RCPT TO")
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            if stage == "DATA":
                return Outcome("unknown", reason=f"the connection failed during DATA ({_words(exc)})",
                               pause="the connection to the mail server failed while sending a message; it may or may not have gone out")
            return Outcome("planned", pause=f"the connection to the mail server failed at {stage} ({_words(exc)})")
        if code == 250:
            return Outcome("sent", provider_id=msg["Message-ID"], reason=_text(resp)[:200] or None)
        try:
            smtp.rset()
        except (smtplib.SMTPException, OSError):
            self._drop()
        return self._refused(stage, code, resp, recipient=False)

    def _refused(self, stage: str, code: int, resp, *, recipient: bool) -> Outcome:
        words = f"{code} {_text(resp)}".strip()[:300]
        said = f"the mail server refused {stage}: {words}"
        if code == 421 or 400 <= code < 500:
            return Outcome("planned", reason=said, pause=f"{said} (a deferral: the server wants us to slow down or come back later)")
        if TROUBLE_WORDS.search(words):  # refused as spam or over a limit: this one failed, and we stop
            return Outcome("planned" if stage == "MAIL FROM" else "failed", reason=said, pause=said, bounce=recipient)
        if recipient:
            return Outcome("failed", reason=said, bounce=True)
        # A 5xx for the sender or the content concerns every message: stop here.
        return Outcome("failed" if stage == "DATA" else "planned", reason=said, pause=said)


def _text(resp) -> str:
    if isinstance(resp, bytes):
        resp = resp.decode("utf-8", "replace")
    return " ".join(str(resp or "").split())


def _words(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {_text(exc.smtp_error)}"[:200]
    if isinstance(exc, socket.timeout):
        return "timed out"
    return (f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)[:200]
