"""The hand-written dev sets (data/dev, and data/dev2 written blind from the intent descriptions
only): valid, unique, balanced, labelled with spoken spans, never trained on."""

from __future__ import annotations

import importlib.util
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from intentforge.catalogue import OUT_OF_SCOPE, load_catalogue
from intentforge.data.jsonl import read_dataset
from intentforge.prompt import normalise_text

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
DEV_DIR = DATA_DIR / "dev"
# Each set: its smallest size and the share of out-of-scope rows it holds.
SETS = {"dev": (180, (0.15, 0.3)), "dev2": (400, (0.45, 0.6))}


@pytest.fixture(scope="module", params=sorted(SETS))
def rows(request):
    found = read_dataset(DATA_DIR / request.param)
    for row in found:
        assert row["source"] == request.param, row["id"]
    return found


def test_dev_set_is_big_enough_and_only_dev_rows(rows):
    assert len(rows) >= SETS[rows[0]["source"]][0]
    assert {tuple(sorted(r)) for r in rows} == {("id", "intent", "parameters", "source", "text")}


def test_every_dev_row_validates_against_the_catalogue(rows):
    catalogue = load_catalogue()
    for row in rows:
        call = catalogue.validate({"intent": row["intent"], "parameters": row["parameters"]})
        # Labels are already canonical: nothing dropped or coerced by validation.
        assert call.parameters == row["parameters"], row["id"]


def test_ids_and_texts_are_unique(rows):
    ids = Counter(r["id"] for r in rows)
    assert [i for i, n in ids.items() if n > 1] == []
    texts = Counter(normalise_text(r["text"]).casefold() for r in rows)
    assert [t for t, n in texts.items() if n > 1] == []


def test_intents_are_balanced_with_a_large_out_of_scope_share(rows):
    counts = Counter(r["intent"] for r in rows)
    assert set(counts) == set(load_catalogue().names)
    for intent, n in counts.items():
        assert n / len(rows) >= 0.12, intent
    low, high = SETS[rows[0]["source"]][1]
    assert low <= counts[OUT_OF_SCOPE] / len(rows) <= high


def test_text_labels_are_verbatim_spoken_spans(rows):
    for row in rows:
        for slot, value in row["parameters"].items():
            if isinstance(value, str):
                assert value.casefold() in row["text"].casefold(), (row["id"], slot)


def test_dev_set_covers_the_hard_cases(rows):
    by_intent: dict[str, list[dict]] = {}
    for row in rows:
        by_intent.setdefault(row["intent"], []).append(row)
    weather = by_intent["get_weather"]
    assert any("location" not in r["parameters"] for r in weather)
    assert any(not r["parameters"] for r in weather)
    email = by_intent["send_email"]
    assert any(set(r["parameters"]) == {"to"} for r in email)
    assert any({"subject", "body"} <= set(r["parameters"]) for r in email)
    tasks = by_intent["add_task"]
    assert {1, 2, 3, 4} <= {r["parameters"].get("priority") for r in tasks}
    assert sum("project" in r["parameters"] for r in tasks) >= 5
    assert sum("due" in r["parameters"] for r in tasks) >= 30
    lengths = [len(r["text"].split()) for r in rows]
    assert min(lengths) <= 2
    assert max(lengths) >= 18


def _generated_texts() -> dict[str, str]:
    """Texts of the default generated training set (the offline generator, default settings),
    by their loose key."""
    from intentforge.config import load_settings
    from intentforge.data.templates import generate

    data = load_settings().data
    produced = generate(load_catalogue(), data.rows, data.seed, data.none_fraction)
    return {_loose_key(row["text"]): row["text"] for row in produced}


def _loose_key(text: str) -> str:
    """Text compared without case, punctuation or spacing: near-duplicates count as overlap."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.casefold()).split())


@pytest.mark.skipif(
    importlib.util.find_spec("intentforge.data.templates") is None,
    reason="the offline generator (intentforge.data.templates) is not in this tree",
)
def test_no_dev_text_is_in_the_generated_training_set(rows):
    """The dev sets were written apart from the templates: at most a few coincidences on short,
    common requests ("good morning", "what's the weather"), and the build's split drops those."""
    from intentforge.data.split import split

    generated = _generated_texts()
    assert generated, "the generator produced nothing"
    overlap = [r for r in rows if _loose_key(r["text"]) in generated]
    assert len(overlap) <= max(2, len(rows) // 20), [r["id"] for r in overlap]
    assert all(len(r["text"].split()) <= 8 for r in overlap), [r["text"] for r in overlap]
    produced = [{"text": t, "intent": "none", "parameters": {}} for t in generated.values()]
    kept = split(produced, len(produced) - 1, 1, seed=1, exclude=[r["text"] for r in rows])
    kept_keys = {_loose_key(r["text"]) for r in kept.train + kept.test}
    assert not [r["id"] for r in overlap if _loose_key(r["text"]) in kept_keys]


@pytest.mark.parametrize("name", sorted(SETS))
def test_dev_files_are_one_json_object_per_line(name):
    files = sorted((DATA_DIR / name).glob("*.jsonl"))
    assert files
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            assert isinstance(json.loads(line), dict), f"{path.name}:{number}"


def test_the_multi_request_set_is_valid_varied_and_never_generated() -> None:
    """data/dev-multi: at least 60 requests of two or three calls each, written by hand from
    the intent descriptions before the generator's multi-request rows were read."""
    from intentforge.config import load_settings
    from intentforge.data.jsonl import row_calls
    from intentforge.data.templates import generate

    catalogue = load_catalogue()
    rows = read_dataset(DATA_DIR / "dev-multi", catalogue)
    assert len(rows) >= 60
    assert len({_loose_key(r["text"]) for r in rows}) == len(rows)
    calls = [row_calls(r) for r in rows]
    assert all(2 <= len(c) <= 3 for c in calls)
    for row, said in zip(rows, calls, strict=True):
        for call in said:
            for value in call["parameters"].values():
                assert not isinstance(value, str) or value.casefold() in row["text"].casefold()
    assert sum(any(c["intent"] == OUT_OF_SCOPE for c in s) for s in calls) >= 10
    assert sum(any(catalogue.missing(catalogue.validate(c)) for c in s) for s in calls) >= 3
    assert sum(len(s) == 3 for s in calls) >= 2
    assert any(r["text"][0].isupper() and r["text"][-1] in ".?" for r in rows)  # written
    assert sum(r["text"] == r["text"].lower() for r in rows) >= 30  # as transcribed
    data = load_settings().data
    produced = generate(catalogue, data.rows, data.seed, data.none_fraction, multi_fraction=0.06)
    generated = {_loose_key(r["text"]) for r in produced}
    assert not [r["id"] for r in rows if _loose_key(r["text"]) in generated]
