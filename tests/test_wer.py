"""Word error rate: only words count, not how a recogniser writes them."""

from __future__ import annotations

import pytest

from intentforge.evaluate.wer import word_error_rate, word_errors, words


def test_case_punctuation_and_number_spellings_are_not_errors() -> None:
    assert words("Remind me at 9am, please.") == words("remind me at nine a.m. please")
    assert words("It’s 7:30") == ["it's", "seven", "thirty"]
    assert word_errors("Add milk to my list", "add milk to my list.") == (0, 5)


@pytest.mark.parametrize(
    ("said", "heard", "errors"),
    [
        ("add cereal to my shopping list", "and serial to my shopping list.", 2),  # substitutions
        ("email anna that i'll be late", "email that i'll be late", 1),  # a deletion
        ("play some jazz", "play me some jazz", 1),  # an insertion
        ("weather", "", 1),  # nothing heard: every word deleted
    ],
)
def test_each_substitution_deletion_and_insertion_counts_one(
    said: str, heard: str, errors: int
) -> None:
    assert word_errors(said, heard)[0] == errors


def test_the_rate_is_over_all_reference_words_not_a_mean_of_rows() -> None:
    # 1 error in 1 word and 0 in 9: 1/10, not the mean of 100 % and 0 %.
    pairs = [("weather", "whether"), ("what is the weather like in paris on friday", "")]
    assert word_error_rate(pairs[:1]) == 1.0
    assert word_error_rate([pairs[0], (pairs[1][0], pairs[1][0])]) == pytest.approx(0.1)
    assert word_error_rate([]) is None
