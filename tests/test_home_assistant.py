"""Requests sampled from Home Assistant's sentence templates (home-assistant-intents + hassil)."""

from __future__ import annotations

import re

import pytest

from intentforge.catalogue import load_catalogue
from intentforge.data import home_assistant
from intentforge.data.templates import generate
from intentforge.errors import IntentforgeError


def test_sampling_is_deterministic_and_fills_every_list():
    first = home_assistant.sample("HassStartTimer", 8, seed=3)
    assert first == home_assistant.sample("HassStartTimer", 8, seed=3)
    assert len(first) == 8
    for text, said in first:
        assert "{" not in text and "<" not in text and "[" not in text, text
        for value in said.values():
            assert value in text
    assert first != home_assistant.sample("HassStartTimer", 8, seed=4)


def test_every_home_assistant_intent_can_be_sampled():
    names = home_assistant.intent_names()
    assert {"HassTurnOn", "HassStartTimer", "HassGetWeather", "HassListAddItem"} <= set(names)
    for name in names:
        assert home_assistant.sample(name, 2, seed=0), name


def test_unknown_intent_is_a_clear_error():
    with pytest.raises(IntentforgeError, match="no intent 'HassMakeCoffee'"):
        home_assistant.sample("HassMakeCoffee", 2, seed=0)


def test_in_scope_sentences_become_templates_with_slots():
    tasks = home_assistant.phrasings("add_task")
    assert any("{project} list" in t for t in tasks)  # "my shopping list" names the project
    assert all("{content:item}" in t for t in tasks)
    assert not any("shopping" in t for t in tasks)
    weather = home_assistant.phrasings("get_weather")
    assert any("{location}" in t for t in weather)
    assert not any(re.search(r"\b(my|our|the) \{location\}", t) for t in weather)
    assert home_assistant.phrasings("send_email") == []


def test_generator_refuses_home_assistant_requests_unless_a_user_intent_covers_them(tmp_path):
    builtin = load_catalogue()
    rows = generate(builtin, 600, seed=2, none_fraction=0.5)
    texts = {r["text"].lower() for r in rows if r["intent"] == "none"}
    timers = {t for t in texts if "timer" in t}
    assert timers, "Home Assistant's timer sentences are out-of-scope material"

    yaml_file = tmp_path / "timer.yaml"
    yaml_file.write_text(
        "intents:\n"
        "  - name: start_timer\n"
        "    description: Start a kitchen timer.\n"
        "    parameters:\n"
        "      duration:\n"
        "        required: true\n"
        "        values: [5 minutes, ten minutes, an hour]\n"
        "    examples: ['set a timer for {duration}', 'start a {duration} timer']\n",
        encoding="utf-8",
    )
    with_timers = load_catalogue([yaml_file])
    rows = generate(with_timers, 600, seed=2, none_fraction=0.5)
    none_texts = [r["text"].lower() for r in rows if r["intent"] == "none"]
    assert not [t for t in none_texts if re.search(r"\btimers?\b", t)]
