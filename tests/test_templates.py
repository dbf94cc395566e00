"""The offline template generator: deterministic, balanced, valid, spans copied from the text."""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter

import pytest

from intentforge.catalogue import load_catalogue
from intentforge.data import lexicons
from intentforge.data.compose import THREE_SHARE
from intentforge.data.split import dedup_key
from intentforge.data.templates import generate
from intentforge.errors import IntentforgeError

ROWS = 1500


@pytest.fixture(scope="module")
def catalogue():
    return load_catalogue()


@pytest.fixture(scope="module")
def rows(catalogue):
    return generate(catalogue, ROWS, seed=13, none_fraction=0.12)


def test_same_seed_same_rows_other_seed_other_rows(catalogue, rows):
    assert generate(catalogue, ROWS, seed=13, none_fraction=0.12) == rows
    other = generate(catalogue, ROWS, seed=14, none_fraction=0.12)
    assert [r["text"] for r in other] != [r["text"] for r in rows]


def test_rows_have_the_dataset_shape(rows):
    assert len(rows) == ROWS
    assert len({r["id"] for r in rows}) == ROWS
    for row in rows:
        assert set(row) == {"id", "text", "intent", "parameters", "source", "style"}
        assert row["source"] == "templates"
        assert row["style"] in {"whisper", "lower", "typed"}
        assert row["text"] == row["text"].strip() and "  " not in row["text"]


def test_every_row_validates_and_renders_to_its_own_labels(catalogue, rows):
    for row in rows:
        call = catalogue.validate({"intent": row["intent"], "parameters": row["parameters"]})
        assert call.parameters == row["parameters"]
        rendered = json.loads(catalogue.render(call, row["text"]))
        assert rendered["intent"] == row["intent"]
        # A priority is written as the text says it, and that phrase means the row's number.
        if "priority" in row["parameters"]:
            phrase = rendered["parameters"]["priority"]
            assert phrase.lower() in row["text"].lower()
            assert catalogue.validate(rendered).parameters == row["parameters"]


def test_string_slots_are_exact_spans_of_the_text(rows):
    for row in rows:
        for slot, value in row["parameters"].items():
            if slot == "priority":
                assert value in {1, 2, 3, 4}
            else:
                assert isinstance(value, str) and value
                assert value in row["text"], (slot, value, row["text"])


def test_spans_hold_the_time_expression_not_its_preposition(rows):
    dates = [r["parameters"][s] for r in rows for s in ("due", "date") if s in r["parameters"]]
    assert len(dates) > 300
    assert not [d for d in dates if re.match(r"(?i)(on|by|at|over|for) ", d)]
    # ...while the preposition is still said
    said = [r["text"] for r in rows if re.search(r"(?i)\b(on|by) (friday|monday)\b", r["text"])]
    assert said


def test_intents_are_balanced_and_none_is_twelve_percent(rows):
    counts = Counter(r["intent"] for r in rows)
    assert counts["none"] == round(ROWS * 0.12)
    in_scope = [counts[n] for n in ("add_task", "get_weather", "send_email")]
    assert max(in_scope) - min(in_scope) <= 1
    assert sum(in_scope) + counts["none"] == ROWS


def test_slot_combinations_follow_the_slot_rates(rows):
    combos: dict[str, Counter[frozenset[str]]] = {}
    for row in rows:
        combos.setdefault(row["intent"], Counter())[frozenset(row["parameters"])] += 1
    said = {k: c for k, c in combos["add_task"].items() if "content" in k}
    assert len(said) == 8  # content with/without due, priority, project
    assert len(combos["get_weather"]) == 4
    assert len([k for k in combos["send_email"] if "to" in k]) == 4
    n = sum(said.values())
    # add_task rates: due 0.6, priority 0.3, project 0.3 -> content+due alone is 0.6*0.7*0.7
    assert abs(said[frozenset({"content", "due"})] - 0.294 * n) <= 2
    assert abs(said[frozenset({"content"})] - 0.196 * n) <= 2
    with_project = sum(c for combo, c in said.items() if "project" in combo)
    assert abs(with_project - 0.3 * n) <= 3


def test_a_few_rows_leave_a_required_slot_out_in_every_intent_that_has_one(catalogue, rows):
    asking = [
        r
        for r in rows
        if catalogue.missing(
            catalogue.validate({"intent": r["intent"], "parameters": r["parameters"]})
        )
    ]
    # A few percent of the rows, so the model learns to leave out what was not said without
    # starting to leave out what was.
    assert 0.02 * ROWS <= len(asking) <= 0.05 * ROWS
    by_intent = Counter(r["intent"] for r in asking)
    assert set(by_intent) == {"add_task", "send_email"}  # weather has no required slot
    per_intent = Counter(r["intent"] for r in rows)
    for intent, count in by_intent.items():
        # 8 % of the rows whose combinations a phrasing without the slot can say
        assert 0.04 * per_intent[intent] <= count <= 0.09 * per_intent[intent], intent
    emails = [r for r in asking if r["intent"] == "send_email"]
    # No recipient is said: outside the subject and body, the text names no contact.
    contacts = {c.lower() for c in lexicons.contacts() if len(c) > 3}
    for row in emails:
        words = f" {row['text'].lower()} "
        for value in row["parameters"].values():
            words = words.replace(value.lower(), " ")
        assert not [c for c in contacts if f" {c} " in words], row["text"]


