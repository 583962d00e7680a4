"""Email over SMTP (plain, STARTTLS or implicit TLS, optional login). Over TLS the server's
certificate is verified against ``ca_file`` (else the system's CAs) and must name ``host``.

The Message-ID is derived from the execution's idempotency key, so a retried send is the
same message to every mail system that de-duplicates on it."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate

from hygie.respond.connectors import texts
from hygie.respond.connectors.base import ActionContext, ConnectorError, Outcome


def _recipients(text: str) -> list[str]:
    found = [part.strip() for part in text.replace(";", ",").split(",") if part.strip()]
    if not found or not all("@" in r for r in found):
        raise texts.error(ConnectorError, "email.bad_recipients", text=repr(text))
    return found


def send(ctx: ActionContext, args: dict[str, str], dry_run: bool) -> Outcome:
    recipients = _recipients(args["to"])
    host, port = ctx.need("host"), int(ctx.settings.get("port", 25))
    sender = ctx.need("sender")
    if dry_run:
        return Outcome.said(True, "email.would_send", {"subject": repr(args["subject"]), "to": ", ".join(recipients),
                                                       "host": host, "port": port}, {"to": recipients})
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, ", ".join(recipients), args["subject"]
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = f"<{ctx.key}@{sender.split('@')[-1]}>"
    message.set_content(args.get("body", ""))
    security = ctx.settings.get("security", "none")  # none / starttls / tls
    if security not in ("none", "starttls", "tls"):
        raise texts.error(ConnectorError, "email.bad_security", security=repr(security))
    ca_file = ctx.settings.get("ca_file") or None
    try:
        # the server's certificate is verified and must name ``host`` (against ca_file, else the system's CAs)
        context = ssl.create_default_context(cafile=ca_file)
        if security == "tls":
            client: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=ctx.timeout, context=context)
        else:
            client = smtplib.SMTP(host, port, timeout=ctx.timeout)
        with client:
            if security == "starttls":
                client.starttls(context=context)
            if ctx.settings.get("username"):
                client.login(ctx.settings["username"], ctx.secret("password"))
            refused = client.send_message(message)
    except ssl.SSLCertVerificationError as exc:
        trusted = texts.say("tls.ca_file", ca_file=ca_file) if ca_file else texts.say("tls.system_cas")
        raise texts.error(ConnectorError, "email.untrusted", host=host, port=port, trusted=trusted,
                          reason=exc.verify_message) from exc
    except (OSError, smtplib.SMTPException) as exc:
        raise texts.error(ConnectorError, "email.error", host=host, port=port,
                          error=f"{type(exc).__name__}: {exc}") from exc
    accepted = [r for r in recipients if r not in refused]
    return Outcome.said(bool(accepted), "email.sent" if accepted else "email.all_refused",
                        {"subject": repr(args["subject"]), "to": ", ".join(accepted or recipients)},
                        {"to": accepted, "refused": sorted(refused), "message_id": message["Message-ID"]})
