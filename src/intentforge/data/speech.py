"""Make template text look like speech-to-text output, keeping every slot an exact span of the text.

A request is built as segments (literal template text, slot values); styles transform each segment
on its own, so a slot's label is always the transformed value as it appears in the final text.
Styles follow what real engines produce: Whisper capitalises and punctuates and writes times as
digits; Vosk-like engines write lower case, no punctuation, numbers as words. Fillers, politeness
wrappers and occasional recognition slips add the noise people and engines make.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

from intentforge.catalogue.kinds import TENS, UNITS, number_words, ordinal_words

SegmentKind = Literal["text", "span", "value", "protected"]


@dataclass(frozen=True)
class Segment:
    """A piece of a request. `span`: a slot whose label is its text; `value`: a slot whose label
    is fixed (priority 2 said as "p2"); `protected`: a slot written exactly as labelled (e-mail
    addresses, enum values); `text`: template words."""

    kind: SegmentKind
    text: str
    slot: str | None = None
    label: Any = None


STYLES: tuple[tuple[str, float], ...] = (("whisper", 0.45), ("lower", 0.35), ("typed", 0.20))

_FILLERS = (
    "um", "uh", "hey", "okay so", "so", "hmm", "oh and", "right", "alright", "er", "okay",
    "hey there", "yeah", "um so", "oh", "quick one", "before I forget", "while I think of it",
    "one more thing", "hey assistant", "okay assistant", "sorry", "actually", "uh hey",
    "I'm heading out", "right so",
)  # fmt: skip
_WRAPPERS = (
    "can you {}", "could you {}", "please {}", "{} please", "would you {}", "can you please {}",
    "I want you to {}", "I'd like you to {}", "will you {}", "go ahead and {}", "I need you to {}",
    "{} for me", "could you please {}", "{} thanks", "do me a favour and {}", "{} thank you",
    "{} if you can", "{} when you get a chance", "just {}", "can you just {}", "{} cheers",
)  # fmt: skip
_QUESTION_WORDS = frozenset(
    [
        "what",
        "what's",
        "whats",
        "how",
        "how's",
        "is",
        "are",
        "am",
        "do",
        "does",
        "did",
        "can",
        "could",
        "would",
        "will",
        "when",
        "where",
        "which",
        "who",
        "why",
        "should",
        "any",
        "shall",
        "isn't",
        "won't",
    ]
)
_SLIPS: tuple[tuple[str, str], ...] = (
    (r"\bweather\b", "whether"),
    (r"\bto-do\b", "todo"),
    (r"\bto-do\b", "to do"),
    (r"\bwhat's\b", "whats"),
    (r"\bwhat's\b", "what is"),
    (r"\bemail\b", "e-mail"),
    (r"\bemail\b", "e mail"),
    (r"\bI'm\b", "im"),
    (r"\bdon't\b", "dont"),
    (r"\bremind\b", "remine"),
    (r"\bplease\b", "pleas"),
    (r"\bthe\b", "the the"),
    (r"\bthe ", ""),
    (r"\bmy ", "by "),
    (r"\bto my\b", "tomy"),
    (r"\bfor\b", "four"),
    (r"\bwrite\b", "right"),
    (r"\bcan you\b", "can ya"),
    (r"\bgoing to\b", "gonna"),
    (r"\bwant to\b", "wanna"),
)
# Typing shortcuts and misspellings people make when they type instead of speak; applied to slot
# values too (the label follows the text: the resolver, not the model, copes with "tmrw").
_TYPOS: tuple[tuple[str, str], ...] = (
    (r"\btonight\b", "tonite"),
    (r"\btomorrow\b", "tmrw"),
    (r"\btomorrow\b", "tomorow"),
    (r"\bplease\b", "pls"),
    (r"\byou\b", "u"),
    (r"\bthanks\b", "thx"),
    (r"\bweather\b", "wether"),
    (r"\bforecast\b", "forcast"),
    (r"\bremind\b", "remnd"),
    (r"\bemail\b", "emial"),
    (r"\bFrancisco\b", "Fransisco"),
    (r"\bwednesday\b", "wensday"),
    (r"\bfebruary\b", "febuary"),
    (r"\bthe\b", "teh"),
)
_DAYS_MONTHS = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "christmas",
    "easter",
]
_CAPITALISE = re.compile(r"\b(" + "|".join(d for d in _DAYS_MONTHS if d != "may") + r")\b")


def _time_words(match: re.Match[str]) -> str:
    hour, minute = int(match.group(1)), int(match.group(2))
    if minute == 0:
        return number_words(hour) + " o'clock"
    if minute < 10:
        return f"{number_words(hour)} oh {number_words(minute)}"
    return f"{number_words(hour)} {number_words(minute)}"


def digits_to_words(text: str) -> str:
    """Spell numbers as an engine without number formatting would: "7:30pm" -> "seven thirty pm"."""
    text = re.sub(r"\b(\d{1,2}) ?([ap])\.?m\.?(?=\W|$)", lambda m: f"{m[1]} {m[2]}m", text)
    text = re.sub(r"\b(\d{1,2}):(\d{2})\b", _time_words, text)
    text = re.sub(r"\b(\d{1,2})(st|nd|rd|th)\b", lambda m: ordinal_words(int(m[1])), text)
    return re.sub(
        r"(?<![\d,.:])\b(\d{1,2})\b(?![\d,.:]\d)", lambda m: number_words(int(m[1])), text
    )


# What Whisper writes as digits: one to thirty, as an engine hears "in two hours".
_WORD_NUMBERS = {w: str(i) for i, w in enumerate(UNITS) if i >= 1} | {
    TENS[2]: "20",
    TENS[3]: "30",
}
_WORD_NUMBER = re.compile(
    r"(?<!\bno )(?<!\bthis )(?<!\bthat )\b(" + "|".join(_WORD_NUMBERS) + r")\b(?! of\b)"
)


def words_to_digits(text: str) -> str:
    """The reverse, as Whisper tends to write them: "in two hours" -> "in 2 hours"."""
    return _WORD_NUMBER.sub(lambda m: _WORD_NUMBERS[m[1]], text)


def _map(
    segments: list[Segment], fn: Callable[[str], str], kinds: tuple[str, ...]
) -> list[Segment]:
    return [replace(s, text=fn(s.text)) if s.kind in kinds else s for s in segments]


def _is_question(segments: list[Segment]) -> bool:
    text = " ".join(s.text for s in segments).lower()
    words = re.findall(r"[a-z']+", text)
    if words[:2] == ["do", "me"]:  # "do me a favour and ...": a request, not a question
        words = words[2:]
    if words and words[0] in _QUESTION_WORDS:
        return True
    return any(
        clause.split()[0] in _QUESTION_WORDS
        for clause in re.split(r"[,:] ", text)[1:]
        if clause.split()
    )


def _strip_punctuation(text: str) -> str:
    text = re.sub(r"\b([ap])\.m\.", r"\1m", text)
    text = re.sub(r"[,;!?]", "", text)
    return re.sub(r"\.(?=\s|$)", "", text)


def _lower(segments: list[Segment]) -> list[Segment]:
    return [
        replace(s, text=_strip_punctuation(s.text.lower())) if s.kind != "protected" else s
        for s in segments
    ]


def _whisper(segments: list[Segment], rng: random.Random) -> list[Segment]:
    def proper(text: str) -> str:
        text = _CAPITALISE.sub(lambda m: m[1].capitalize(), text)
        return re.sub(r"\bi\b", "I", re.sub(r"\bi'(m|d|ll|ve)\b", r"I'\1", text))

    out = _map(segments, proper, ("text", "span", "value"))
    first = out[0]
    if first.kind != "protected" and first.text:
        out[0] = replace(first, text=first.text[0].upper() + first.text[1:])
    question = _is_question(out)
    end = "?" if question else ("!" if rng.random() < 0.04 else ".")
    last = out[-1]
    if last.kind == "text":
        out[-1] = replace(last, text=last.text.rstrip(" ,.") + end)
    else:
        out.append(Segment("text", end))
    return out


def _slip(
    segments: list[Segment],
    rng: random.Random,
    slips: tuple[tuple[str, str], ...] = _SLIPS,
    kinds: tuple[str, ...] = ("text",),
) -> list[Segment]:
    """One slip in segments of `kinds` (recognition slips stay out of slots; typos may not)."""
    candidates = [
        (i, pattern, new)
        for i, s in enumerate(segments)
        if s.kind in kinds
        for pattern, new in slips
        if re.search(pattern, s.text)
    ]
    if not candidates:
        return segments
    i, pattern, new = rng.choice(candidates)
    out = list(segments)
    out[i] = replace(out[i], text=re.sub(pattern, new, out[i].text, count=1))
    return out


_WORD = re.compile(r"[A-Za-z]{4,}")


def _keystroke(segments: list[Segment], rng: random.Random) -> list[Segment]:
    """One keystroke error (a letter dropped, doubled, swapped with the next, or a vowel mistyped)
    in a word of the phrasing, so the model reads "whether", "remnd" and "emial" for what they are.
    The curated typos above cover the famous ones; this covers the rest. Hand-written rather than a
    typo library: it must draw from the generator's seeded rng and leave slot values intact."""
    words = [
        (i, m) for i, s in enumerate(segments) if s.kind == "text" for m in _WORD.finditer(s.text)
    ]
    if not words:
        return segments
    i, match = rng.choice(words)
    word, at = match[0], rng.randrange(1, len(match[0]) - 1)
    edit = rng.choice(("drop", "double", "swap", "vowel"))
    if edit == "drop":
        new = word[:at] + word[at + 1 :]
    elif edit == "double":
        new = word[:at] + word[at] + word[at:]
    elif edit == "swap":
        new = word[: at - 1] + word[at] + word[at - 1] + word[at + 1 :]
    else:
        vowels = [j for j, c in enumerate(word) if c in "aeiou"] or [at]
        j = rng.choice(vowels)
        new = word[:j] + rng.choice([v for v in "aeiou" if v != word[j]]) + word[j + 1 :]
    text = segments[i].text
    out = list(segments)
    out[i] = replace(out[i], text=text[: match.start()] + new + text[match.end() :])
    return out