def test_apportion_keeps_the_total_and_the_proportions():
    from intentforge.data.quotas import apportion as _apportion

    assert _apportion(10, [1, 1, 1]) in ([4, 3, 3], [3, 4, 3], [3, 3, 4])
    assert sum(_apportion(10, [1, 1, 1])) == 10
    assert _apportion(100, [0.6, 0.3, 0.1]) == [60, 30, 10]
    assert _apportion(7, [0.5, 0.5]) in ([4, 3], [3, 4])
    assert _apportion(0, [0.2, 0.8]) == [0, 0]


@pytest.mark.parametrize("fraction", [0.10, 0.15, 0.0])
def test_none_fraction_is_honoured(catalogue, fraction):
    rows = generate(catalogue, 200, seed=1, none_fraction=fraction)
    assert Counter(r["intent"] for r in rows)["none"] == round(200 * fraction)


def test_phrasing_is_broad(rows):
    texts = [r["text"] for r in rows]
    assert len(set(texts)) >= 0.99 * len(texts)
    # Every speech style, fillers and politeness wrappers all show up.
    styles = Counter(r["style"] for r in rows)
    assert all(styles[s] > 0.15 * ROWS for s in ("whisper", "lower", "typed"))
    lowered = [t.lower() for t in texts]
    for marker in ("can you", "please", "um", "don't let me forget", "remind me", "i need to"):
        assert any(marker in t for t in lowered), marker
    assert any(t.endswith("?") for t in texts) and any(t.endswith(".") for t in texts)
    assert any(t == t.lower() and not re.search(r"[,.?!]$", t) for t in texts)
    # Numbers both as digits and as words.
    assert any(re.search(r"\b(two|three|five|seven|thirty)\b", t) for t in lowered)
    assert any(re.search(r"\d", t) for t in texts)


def test_out_of_scope_rows_include_hard_negatives(rows):
    none_texts = [r["text"].lower() for r in rows if r["intent"] == "none"]
    assert len(set(none_texts)) > 0.95 * len(none_texts)
    near_misses = ("timer", "alarm", "text", "calendar", "list", "email", "call", "play", "what")
    found = {w for w in near_misses for t in none_texts if re.search(rf"\b{w}", t)}
    assert len(found) >= 7, found


def test_user_intent_from_yaml_is_filled_from_its_values_and_bounds(user_catalogue):
    rows = generate(user_catalogue, 600, seed=3, none_fraction=0.12)
    mine = [r for r in rows if r["intent"] == "set_thermostat"]
    assert abs(len(mine) - len([r for r in rows if r["intent"] == "add_task"])) <= 1
    for row in mine:
        params = row["parameters"]
        assert isinstance(params["temperature"], int) and 10 <= params["temperature"] <= 30
        assert params.get("room", "kitchen").lower() in {
            "kitchen",
            "living room",
            "bedroom",
            "bathroom",
        }
        assert params.get("mode", "eco") in {"heat", "eco"}
    assert {frozenset(r["parameters"]) for r in mine} == {
        frozenset({"temperature"}),
        frozenset({"temperature", "room"}),
        frozenset({"temperature", "mode"}),
    }
    # The user made thermostats in scope: no out-of-scope row may contradict that.
    assert not [r for r in rows if r["intent"] == "none" and "thermostat" in r["text"].lower()]


def test_empty_lexicon_is_a_clear_error(fixtures_dir):
    catalogue = load_catalogue([fixtures_dir / "empty_lexicon.yaml"])
    with pytest.raises(IntentforgeError, match="intent set_colour slot colour has no values"):
        generate(catalogue, 100, seed=1)


@pytest.mark.parametrize(
    ("intent_yaml", "message"),
    [
        (
            "{name: dim, parameters: {level: {type: integer, required: true}}, "
            "examples: ['dim to {percent}']}",
            r"uses \{percent\}, which is not one of its slots",
        ),
        (
            "{name: dim, parameters: {level: {type: integer, required: true, values: ['5']}}, "
            "examples: ['dim the lights']}",
            r"no example says its required slot \{level\}",
        ),
        (
            "{name: dim, parameters: {level: {type: integer, values: [low, high]}}, "
            "examples: ['dim to {level}']}",
            "not numbers written in digits",
        ),
        ("{name: dim, description: no examples}", "has no examples"),
    ],
)
def test_user_intents_that_cannot_be_generated_say_why(tmp_path, intent_yaml, message):
    path = tmp_path / "mine.yaml"
    path.write_text(f"intents: [{intent_yaml}]\n")
    with pytest.raises(IntentforgeError, match=message):
        generate(load_catalogue([path]), 50, seed=1)


