"""The offline dataset generator: phrasings expanded over lexicons, balanced by quotas.

Every intent gets the same number of rows; within an intent, the combinations of slots its phrasings
can express share them by how often people mention each slot (`Intent.slot_rate`): equal shares
would put a project in half the tasks and teach the model to invent one. A few rows leave a
required slot out ("send an email", from phrasings without it), labelled without it: the runtime
asks for it instead of the model inventing it.
Lexicon values and phrasings are drawn from shuffled decks, so each is used before any repeats:
breadth of phrasing, not volume, is what lets the model understand requests nobody here wrote.
Out-of-scope `none` rows come from topics close to the intents (timers, texts, reading the to-do
list) so the model learns where the catalogue ends. A `multi_fraction` of the rows say two or three
requests in one sentence, joined from generated rows (data/compose.py), so every call still counts
towards its intent's quota. Deterministic for a given seed.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from intentforge.catalogue import OUT_OF_SCOPE, Catalogue, Intent
from intentforge.config import DataConfig
from intentforge.data import home_assistant, lexicons, out_of_scope
from intentforge.data.compose import THREE_SHARE, compose
from intentforge.data.out_of_scope import is_builtin
from intentforge.data.quotas import apportion, combo_weight, spread
from intentforge.data.speech import Segment, SegmentKind, speak, wrap
from intentforge.data.split import dedup_key
from intentforge.errors import IntentforgeError

SOURCE = "templates"

_PLACEHOLDER = re.compile(r"\{(\w+)(?::(\w+))?\}")
_TAIL_RATE = 0.25  # share of free-text values that get a tail (see lexicons/tasks.yaml)
_MAX_ATTEMPTS = 12  # redraws per row before a duplicate text is accepted (small user lexicons)
# User examples starting with one of these verbs are imperatives, which may be wrapped ("can you
# ..."); other openings ("I'm cold, ...", "what's ...") are used as written.
_IMPERATIVE_VERBS = frozenset((
    "add", "set", "make", "turn", "switch", "put", "send", "email", "book", "create", "start",
    "stop", "open", "close", "play", "show", "tell", "give", "find", "check", "get", "call",
    "remind", "schedule", "heat", "cool", "order", "buy", "cancel", "write", "text", "move",
    "change", "lock", "unlock", "dim", "raise", "lower", "increase", "decrease", "log", "record",
    "note", "save", "track", "run", "launch", "take", "read", "pause", "resume", "mark", "clear",
    "delete", "remove", "update", "reserve", "pay", "transfer",
))  # fmt: skip

ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class _Values:
    """Where a placeholder's values come from, and how they become labels."""

    texts: tuple[str, ...]
    kind: SegmentKind
    labels: dict[str, Any] | None = None  # for `value` slots: text -> label
    tails: tuple[str, ...] = ()  # said after a value now and then, and part of it


@dataclass(frozen=True)
class _Phrasing:
    template: str
    imperative: bool
    slots: frozenset[str]


class _Deck:
    """Draw without replacement, reshuffling when empty: every entry appears before any repeats."""

    def __init__(self, items: Sequence[Any], rng: random.Random) -> None:
        self._items = list(items)
        self._rng = rng
        self._left: list[Any] = []

    def draw(self) -> Any:
        if not self._left:
            self._left = list(self._items)
            self._rng.shuffle(self._left)
        return self._left.pop()


