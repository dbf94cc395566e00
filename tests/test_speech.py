"""Speech-style rewriting: numbers as words or digits, styles that keep slots exact spans."""

from __future__ import annotations

import random

import pytest

from intentforge.data.speech import (
    Segment,
    digits_to_words,
    number_words,
    ordinal_words,
    speak,
    words_to_digits,
)


@pytest.mark.parametrize(
    ("digits", "words"),
    [
        ("tomorrow at 7:30pm", "tomorrow at seven thirty pm"),
        ("at 5 p.m.", "at five pm"),
        ("at 6:00", "at six o'clock"),
        ("at 9:05 am", "at nine oh five am"),
        ("on the 3rd of March", "on the third of March"),
        ("the 21st", "the twenty first"),
        ("in 45 minutes", "in forty five minutes"),
        ("buy 2 pints", "buy two pints"),
        ("call 0207 946 0123", "call 0207 946 0123"),
        ("pay 1,250 pounds", "pay 1,250 pounds"),
    ],
)
def test_digits_become_words_like_an_unformatted_engine(digits, words):
    assert digits_to_words(digits) == words


def test_number_and_ordinal_words():
    assert [number_words(n) for n in (0, 13, 20, 42, 99, 100)] == [
        "zero", "thirteen", "twenty", "forty two", "ninety nine", "100"
    ]  # fmt: skip
    assert [ordinal_words(n) for n in (1, 2, 12, 20, 30, 31)] == [
        "first", "second", "twelfth", "twentieth", "thirtieth", "thirty first"
    ]  # fmt: skip


def test_words_become_digits_but_not_in_idioms():
    assert words_to_digits("in two hours, priority one") == "in 2 hours, priority 1"
    assert words_to_digits("no one knows, this one") == "no one knows, this one"


def test_every_style_keeps_slots_as_exact_spans_and_protects_addresses():
    segments = [
        Segment("text", "email "),
        Segment("protected", "Tom.Baker@example.com", "to", "Tom.Baker@example.com"),
        Segment("text", " about "),
        Segment("span", "the 3rd of March plans", "subject", None),
        Segment("text", ", priority "),
        Segment("value", "two", "priority", 2),
    ]
    styles = set()
    for seed in range(200):
        out, style = speak(segments, random.Random(seed))
        styles.add(style)
        text = "".join(s.text for s in out)
        by_slot = {s.slot: s for s in out if s.slot}
        assert by_slot["to"].text == "Tom.Baker@example.com"
        assert by_slot["subject"].text in text
        assert by_slot["priority"].label == 2
        if style == "lower":
            assert text == text.lower().replace("tom.baker", "Tom.Baker")
            assert "," not in text
        if style == "whisper":
            assert text[0].isupper() and text[-1] in ".?!"
    assert styles == {"whisper", "lower", "typed"}