def test_a_user_example_without_the_required_slot_teaches_asking_for_it(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(
        "intents:\n  - name: dim\n    parameters:\n"
        "      level: {type: integer, required: true, minimum: 1, maximum: 9, rate: 0.8}\n"
        "    examples: ['dim the lights to {level}', 'lights to {level}', 'dim the lights']\n"
    )
    catalogue = load_catalogue([path])
    rows = [r for r in generate(catalogue, 600, seed=3) if r["intent"] == "dim"]
    without = [r for r in rows if "level" not in r["parameters"]]
    assert abs(len(without) - 0.2 * len(rows)) <= 1  # rate 0.8: a fifth leave it out


def test_user_slots_named_like_builtin_ones_borrow_the_lexicons(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(
        "intents:\n  - name: book_flight\n    parameters:\n"
        "      destination: {type: string, required: true}\n      date: {type: string}\n"
        "    examples: ['book a flight to {destination} {date}', 'fly me to {destination}']\n"
    )
    rows = generate(load_catalogue([path]), 200, seed=2)
    flights = [r for r in rows if r["intent"] == "book_flight"]
    destinations = {r["parameters"]["destination"].lower().replace(",", "") for r in flights}
    assert len(destinations) > 20
    assert {p.lower().replace(",", "") for p in lexicons.places()} >= destinations


def test_bad_arguments_are_errors(catalogue):
    with pytest.raises(IntentforgeError, match="at least 1"):
        generate(catalogue, 0, seed=1)
    with pytest.raises(IntentforgeError, match="none fraction"):
        generate(catalogue, 10, seed=1, none_fraction=1.0)
    assert len(generate(catalogue, 1, seed=1)) == 1


def test_progress_is_reported_for_every_row(catalogue):
    seen: list[tuple[int, int]] = []
    generate(catalogue, 50, seed=1, on_progress=lambda done, total: seen.append((done, total)))
    assert seen[0] == (1, 50) and seen[-1] == (50, 50) and len(seen) == 50


def test_a_slot_declared_a_date_is_filled_with_days_whatever_its_name(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(
        "intents:\n  - name: book_flight\n    parameters:\n"
        "      destination: {type: string, required: true}\n"
        "      leaving: {type: string, kind: date}\n"
        "    examples: ['book a flight to {destination} {leaving}']\n"
    )
    rows = generate(load_catalogue([path]), 100, seed=2)
    leaving = {r["parameters"]["leaving"] for r in rows if r["intent"] == "book_flight"}
    days = {d.rpartition("|")[2].lower() for d in lexicons.dates("weather")}
    assert len(leaving) > 10
    assert {d.lower() for d in leaving} & days


def test_a_date_named_slot_declared_as_text_needs_values_of_its_own(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(
        "intents:\n  - name: log_day\n    parameters:\n"
        "      day: {type: string, required: true, kind: text}\n"
        "    examples: ['log {day}']\n"
    )
    with pytest.raises(IntentforgeError, match="slot day has no values"):
        generate(load_catalogue([path]), 50, seed=1)


def test_a_share_of_rows_say_two_or_three_requests_labelled_with_every_call(catalogue):
    rows = generate(catalogue, ROWS, seed=13, none_fraction=0.12, multi_fraction=0.2)
    assert len(rows) == ROWS  # the row count stays as configured
    multi = [r for r in rows if "calls" in r]
    assert len(multi) == round(ROWS * 0.2)
    sizes = Counter(len(r["calls"]) for r in multi)
    assert set(sizes) == {2, 3} and sizes[3] == round(len(multi) * THREE_SHARE)
    connectors = re.compile(r"(,? and|\balso\b|\bthen\b|after that|[.!?] )", re.IGNORECASE)
    for row in multi:
        first = row["calls"][0]
        assert (row["intent"], row["parameters"]) == (first["intent"], first["parameters"])
        for a, b in itertools.pairwise(row["calls"]):
            assert (a["intent"], b["intent"]) != ("none", "none")
        assert len(connectors.findall(row["text"])) >= len(row["calls"]) - 1, row["text"]
        # Each request's words as the joined text says them, in order.
        assert len(row["parts"]) == len(row["calls"])
        at = 0
        for part in row["parts"]:
            at = row["text"].index(part, at) + len(part)
        for call in row["calls"]:
            assert catalogue.validate(call).to_dict() == call
            for value in call["parameters"].values():
                assert not isinstance(value, str) or value in row["text"]
    assert any(re.search(r"[.?!] [A-Z]", r["text"]) for r in multi)  # sentences in a row
    kinds = Counter((r["calls"][0]["intent"], r["calls"][1]["intent"]) for r in multi)
    assert any(a == "none" for a, _ in kinds) and any(b == "none" for _, b in kinds)
    assert any(a != b for a, b in kinds) and len(kinds) >= 8  # mixed intents, both orders
    # Every call counts towards its intent's quota: the in-scope intents stay balanced.
    calls = Counter(c["intent"] for r in rows for c in r.get("calls", [r]))
    in_scope = [n for name, n in calls.items() if name != "none"]
    assert max(in_scope) - min(in_scope) <= 2, calls
    assert len({dedup_key(r["text"]) for r in rows}) == len(rows)
