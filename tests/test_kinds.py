"""Slot kinds: declared in the catalogue (Python or YAML), read by generator, runtime, eval."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from intentforge.catalogue import BUILTIN_INTENTS, load_catalogue
from intentforge.catalogue.kinds import kind_by_name, number_words, ordinal_words
from intentforge.errors import IntentforgeError
from intentforge.evaluate.metrics import Prediction, compute_metrics
from intentforge.evaluate.values import values_equal


def test_builtin_slots_declare_their_kinds() -> None:
    catalogue = load_catalogue()
    assert catalogue["add_task"].slot_kinds == {
        "content": "text",
        "due": "datetime",
        "priority": "spoken",
        "project": "list",
    }
    assert catalogue["get_weather"].date_slots == {"date": "date"}
    assert catalogue["send_email"].date_slots == {}


def test_an_undeclared_string_slot_named_like_a_date_is_one() -> None:
    assert [kind_by_name(s) for s in ("due", "when", "deadline", "day", "room")] == [
        "datetime", "datetime", "datetime", "date", "text",
    ]  # fmt: skip


def write(tmp_path: Path, slots: str) -> Path:
    path = tmp_path / "mine.yaml"
    path.write_text(
        f"intents:\n  - name: book_table\n    parameters:\n{slots}"
        "    examples: ['book a table {when}']\n"
    )
    return path


def test_yaml_slots_take_a_kind_and_default_by_name(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "      when: {type: string}\n"
        "      arrival: {type: string, kind: datetime}\n"
        "      day: {type: string, kind: text}\n"
        "      seats: {type: integer}\n"
        "      size: {type: string, kind: spoken, spoken: {small: s, large: l}}\n",
    )
    kinds = load_catalogue([path])["book_table"].slot_kinds
    assert kinds == {
        "when": "datetime",
        "arrival": "datetime",
        "day": "text",
        "seats": "text",
        "size": "spoken",
    }


@pytest.mark.parametrize(
    ("slot", "message"),
    [
        ("{type: string, kind: moment}", r"when has kind 'moment'; use one of text, date"),
        ("{type: integer, kind: date}", r"when is a date, so it must be a string slot"),
        ("{type: string, kind: spoken}", r"when is spoken but has no phrases"),
        ("{type: string, kind: date, spoken: {now: x}}", r"has spoken phrases, so its kind is"),
    ],
)
def test_a_wrong_kind_is_a_clear_error_naming_the_file(
    tmp_path: Path, slot: str, message: str
) -> None:
    path = write(tmp_path, f"      when: {slot}\n")
    with pytest.raises(IntentforgeError, match=message) as err:
        load_catalogue([path])
    assert str(err.value).startswith(f"{path}: slot book_table.when")


def test_a_python_intent_may_only_give_kinds_to_its_slots() -> None:
    with pytest.raises(IntentforgeError, match="has no slot 'when' to give a kind"):
        replace(BUILTIN_INTENTS[0], kinds={"when": "date"})


def test_the_metric_ignores_connectors_on_exactly_the_catalogues_date_slots() -> None:
    assert values_equal("friday", "due by Friday", "due")  # by name, without a catalogue
    assert values_equal("friday", "before friday", "leaving", "date")
    assert not values_equal("friday", "on friday", "due", "text")
    said = Prediction(
        id="1",
        text="fly out on friday",
        gold_intent="fly",
        gold_parameters={"leaving": "friday"},
        intent="fly",
        parameters={"leaving": "on friday"},
    )
    as_date = compute_metrics([said], {"fly": {"leaving": "date"}, "none": {}})
    as_names = compute_metrics([said], {"fly": ("leaving",), "none": ()})
    assert as_date.slot_exact_match == 1.0 and as_date.per_slot["fly.leaving"].tp == 1
    assert as_names.slot_exact_match == 0.0  # "leaving" is text unless the catalogue says


def test_number_words_come_from_one_table() -> None:
    assert [number_words(n) for n in (7, 12, 42, 100)] == ["seven", "twelve", "forty two", "100"]
    assert [ordinal_words(n) for n in (1, 21, 30)] == ["first", "twenty first", "thirtieth"]
