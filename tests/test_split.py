"""Dedup and the stratified split: no shared or near-copied text, intents in proportion."""

from __future__ import annotations

from collections import Counter

import pytest

from intentforge.catalogue import load_catalogue
from intentforge.data.split import dedup_key, deduplicate, split
from intentforge.data.templates import generate
from intentforge.errors import IntentforgeError


def row(text: str, intent: str = "none", number: int = 0) -> dict:
    return {"id": f"r{number}", "text": text, "intent": intent, "parameters": {}, "source": "dev"}


@pytest.fixture(scope="module")
def generated():
    return generate(load_catalogue(), 1500, seed=13, none_fraction=0.12)


def test_dedup_key_ignores_case_punctuation_and_spacing():
    assert dedup_key("  Remind me,  to BUY milk! ") == dedup_key("remind me to buy milk")
    assert dedup_key("email sarah@example.com") == "email sarah@example.com"
    assert dedup_key("what's up") != dedup_key("whats up")


def test_exact_and_near_duplicates_are_removed_keeping_the_first():
    rows = [
        row("Play some jazz.", number=0),
        row("play some jazz", number=1),  # exact after normalising
        row("please play some jazz music now", number=2),
        row("please play some jazz music now!!", number=3),  # exact
        row("please play some jazz music nowz", number=4),  # near
        row("tell me a joke", number=5),
        row("please play some jazz music noww", intent="other", number=6),  # near, other intent
        row("Tell me a joke.", intent="other", number=7),  # same text, other label: exact
    ]
    kept, exact, near = deduplicate(rows, near_threshold=95)
    assert [r["id"] for r in kept] == ["r0", "r2", "r5", "r6"]
    assert (exact, near) == (3, 1)
    kept, exact, near = deduplicate(rows, near_threshold=100)
    assert (len(kept), exact, near) == (5, 3, 0)


def test_split_sizes_disjointness_and_stratification(generated):
    result = split(generated, train_rows=1000, test_rows=200, seed=13)
    assert (len(result.train), len(result.test)) == (1000, 200)
    train_keys = {dedup_key(r["text"]) for r in result.train}
    test_keys = {dedup_key(r["text"]) for r in result.test}
    assert len(train_keys) == 1000 and len(test_keys) == 200
    assert not train_keys & test_keys
    assert result.unused == len(generated) - 1200 - result.exact_duplicates - result.near_duplicates

    total = Counter(r["intent"] for r in generated)
    for part, size in ((result.train, 1000), (result.test, 200)):
        counts = Counter(r["intent"] for r in part)
        assert set(counts) == set(total)
        for intent, count in counts.items():
            expected = size * total[intent] / len(generated)
            assert abs(count - expected) <= 0.03 * size + 1, (intent, count, expected)


def test_split_is_deterministic_with_its_seed(generated):
    first = split(generated, 300, 60, seed=1)
    assert split(generated, 300, 60, seed=1) == first
    assert split(generated, 300, 60, seed=2).test != first.test


def test_too_few_rows_shrink_both_splits_in_proportion(generated):
    rows = generated[:120]
    result = split(rows, train_rows=1000, test_rows=200, seed=1)
    unique = len(rows) - result.exact_duplicates - result.near_duplicates
    assert len(result.train) + len(result.test) == unique
    assert len(result.test) == unique * 200 // 1200


def test_excluded_texts_are_in_neither_split(generated):
    held_out = [generated[0]["text"].upper(), generated[1]["text"] + "!", "not in the data"]
    result = split(generated, 300, 60, seed=1, exclude=held_out)
    assert result.excluded == 2
    keys = {dedup_key(r["text"]) for r in result.train + result.test}
    assert not keys & {dedup_key(t) for t in held_out}


def test_split_errors(generated):
    with pytest.raises(IntentforgeError, match="at least 1 row"):
        split(generated, 0, 10, seed=1)
    with pytest.raises(IntentforgeError, match="only 1 unique row"):
        split([row("hi"), row("Hi!")], 10, 10, seed=1)
