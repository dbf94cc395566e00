"""send_email against a real SMTP server (aiosmtpd) with STARTTLS and AUTH on 127.0.0.1."""

from __future__ import annotations

import logging
import socket
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from intentforge.actions import ActionRunner, ActionStatus
from intentforge.config import load_settings
from intentforge.secrets import Secrets
from servers.smtp import SmtpServer

CONTACTS = """\
Mum:
  email: mum@example.com
  aliases: [mom, mother]
Alex Smith: alex.smith@example.com
Alex Jones: alex.jones@example.org
Sam: sam@example.net
"""


def make_runner(
    tmp_path: Path, server: SmtpServer, password: str | None = None, **actions: Any
) -> ActionRunner:
    contacts = tmp_path / "contacts.yaml"
    contacts.write_text(CONTACTS, encoding="utf-8")
    settings = load_settings(
        None,
        {
            "actions": {
                "smtp_host": "127.0.0.1",
                "smtp_port": server.port,
                "smtp_user": server.user,
                "smtp_ca_file": str(server.cert),
                "contacts_file": str(contacts),
                "state_dir": str(tmp_path / "state"),
                "timeout_s": 5.0,
                "retry_backoff_s": 0.0,
                **actions,
            }
        },
    )
    secrets = Secrets(smtp_password=SecretStr(password or server.password))
    return ActionRunner(settings, secrets)


def email(**parameters: Any) -> dict[str, Any]:
    return {"intent": "send_email", "parameters": parameters}


def test_confirmation_flow_sends_exactly_once(tmp_path, smtp_server):
    runner = make_runner(tmp_path, smtp_server)
    asked = runner.act(email(to="mum", subject="Dinner", body="I'll be ten minutes late."))
    assert asked.status == ActionStatus.NEEDS_CONFIRMATION
    assert asked.reply == (
        "Shall I send an e-mail to Mum with the subject 'Dinner' "
        "saying 'I'll be ten minutes late.'?"
    )
    assert asked.confirmation_token and len(asked.confirmation_token) >= 20
    assert smtp_server.messages == []

    sent = runner.act(confirm=asked.confirmation_token)
    assert sent.status == ActionStatus.DONE
    assert sent.reply == "Sent the e-mail to Mum."
    [message] = smtp_server.messages
    assert message["From"] == smtp_server.user
    assert message["To"] == "Mum <mum@example.com>"
    assert message["Subject"] == "Dinner"
    assert message["Message-ID"] == sent.data["message_id"]
    assert message["Date"]
    assert message.get_content().strip() == "I'll be ten minutes late."
    assert smtp_server.envelopes == [(smtp_server.user, ["mum@example.com"])]
    assert smtp_server.logins == [smtp_server.user]

    again = runner.act(confirm=asked.confirmation_token)
    assert again.status == ActionStatus.DONE and again.replayed
    assert len(smtp_server.messages) == 1


def test_confirming_twice_with_different_keys_still_sends_once(tmp_path, smtp_server):
    runner = make_runner(tmp_path, smtp_server)
    token = runner.act(email(to="mum", body="hi")).confirmation_token
    first = runner.act(confirm=token, idempotency_key="a")
    second = runner.act(confirm=token, idempotency_key="b")
    assert first.status == second.status == ActionStatus.DONE
    assert second.replayed
    assert len(smtp_server.messages) == 1


def test_retried_send_with_the_same_key_sends_once(tmp_path, smtp_server):
    runner = make_runner(tmp_path, smtp_server, confirm_email=False)
    first = runner.act(email(to="mum", body="hi"), idempotency_key="mail-1")
    retry = runner.act(email(to="mum", body="hi"), idempotency_key="mail-1")
    assert first.status == ActionStatus.DONE and retry.replayed
    assert retry.data["message_id"] == first.data["message_id"]
    assert len(smtp_server.messages) == 1


def test_without_confirmation_it_sends_directly(tmp_path, smtp_server):
    runner = make_runner(
        tmp_path, smtp_server, confirm_email=False, email_from="Me <me@example.com>"
    )
    result = runner.act(email(to="Alex Smith", body="see you at the station at noon"))
    assert result.status == ActionStatus.DONE
    [message] = smtp_server.messages
    assert message["From"] == "Me <me@example.com>"
    assert message["Subject"] == "See you at the station at noon"


def test_literal_address_is_used_as_is(tmp_path, smtp_server):
    runner = make_runner(tmp_path, smtp_server, confirm_email=False)
    runner.act(email(to="bob@example.com", subject="hi", body="hello"))
    assert smtp_server.envelopes[0][1] == ["bob@example.com"]
    assert smtp_server.messages[0]["To"] == "bob@example.com"


def test_several_recipients(tmp_path, smtp_server):
    runner = make_runner(tmp_path, smtp_server, confirm_email=False)
    result = runner.act(email(to="mum and Sam", body="party on saturday"))
    assert result.reply == "Sent the e-mail to Mum and Sam."
    assert smtp_server.envelopes[0][1] == ["mum@example.com", "sam@example.net"]