def _builtin_values(intent: Intent, slot: str, variant: str | None) -> _Values | None:
    """Lexicon for a built-in slot (or a user slot of the same name or date kind that brought no
    values)."""
    key = (slot, variant)
    kind = intent.slot_kind(slot)
    if key in {("content", None), ("task", None)}:
        return _Values(lexicons.tasks("actions"), "span", tails=lexicons.tasks("action_tails"))
    if key == ("content", "item") or key == ("item", None):
        return _Values(lexicons.tasks("items"), "span")
    if key == ("content", "thing"):
        return _Values(lexicons.tasks("things"), "span")
    if kind == "datetime":
        return _Values(lexicons.dates("noun" if variant == "noun" else "due"), "span")
    if kind == "date":
        days = lexicons.dates("weather")
        if variant == "noun":  # after "for": only days said without a preposition of their own
            days = tuple(d for d in days if "|" not in d and not d.startswith("in "))
        return _Values(days, "span")
    if slot in {"location", "city", "place", "destination"}:
        return _Values(lexicons.places(), "span")
    if slot in {"to", "recipient", "contact", "person"}:
        return _Values(lexicons.contacts(), "span")
    if slot == "subject":
        return _Values(
            lexicons.email_parts("subjects"), "span", tails=lexicons.email_parts("subject_tails")
        )
    if slot in {"body", "message"}:
        return _Values(
            lexicons.email_parts("bodies"), "span", tails=lexicons.email_parts("body_tails")
        )
    if slot in {"project", "list"}:
        return _Values(lexicons.projects(), "span")
    if slot == "priority":
        table = lexicons.priorities("adjective" if variant == "adjective" else "suffix")
        return _Values(tuple(table), "value", table)
    return None


def _slot_schema(intent: Intent, slot: str) -> dict[str, Any]:
    prop: dict[str, Any] = intent.parameters.model_json_schema()["properties"][slot]
    if "anyOf" in prop:
        options = [p for p in prop["anyOf"] if p.get("type") != "null"]
        prop = {**prop, **options[0]} if len(options) == 1 else prop
    return prop


def _user_values(intent: Intent, slot: str, variant: str | None) -> _Values:
    """Values for a user intent's slot: its own `values`, its enum or bounds, else a lexicon."""
    schema = _slot_schema(intent, slot)
    kind = schema.get("type")
    if slot in intent.spoken and slot not in intent.slot_values:
        spoken = {str(phrase): value for phrase, value in intent.spoken[slot].items()}
        return _Values(tuple(spoken), "value", spoken)
    given = tuple(intent.slot_values.get(slot, ()))
    if not given and "enum" in schema:
        given = tuple(str(v) for v in schema["enum"])
    if given:
        if "enum" in schema:
            return _Values(given, "protected", {v: v for v in given})
        if kind in {"integer", "number"}:
            convert = int if kind == "integer" else float
            try:
                return _Values(given, "value", {v: convert(v) for v in given})
            except ValueError:
                raise IntentforgeError(
                    f"intent {intent.name} slot {slot} is a {kind} but has values that are not "
                    f"numbers written in digits: {list(given)}"
                ) from None
        if kind == "boolean":
            raise IntentforgeError(
                f"intent {intent.name} slot {slot} is a boolean: it cannot be filled from text; "
                "leave it out of the examples"
            )
        return _Values(given, "span")
    low, high = schema.get("minimum"), schema.get("maximum")
    if kind == "integer" and low is not None and high is not None and high - low <= 1000:
        texts = tuple(str(v) for v in range(int(low), int(high) + 1))
        return _Values(texts, "value", {t: int(t) for t in texts})
    if kind == "string" or (kind == "integer" and slot == "priority"):
        found = _builtin_values(intent, slot, variant)
        if found is not None:
            return found
    raise IntentforgeError(
        f"intent {intent.name} slot {slot} has no values to fill its examples; give it "
        f"`values:` in the YAML file (or slot_values in Python)"
    )


def _phrasings(intent: Intent) -> list[_Phrasing]:
    """Built-in intents use the packaged phrasings; user intents their own examples."""
    known = lexicons.phrasings(intent.name) if is_builtin(intent) else None
    if known is not None:
        raw = [(t, True) for t in known["imperative"]] + [(t, False) for t in known["plain"]]
        raw += [
            (t, t.split()[0] in _IMPERATIVE_VERBS) for t in home_assistant.phrasings(intent.name)
        ]
    else:
        raw = []
        for example in intent.examples:
            words = example.split()
            raw.append((example, bool(words) and words[0].lower() in _IMPERATIVE_VERBS))
    if not raw:
        raise IntentforgeError(
            f"intent {intent.name} has no examples to generate data from; add `examples:` "
            "(phrasings with {slot} placeholders) to its declaration"
        )
    out = []
    for template, imperative in raw:
        slots = frozenset(m[1] for m in _PLACEHOLDER.finditer(template))
        unknown = sorted(slots - set(intent.slots))
        if unknown:
            raise IntentforgeError(
                f"intent {intent.name} example {template!r} uses {{{unknown[0]}}}, which is not "
                f"one of its slots ({', '.join(intent.slots) or 'none'})"
            )
        out.append(_Phrasing(template, imperative, slots))
    # A phrasing without a required slot ("send an email") asks for it; most must say it.
    required = set(intent.required_slots)
    if not any(required <= p.slots for p in out):
        lacking = sorted(required - set().union(*(p.slots for p in out)))
        raise IntentforgeError(
            f"intent {intent.name}: no example says its required slot "
            f"{{{(lacking or sorted(required))[0]}}} (examples that leave it out teach asking "
            "for it; the others must say it)"
        )
    return out