def wrap(segments: list[Segment], rng: random.Random) -> list[Segment]:
    """Wrap an imperative in a politeness form: "can you ...", "... please"."""
    before, _, after = rng.choice(_WRAPPERS).partition("{}")
    out = list(segments)
    if before:
        out.insert(0, Segment("text", before))
    if after:
        out.append(Segment("text", after))
    return out


def speak(segments: list[Segment], rng: random.Random) -> tuple[list[Segment], str]:
    """Restyle a request as one speech-to-text engine would write it; returns the style's name."""
    style = rng.choices([s for s, _ in STYLES], weights=[w for _, w in STYLES])[0]
    out = list(segments)
    if rng.random() < 0.06:
        out = _slip(out, rng)
    if rng.random() < 0.22:
        filler = rng.choice(_FILLERS)
        out.insert(0, Segment("text", filler + (", " if style == "whisper" else " ")))
    if style == "lower":
        out = _lower(out)
        if rng.random() < 0.6:
            out = _map(out, digits_to_words, ("text", "span", "value"))
    elif style == "whisper":
        if rng.random() < 0.5:
            out = _map(out, words_to_digits, ("span", "value"))
        out = _whisper(out, rng)
    else:
        if rng.random() < 0.3:
            out = _map(out, digits_to_words, ("text", "span", "value"))
        if rng.random() < 0.2:
            out = _slip(out, rng, _TYPOS, ("text", "span", "value"))
        if rng.random() < 0.35:
            out = _keystroke(out, rng)
    return out, style
