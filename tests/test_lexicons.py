"""The generator's package data: broad lexicons and phrasings, all loadable and well-formed."""

from __future__ import annotations

import re

import pytest

from intentforge.catalogue import BUILTIN_INTENTS
from intentforge.data import lexicons

_PLACEHOLDER = re.compile(r"\{(\w+)(?::(\w+))?\}")


def test_lexicons_are_broad():
    actions = lexicons.tasks("actions")
    assert len(actions) >= 150 and len(set(actions)) == len(actions)
    assert sum(" " in a for a in actions) > 140  # multi-word tasks
    assert len(lexicons.tasks("items")) >= 30
    places = lexicons.places()
    assert len(places) >= 100 and "Paris, France" in places
    contacts = lexicons.contacts()
    for example in ("mum", "my boss", "Sarah from accounting", "sarah@example.com"):
        assert example in contacts
    assert len(lexicons.projects()) >= 20
    assert len(lexicons.email_parts("subjects")) >= 30
    assert len(lexicons.email_parts("bodies")) >= 30
    every = [*actions, *places, *contacts, *lexicons.projects(), *lexicons.dates("weather")]
    assert all(isinstance(v, str) and v == v.strip() for v in every)


def test_dates_cover_many_spoken_forms():
    due = [d.replace("|", "") for d in lexicons.dates("due")]
    for form in (
        "tomorrow at 5pm",
        "next friday",
        "on the 3rd of March",
        "in two hours",
        "tonight",
    ):
        assert form in due
    assert "at 6" in due
    assert len(due) >= 80 and len(lexicons.dates("weather")) >= 30


def test_priorities_map_deterministically_to_one_to_four():
    suffix = lexicons.priorities("suffix")
    adjective = lexicons.priorities("adjective")
    assert suffix["p1"] == suffix["priority 1"] == suffix["urgent"] == 1
    assert suffix["high priority"] == adjective["high priority"] == 2
    assert suffix["priority three"] == adjective["p3"] == 3
    assert suffix["low priority"] == adjective["low priority"] == 4
    assert set(suffix.values()) == set(adjective.values()) == {1, 2, 3, 4}


@pytest.mark.parametrize("intent", [i for i in BUILTIN_INTENTS if i.name != "none"])
def test_every_builtin_intent_has_at_least_forty_phrasings_over_its_own_slots(intent):
    phrasings = lexicons.phrasings(intent.name)
    assert phrasings is not None
    templates = phrasings["imperative"] + phrasings["plain"]
    assert len(templates) >= 40 and len(set(templates)) == len(templates)
    asking = []
    for template in templates:
        slots = {m[1] for m in _PLACEHOLDER.finditer(template)}
        assert slots <= set(intent.slots), template
        if not set(intent.required_slots) <= slots:
            asking.append(template)  # "send an email": the runtime asks for the recipient
    # A few phrasings leave a required slot out; most say it.
    assert len(asking) <= 0.2 * len(templates)
    assert bool(asking) == bool(intent.required_slots)


def test_out_of_scope_topics_are_many_and_fillable():
    doc = lexicons.out_of_scope()
    topics = doc["topics"]
    assert len(topics) >= 15
    templates = [t for topic in topics.values() for t in topic["templates"]]
    assert len(templates) >= 250 and len(set(templates)) == len(templates)
    # YAML reads 7:30 as a number and no as False: every entry must have stayed text.
    assert all(isinstance(v, str) for values in doc["fill"].values() for v in values)
    assert all(isinstance(t, str) for t in templates)
    fillable = set(doc["fill"]) | {"task", "item", "place", "contact", "date", "body", "subject"}
    fillable |= {"project"}
    for template in templates:
        assert {m[1] for m in _PLACEHOLDER.finditer(template)} <= fillable, template


def test_composed_day_time_phrases_join_due_and_noun_once_each():
    for kind in ("due", "noun"):
        dates = lexicons.dates(kind)
        assert len(dates) == len(set(dates))
        assert "wednesday night" in dates and "friday at 10am" in dates
    # Every other pairing only: "monday" (index 1) pairs with odd-indexed times.
    assert "monday afternoon" in lexicons.dates("due")
    assert "monday morning" in lexicons.dates("due")  # listed by hand, not composed
    assert "tuesday afternoon" not in lexicons.dates("noun")
    assert all("|" not in d for d in lexicons.dates("noun"))