class _Filler:
    """Turns a template into segments, drawing slot values from decks."""

    def __init__(self, rng: random.Random, values: Callable[[str, str | None], _Values]) -> None:
        self._rng = rng
        self._values = values
        self._sources: dict[tuple[str, str | None], _Values] = {}
        self._decks: dict[tuple[str, str | None], _Deck] = {}

    def source(self, slot: str, variant: str | None) -> _Values:
        key = (slot, variant)
        if key not in self._sources:
            self._sources[key] = self._values(slot, variant)
        return self._sources[key]

    def fill(self, template: str, text_only: bool = False) -> list[Segment]:
        segments: list[Segment] = []
        chosen: dict[str, Segment] = {}
        position = 0
        for match in _PLACEHOLDER.finditer(template):
            literal = template[position : match.start()]
            position = match.end()
            slot, variant = match[1], match[2]
            if slot in chosen:  # the same placeholder twice means the same value twice
                segment = chosen[slot]
            else:
                key = (slot, variant)
                source = self.source(slot, variant)
                if key not in self._decks:
                    self._decks[key] = _Deck(source.texts, self._rng)
                said, _, value = str(self._decks[key].draw()).rpartition("|")
                literal += said  # "on |friday": "on" is said but is not part of the slot
                if source.tails and self._rng.random() < _TAIL_RATE:
                    value = f"{value} {self._rng.choice(source.tails)}"
                if text_only:
                    segment = Segment("text", value)
                else:
                    kind: SegmentKind = "protected" if "@" in value else source.kind
                    label = source.labels[value] if source.labels is not None else value
                    segment = Segment(kind, value, slot, label)
                chosen[slot] = segment
            # "a urgent task" -> "an urgent task"
            if re.search(r"(^|\s)a $", literal) and segment.text[:1].lower() in "aeiou":
                literal = literal[:-2] + "an "
            if literal:
                segments.append(Segment("text", literal))
            segments.append(segment)
        if template[position:]:
            segments.append(Segment("text", template[position:]))
        return segments


def _join(segments: Sequence[Segment]) -> str:
    text = "".join(s.text for s in segments)
    text = re.sub(r"\s+", " ", text).strip()
    return re.sub(r"\s+([,.?!])", r"\1", text)


def generate(
    catalogue: Catalogue,
    rows: int,
    seed: int,
    none_fraction: float = 0.12,
    *,
    multi_fraction: float = 0.0,
    on_progress: ProgressCallback | None = None,
) -> list[dict[str, Any]]:
    """Generate `rows` labelled requests: {"id", "text", "intent", "parameters", "source", "style"}
    and, for the `multi_fraction` that say two requests, "calls".

    Every row validates against `catalogue`, and every string slot is an exact span of the text.
    """
    if not 0 <= multi_fraction <= 0.5:
        raise IntentforgeError(f"multi fraction must be in [0, 0.5], got {multi_fraction}")
    n_multi = round(rows * multi_fraction)
    n_three = round(n_multi * THREE_SHARE)
    # A row saying k requests is made of k generated rows: generate k - 1 more for each.
    singles = _generate(catalogue, rows + n_multi + n_three, seed, none_fraction, on_progress)
    rng = random.Random(seed + 1)
    out = compose(singles, n_multi, rng, three=n_three)
    rng.shuffle(out)
    for number, row in enumerate(out):
        row["id"] = f"{SOURCE}-{seed}-{number:06d}"
    return out