def test_unknown_contact_is_a_question_never_a_guess(tmp_path, smtp_server):
    runner = make_runner(tmp_path, smtp_server, confirm_email=False)
    result = runner.act(email(to="grandma", body="hello"))
    assert result.status == ActionStatus.NEEDS_CLARIFICATION
    assert result.error == "unknown_contact"
    assert result.reply.startswith("I don't have an e-mail address for grandma")
    assert result.confirmation_token is None
    assert smtp_server.messages == []


def test_ambiguous_first_name_asks_which(tmp_path, smtp_server):
    runner = make_runner(tmp_path, smtp_server, confirm_email=False)
    result = runner.act(email(to="Alex", body="hello"))
    assert result.status == ActionStatus.NEEDS_CLARIFICATION
    assert result.reply == "Which Alex do you mean: Alex Smith and Alex Jones?"
    assert smtp_server.messages == []


def test_missing_body_asks_what_to_say(tmp_path, smtp_server):
    result = make_runner(tmp_path, smtp_server).act(email(to="mum"))
    assert result.status == ActionStatus.NEEDS_CLARIFICATION
    assert result.reply == "What should the e-mail to Mum say?"


def test_dry_run_until_a_password_exists(tmp_path, smtp_server):
    runner = make_runner(tmp_path, smtp_server)
    runner.secrets = Secrets()
    result = runner.act(email(to="mum", body="hi"))
    assert result.status == ActionStatus.DRY_RUN
    assert (
        result.reply == "Dry run: I would send an e-mail to Mum with the subject 'Hi' saying 'hi'."
    )
    assert smtp_server.messages == [] and smtp_server.logins == []


def test_wrong_password_fails_without_retrying(tmp_path, smtp_server):
    runner = make_runner(tmp_path, smtp_server, password="wrong", confirm_email=False)
    result = runner.act(email(to="mum", body="hi"))
    assert result.status == ActionStatus.FAILED
    assert result.error == "upstream_rejected"
    assert "SMTP_PASSWORD" in result.reply
    assert smtp_server.messages == []


def test_temporary_refusal_is_retried(tmp_path, smtp_server):
    runner = make_runner(tmp_path, smtp_server, confirm_email=False)
    smtp_server.reject_next(451, "4.3.0 mailbox busy")
    result = runner.act(email(to="mum", body="hi"))
    assert result.status == ActionStatus.DONE
    assert len(smtp_server.messages) == 1
    assert smtp_server.logins == [smtp_server.user] * 2


def test_permanent_refusal_is_not_retried(tmp_path, smtp_server):
    runner = make_runner(tmp_path, smtp_server, confirm_email=False)
    smtp_server.reject_next(554, "5.7.1 message rejected as spam", times=3)
    result = runner.act(email(to="mum", body="hi"))
    assert result.status == ActionStatus.FAILED
    assert result.reply == "The mail server refused the e-mail: 5.7.1 message rejected as spam."
    assert smtp_server.logins == [smtp_server.user]


def test_untrusted_certificate_is_refused(tmp_path, smtp_server):
    runner = make_runner(tmp_path, smtp_server, confirm_email=False, smtp_ca_file=None)
    result = runner.act(email(to="mum", body="hi"))
    assert result.status == ActionStatus.FAILED
    assert "not trusted" in result.reply
    assert smtp_server.logins == []


def test_unreachable_server_is_reported(tmp_path, smtp_server):
    # Bound and not listening: connections are refused, and no other process can take the port.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        closed_port = closed.getsockname()[1]
        runner = make_runner(tmp_path, smtp_server, confirm_email=False, smtp_port=closed_port)
        result = runner.act(email(to="mum", body="hi"))
    assert result.status == ActionStatus.FAILED
    assert result.error == "upstream_down"
    assert result.reply == "The mail server isn't answering right now; the e-mail was not sent."


def test_unknown_confirmation_token_is_refused(tmp_path, smtp_server):
    result = make_runner(tmp_path, smtp_server).act(confirm="not-a-token")
    assert result.status == ActionStatus.FAILED
    assert result.error == "confirmation_expired"


def test_expired_confirmation_sends_nothing(tmp_path, smtp_server):
    runner = make_runner(tmp_path, smtp_server, confirmation_ttl_s=0.001)
    asked = runner.act(email(to="mum", body="hi"))
    result = runner.act(confirm=asked.confirmation_token)
    assert result.error == "confirmation_expired"
    assert smtp_server.messages == []


def test_password_never_appears_in_results_or_logs(tmp_path, smtp_server, caplog):
    caplog.set_level(logging.DEBUG)
    runner = make_runner(tmp_path, smtp_server)
    asked = runner.act(email(to="mum", body="hi"))
    sent = runner.act(confirm=asked.confirmation_token)
    assert sent.status == ActionStatus.DONE
    for text in (caplog.text, asked.model_dump_json(), sent.model_dump_json()):
        assert smtp_server.password not in text
