"""The follow-up turn: an answer fills the slot its question asked for, as said, or asks again."""

from __future__ import annotations

import pytest

from intentforge.catalogue import IntentCall, load_catalogue
from intentforge.data.templates import generate
from intentforge.runtime.followup import answer_value, fill, is_cancel

EMAIL = IntentCall("send_email", {"subject": "the party"})


@pytest.fixture(scope="module")
def catalogue(fixtures_dir):
    return load_catalogue([fixtures_dir / "user_intents.yaml"])


@pytest.mark.parametrize(
    ("answer", "recipient"),
    [
        ("to anna", "anna"),
        ("anna", "anna"),
        ("Anna.", "Anna"),
        ("my boss", "my boss"),
        ("um, to my boss please", "my boss"),
        ("send it to Sarah from accounting", "Sarah from accounting"),
        ("it's for mum, thanks", "mum"),
        ("okay so it goes to bob@example.com", "bob@example.com"),
        ("Tom", "Tom"),  # "to" is cut only as a word
        ("Adam", "Adam"),
    ],
)
def test_the_answer_without_its_lead_in_fills_the_recipient(catalogue, answer, recipient):
    call = fill(catalogue, EMAIL, "to", answer)
    assert call == IntentCall("send_email", {"to": recipient, "subject": "the party"})
    assert catalogue.missing(call) == ()


def test_a_task_answer_keeps_the_task_words(catalogue):
    task = IntentCall("add_task", {"due": "tomorrow"})
    for answer, content in (
        ("buy milk", "buy milk"),
        ("to buy milk", "buy milk"),
        ("add call the plumber", "call the plumber"),
        ("remind me to water the plants", "water the plants"),
    ):
        assert fill(catalogue, task, "content", answer).parameters == {
            "content": content,
            "due": "tomorrow",
        }


def test_a_number_slot_takes_the_number_said_and_a_choice_the_choice_named(catalogue):
    intent = catalogue["set_thermostat"]
    assert answer_value(intent, "temperature", "21 degrees") == "21"
    assert answer_value(intent, "temperature", "make it twenty one") == "21"
    assert answer_value(intent, "temperature", "nineteen please") == "19"
    assert answer_value(intent, "mode", "the Eco one") == "eco"
    call = fill(catalogue, IntentCall("set_thermostat", {}), "temperature", "twenty two")
    assert call.parameters == {"temperature": 22}


def test_an_answer_that_does_not_fit_leaves_the_slot_missing(catalogue):
    asked = IntentCall("set_thermostat", {"room": "kitchen"})
    for answer in ("banana", "99 degrees", "um", "yes please"):
        assert fill(catalogue, asked, "temperature", answer) is asked, answer


def test_cancel_phrases_drop_the_question_and_answers_do_not(catalogue):
    for said in ("never mind", "Cancel that.", "forget it", "no", "Nothing, thanks"):
        assert is_cancel(said), said
    for said in ("anna", "no rush on that", "cancel my gym membership"):
        assert not is_cancel(said), said


def test_held_out_generated_recipients_come_back_from_spoken_answers(catalogue):
    """Measured on generated rows (never a dev set): each recipient said as an answer, in the
    ways people answer "Who should I send it to?", fills `to` with exactly that recipient."""
    rows = generate(catalogue, 900, seed=101)
    recipients = sorted({r["parameters"]["to"] for r in rows if "to" in r["parameters"]})
    assert len(recipients) > 60
    leads = ("{}", "to {}", "send it to {}", "it's for {}", "um, {} please", "{}.")
    wrong = []
    for recipient in recipients:
        for lead in leads:
            call = fill(catalogue, EMAIL, "to", lead.format(recipient))
            if call.parameters.get("to") != recipient:
                wrong.append((lead.format(recipient), call.parameters.get("to")))
    assert not wrong, wrong[:10]