def generate_from_config(
    catalogue: Catalogue, data: DataConfig, *, on_progress: ProgressCallback | None = None
) -> list[dict[str, Any]]:
    """`generate` with the rows, seed and fractions of the `data` settings: the dataset that
    `intentforge build` and `intentforge data generate` write."""
    return generate(
        catalogue,
        data.rows,
        data.seed,
        data.none_fraction,
        multi_fraction=data.multi_fraction,
        on_progress=on_progress,
    )


def _generate(
    catalogue: Catalogue,
    rows: int,
    seed: int,
    none_fraction: float,
    on_progress: ProgressCallback | None,
) -> list[dict[str, Any]]:
    if rows < 1:
        raise IntentforgeError(f"rows must be at least 1, got {rows}")
    if not 0 <= none_fraction < 1:
        raise IntentforgeError(f"none fraction must be in [0, 1), got {none_fraction}")
    rng = random.Random(seed)
    intents = [i for i in catalogue.intents if i.name != OUT_OF_SCOPE]
    n_none = round(rows * none_fraction) if intents else rows
    if not intents and rows:
        raise IntentforgeError("the catalogue has no intents besides 'none'; enable the built-ins")

    # (intent, phrasings of one slot combination, filler, how many rows)
    jobs: list[tuple[Intent, list[_Phrasing], _Filler, int]] = []
    for intent, quota in zip(intents, spread(rows - n_none, len(intents), rng), strict=True):
        phrasings = _phrasings(intent)
        source = partial(_builtin_source if is_builtin(intent) else _user_values, intent)
        filler = _Filler(rng, source)
        for p in phrasings:  # fail early, naming the slot that cannot be filled
            for m in _PLACEHOLDER.finditer(p.template):
                filler.source(m[1], m[2])
        combos = sorted({p.slots for p in phrasings}, key=lambda s: (len(s), sorted(s)))
        weights = [combo_weight(intent, combo) for combo in combos]
        for combo, count in zip(combos, apportion(quota, weights), strict=True):
            jobs.append((intent, [p for p in phrasings if p.slots == combo], filler, count))

    none_templates, none_fill = out_of_scope.templates(catalogue)
    none_filler = _Filler(rng, lambda slot, _variant: _Values(none_fill[slot], "text"))
    none_phrasings = [_Phrasing(t, False, frozenset()) for t in none_templates]
    jobs.append((catalogue[OUT_OF_SCOPE], none_phrasings, none_filler, n_none))

    seen: set[str] = set()
    out: list[dict[str, Any]] = []
    for intent, phrasings, filler, count in jobs:
        deck = _Deck(phrasings, rng)
        for _ in range(count):
            for _attempt in range(_MAX_ATTEMPTS):
                row = _make_row(catalogue, intent, deck.draw(), filler, rng)
                if dedup_key(row["text"]) not in seen:
                    break
            seen.add(dedup_key(row["text"]))
            out.append(row)
            if on_progress is not None:
                on_progress(len(out), rows)
    rng.shuffle(out)
    return out


def _builtin_source(intent: Intent, slot: str, variant: str | None) -> _Values:
    found = _builtin_values(intent, slot, variant)
    if found is None:
        raise IntentforgeError(f"no lexicon for the built-in placeholder {{{slot}}}")
    return found


def _make_row(
    catalogue: Catalogue, intent: Intent, phrasing: _Phrasing, filler: _Filler, rng: random.Random
) -> dict[str, Any]:
    is_none = intent.name == OUT_OF_SCOPE
    segments = filler.fill(phrasing.template, text_only=is_none)
    if phrasing.imperative and rng.random() < 0.4:
        segments = wrap(segments, rng)
    segments, style = speak(segments, rng)
    text = _join(segments)
    parameters = {
        s.slot: s.text.strip() if s.kind == "span" else s.label for s in segments if s.slot
    }
    call = catalogue.validate({"intent": intent.name, "parameters": parameters})
    for slot, value in call.parameters.items():
        if isinstance(value, str) and value not in text:
            raise AssertionError(f"slot {slot}={value!r} is not a span of {text!r}")  # a bug
    return {
        "id": "",
        "text": text,
        "intent": call.intent,
        "parameters": call.parameters,
        "source": SOURCE,
        "style": style,
    }
