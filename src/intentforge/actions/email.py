"""send_email -> SMTP with STARTTLS and login (Gmail app passwords work at smtp.gmail.com:587)."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formataddr, formatdate
from typing import Any, ClassVar

from pydantic import BaseModel

from intentforge.actions.base import (
    ActionContext,
    quoted,
    rejected,
    result,
    spoken_list,
    unreachable,
)
from intentforge.actions.contacts import Contacts
from intentforge.actions.policy import UpstreamDown, UpstreamRejected, call_with_retries
from intentforge.actions.result import ActionResult, ActionStatus, Plan
from intentforge.catalogue import IntentCall
from intentforge.retry import Transient

_SERVICE = "The mail server"
_SUBJECT_CHARS = 60


class Recipient(BaseModel):
    name: str
    email: str

    def header(self) -> str:
        return self.email if self.name == self.email else formataddr((self.name, self.email))

    def spoken(self) -> str:
        return self.name


class EmailPlan(Plan):
    recipients: list[Recipient]
    subject: str
    body: str


def _subject_from(body: str) -> str:
    """A short subject from the body when none was said: its first words, cut at a word."""
    line = " ".join(body.split())
    if len(line) <= _SUBJECT_CHARS:
        return line[:1].upper() + line[1:]
    cut = line[:_SUBJECT_CHARS].rsplit(" ", 1)[0]
    return cut[:1].upper() + cut[1:] + "…"


class SmtpExecutor:
    """Sends e-mail through `actions.smtp_host`, to recipients from `actions.contacts_file`."""

    name: ClassVar[str] = "smtp"
    side_effects: ClassVar[bool] = True
    credentials_hint: ClassVar[str] = "set actions.smtp_user and SMTP_PASSWORD"
    plan_type: ClassVar[type[Plan]] = EmailPlan

    def has_credentials(self, ctx: ActionContext) -> bool:
        return ctx.config.smtp_user is not None and ctx.secrets.smtp_password is not None

    def needs_confirmation(self, ctx: ActionContext) -> bool:
        return ctx.config.confirm_email

    def plan(self, call: IntentCall, ctx: ActionContext) -> EmailPlan | ActionResult:
        params = call.parameters
        spoken_to = str(params["to"])
        lookups = Contacts.load(ctx.config.contacts_file).find_all(spoken_to)
        unknown = [lk for lk in lookups if lk.contact is None]
        if unknown:
            first = unknown[0]
            if first.candidates:
                names = spoken_list([c.name for c in first.candidates])
                reply = f"Which {first.spoken} do you mean: {names}?"
            else:
                reply = (
                    f"I don't have an e-mail address for {first.spoken}; "
                    f"add them to {ctx.config.contacts_file} or say the address."
                )
            return result(
                ActionStatus.NEEDS_CLARIFICATION,
                reply,
                {"unknown": [lk.spoken for lk in unknown]},
                "unknown_contact",
            )
        recipients = [
            Recipient(name=lk.contact.name, email=lk.contact.email)
            for lk in lookups
            if lk.contact is not None
        ]
        who = spoken_list([r.spoken() for r in recipients])
        subject, body = params.get("subject"), params.get("body")
        if not subject and not body:
            return result(
                ActionStatus.NEEDS_CLARIFICATION,
                f"What should the e-mail to {who} say?",
                {"to": [r.model_dump() for r in recipients]},
                "missing_body",
            )
        body = str(body or subject)
        subject = str(subject or _subject_from(body))
        described = f"an e-mail to {who} with the subject {quoted(subject)} saying {quoted(body)}"
        return EmailPlan(
            summary=f"send {described}",
            question=f"Shall I send {described}?",
            recipients=recipients,
            subject=subject,
            body=body,
        )

    def run(self, plan: Plan, ctx: ActionContext) -> ActionResult:
        assert isinstance(plan, EmailPlan)
        config = ctx.config
        sender = config.email_from or config.smtp_user
        if sender is None:
            return result(
                ActionStatus.FAILED,
                "E-mail isn't set up: set actions.email_from or actions.smtp_user.",
                error="not_configured",
            )
        if config.smtp_user is not None and ctx.secrets.smtp_password is None:
            return result(
                ActionStatus.FAILED,
                "E-mail isn't set up: set SMTP_PASSWORD (a Gmail app password for Gmail).",
                error="not_configured",
            )
        message = self._message(plan, sender, ctx)
        who = spoken_list([r.spoken() for r in plan.recipients])
        try:
            refused = self._send(message, ctx)
        except UpstreamRejected as exc:
            if exc.status == 535:
                reply = (
                    "The mail server refused the login; check actions.smtp_user and SMTP_PASSWORD."
                )
            else:
                reply = f"The mail server refused the e-mail: {exc.detail}."
            return rejected(reply, exc.status)
        except UpstreamDown as exc:
            return unreachable(
                "The mail server isn't answering right now; the e-mail was not sent.", exc.reason
            )
        data: dict[str, Any] = {
            "message_id": message["Message-ID"],
            "to": [r.model_dump() for r in plan.recipients],
            "subject": plan.subject,
            "refused": sorted(refused),
        }
        if refused:
            reply = f"Sent the e-mail, but the server refused {spoken_list(sorted(refused))}."
        else:
            reply = f"Sent the e-mail to {who}."
        return result(ActionStatus.DONE, reply, data)

    def _message(self, plan: EmailPlan, sender: str, ctx: ActionContext) -> EmailMessage:
        message = EmailMessage()
        message["From"] = sender
        message["To"] = ", ".join(r.header() for r in plan.recipients)
        message["Subject"] = plan.subject
        message["Date"] = formatdate(ctx.now.timestamp(), localtime=False)
        # Derived from the idempotency key, so a duplicate that slips through is recognisable.
        domain = sender.rpartition("@")[2] or "intentforge.local"
        message["Message-ID"] = f"<{ctx.request_id}@{domain}>"
        message["X-Mailer"] = "intentforge"
        message.set_content(plan.body)
        return message

    def _send(self, message: EmailMessage, ctx: ActionContext) -> dict[str, Any]:
        config = ctx.config
        password = ctx.secrets.smtp_password
        tls = ssl.create_default_context(
            cafile=str(config.smtp_ca_file) if config.smtp_ca_file else None
        )

        def attempt() -> dict[str, Any]:
            try:
                smtp = smtplib.SMTP(config.smtp_host, config.smtp_port, timeout=config.timeout_s)
            except smtplib.SMTPConnectError as exc:
                raise Transient(f"SMTP {exc.smtp_code} on connect") from None
            except OSError as exc:
                raise Transient(f"connection failed: {type(exc).__name__}") from None
            try:
                smtp.ehlo()
                if config.smtp_starttls:
                    smtp.starttls(context=tls)
                    smtp.ehlo()
                if config.smtp_user is not None and password is not None:
                    smtp.login(config.smtp_user, password.get_secret_value())
                return dict(smtp.send_message(message))
            except smtplib.SMTPNotSupportedError:
                raise UpstreamRejected(_SERVICE, 0, "it does not offer STARTTLS") from None
            except smtplib.SMTPRecipientsRefused as exc:
                raise UpstreamRejected(
                    _SERVICE, 550, f"every recipient was refused ({', '.join(exc.recipients)})"
                ) from None
            except smtplib.SMTPResponseException as exc:
                # In SMTP, 4xx is the temporary failure and 5xx the permanent one.
                if 400 <= exc.smtp_code < 500:
                    raise Transient(f"SMTP {exc.smtp_code}") from None
                raw = exc.smtp_error
                detail = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
                raise UpstreamRejected(_SERVICE, exc.smtp_code, detail.strip()) from None
            except ssl.SSLCertVerificationError as exc:
                raise UpstreamRejected(
                    _SERVICE, 0, f"its TLS certificate is not trusted ({exc.verify_message})"
                ) from None
            except (smtplib.SMTPServerDisconnected, OSError) as exc:
                raise Transient(f"connection lost: {type(exc).__name__}") from None
            finally:
                try:
                    smtp.quit()
                except (smtplib.SMTPException, OSError):
                    smtp.close()

        return call_with_retries(attempt, service=_SERVICE, config=config, sleep=ctx.sleep)
