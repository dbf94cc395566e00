"""Requests sampled from Home Assistant's curated sentence templates (`home-assistant-intents`).

Home Assistant's intents (lights, climate, timers, media, covers, vacuums, the time, broadcasts,
...) are what people say to a home voice assistant, and none of them is a built-in intent here:
they are out-of-scope material written by other people, with hard negatives such as "what's the
temperature in the kitchen" next to weather and "cancel my timer" next to tasks.

hassil parses the templates; its own sampler enumerates every expansion (hundreds of thousands
for English), so the parsed tree is walked at random instead, one choice per alternative, and list
placeholders are filled from the package's own value lists or from ours (areas, device names).
"""

from __future__ import annotations

import random
import re
from functools import cache
from typing import Any

from intentforge.errors import IntentforgeError

LANGUAGE = "en"
LICENCE = "home-assistant-intents: Apache-2.0 (sentences); hassil: Apache-2.0 (parser)"

# Values for the lists Home Assistant fills from the user's own home (wildcards and entity names).
_HOME_VALUES: dict[str, tuple[str, ...]] = {
    "area": ("kitchen", "living room", "bedroom", "office", "garage", "hallway", "basement",
             "bathroom", "kids room", "dining room", "porch", "garden"),
    "floor": ("upstairs", "downstairs", "first floor", "second floor", "ground floor", "attic"),
    "name": ("ceiling fan", "porch light", "TV", "desk lamp", "garage door", "front door",
             "coffee maker", "kitchen speaker", "air purifier", "back door lock", "hallway lamp",
             "bedroom blinds", "robot vacuum", "lawn mower", "heater", "night light"),
    "timer_name": ("pizza", "laundry", "pasta", "eggs", "tea", "nap", "workout", "oven"),
    "timer_command": ("turn off the oven", "turn on the lights", "start the dishwasher"),
    "search_query": ("Taylor Swift", "jazz for studying", "the Beatles", "Hey Jude",
                     "my morning playlist", "classical piano", "Daft Punk"),
    "message": ("dinner is ready", "time to go", "the movie is starting", "come downstairs"),
    "zone": ("home", "work", "the gym", "school"),
    "shopping_list_item": ("milk", "batteries", "dish soap", "apples", "bread"),
    "todo_list_item": ("call the plumber", "milk", "renew passport", "pay rent"),
}  # fmt: skip
# Entity names by the kind of device an intent acts on (the part of its name after "Hass").
_NAMES_BY_KIND: dict[str, tuple[str, ...]] = {
    "LawnMower": ("mower", "lawn mower", "robot mower"),
    "Vacuum": ("robot vacuum", "Roomba", "vacuum"),
    "Media": ("TV", "kitchen speaker", "soundbar", "bedroom speaker"),
    "SetVolume": ("TV", "kitchen speaker", "soundbar", "bedroom speaker"),
    "Climate": ("thermostat", "heater", "air conditioner"),
    "Fan": ("ceiling fan", "desk fan", "bedroom fan"),
    "List": ("shopping", "groceries", "to-do", "hardware store", "packing"),
    "ShoppingList": ("shopping", "groceries"),
    "SetPosition": ("bedroom blinds", "garage door", "living room curtains"),
}


@cache
def _intents() -> Any:
    try:
        from hassil import Intents
        from home_assistant_intents import get_intents
    except ImportError as exc:  # both are project dependencies
        raise IntentforgeError(
            f"{exc.name} is not installed; reinstall intentforge (`make install`)"
        ) from None
    found = get_intents(LANGUAGE)
    if found is None:
        raise IntentforgeError(f"home-assistant-intents has no sentences for {LANGUAGE!r}")
    return Intents.from_dict(found)


def intent_names() -> tuple[str, ...]:
    """Home Assistant's intent names for English (`HassTurnOn`, `HassStartTimer`, ...)."""
    return tuple(_intents().intents)


class _Walk:
    """One random expansion of a template; remembers the value each list placeholder took."""

    def __init__(
        self, rules: dict[str, Any], values: dict[str, tuple[str, ...]], rng: random.Random
    ):
        self.rules = rules
        self.values = values
        self.rng = rng
        self.captured: dict[str, str] = {}

    def text(self, expression: Any) -> str:
        return _walk(expression, self)


def _walk(expression: Any, walk: _Walk) -> str:
    from hassil.expression import (
        Alternative,
        ListReference,
        Permutation,
        RuleReference,
        Sequence,
        TextChunk,
    )

    if isinstance(expression, TextChunk):
        return str(expression.original_text)
    if isinstance(expression, Alternative):
        return _walk(walk.rng.choice(expression.items), walk)
    if isinstance(expression, Permutation):
        items = list(expression.items)
        walk.rng.shuffle(items)
        return " ".join(_walk(item, walk) for item in items)
    if isinstance(expression, Sequence):
        return "".join(_walk(item, walk) for item in expression.items)
    if isinstance(expression, RuleReference):
        return _walk(walk.rules[expression.rule_name].expression, walk)
    if isinstance(expression, ListReference):
        value = _list_value(expression.list_name, walk)
        walk.captured[expression.slot_name] = value.strip()
        return value
    raise IntentforgeError(f"unexpected Home Assistant template part: {expression!r}")


def _list_value(name: str, walk: _Walk) -> str:
    from hassil.intents import RangeSlotList, TextSlotList

    if name in walk.values:
        return str(walk.rng.choice(walk.values[name]))
    slot_list = _intents().slot_lists.get(name)
    if isinstance(slot_list, TextSlotList) and slot_list.values:
        return _walk(walk.rng.choice(slot_list.values).text_in, walk)
    if isinstance(slot_list, RangeSlotList):
        return str(walk.rng.randrange(slot_list.start, slot_list.stop + 1, slot_list.step))
    raise IntentforgeError(f"no values for Home Assistant list {{{name}}}")


def _tidy(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"\b(the|my|our|a) (the|my|our|a)\b", r"\1", text)
    return re.sub(r"\s+([,.?!])", r"\1", text)


def sample(
    intent: str, count: int, seed: int, values: dict[str, tuple[str, ...]] | None = None
) -> list[tuple[str, dict[str, str]]]:
    """Up to `count` distinct (sentence, {slot: value said}) for one Home Assistant intent,
    deterministic per seed. `values` adds or replaces the values of lists."""
    found = _intents().intents.get(intent)
    if found is None:
        raise IntentforgeError(
            f"Home Assistant has no intent {intent!r} in this home-assistant-intents release"
        )
    rng = random.Random(f"{seed}-{intent}")
    sentences = [
        (sentence, {**_intents().expansion_rules, **data.expansion_rules})
        for data in found.data
        for sentence in data.sentences
    ]
    kind = next((k for k in _NAMES_BY_KIND if intent.startswith(f"Hass{k}")), None)
    names = {"name": _NAMES_BY_KIND[kind]} if kind else {}
    lists = {**_HOME_VALUES, **names, **(values or {})}
    out: dict[str, dict[str, str]] = {}
    for _ in range(count * 20):
        if len(out) >= count:
            break
        sentence, rules = rng.choice(sentences)
        walk = _Walk(rules, lists, rng)
        text = _tidy(walk.text(sentence.expression))
        out.setdefault(text, walk.captured)
    return list(out.items())


# Home Assistant intents that are built-in intents here, and the placeholder each list becomes.
_IN_SCOPE: dict[str, dict[str, dict[str, tuple[str, ...]]]] = {
    "add_task": {
        "HassShoppingListAddItem": {"shopping_list_item": ("{content:item}",)},
        "HassListAddItem": {"todo_list_item": ("{content:item}",), "name": ("{project}",)},
    },
    "get_weather": {"HassGetWeather": {"name": ("{location}",)}},
}


def phrasings(intent: str, per_intent: int = 40) -> list[str]:
    """Templates with {slot} placeholders for a built-in intent, from Home Assistant's sentences
    for the same request: "put {content:item} on my {project} list", "weather in {location}"."""
    out: dict[str, None] = {}
    for name, values in _IN_SCOPE.get(intent, {}).items():
        for text, _said in sample(name, per_intent, 0, values):
            # A named list is the task's project, "shopping" included.
            text = re.sub(r"\bshopping list\b", "{project} list", text)
            if re.search(r"\b(my|our|the) \{location\}", text):  # an entity, not a place
                continue
            if "{project}" in text and "{project} list" not in text:  # "put rice in my Team"
                continue
            out[text] = None
    return list(out)


def out_of_scope(spec: dict[str, Any], user_text: str) -> list[str]:
    """Out-of-scope sentences (`none.yaml`'s `home_assistant` section: `per_intent`, `in_scope`,
    `keywords`), as literal templates (no braces), minus the intents whose keywords
    `user_text` (the user intents' names, descriptions and examples) mentions."""
    from intentforge.data import lexicons

    items = {
        "shopping_list_item": lexicons.tasks("items"),
        "todo_list_item": lexicons.tasks("items"),
    }
    out = []
    for name in intent_names():
        keywords = spec["keywords"].get(name) or []
        if name in spec["in_scope"] or any(
            re.search(rf"\b{re.escape(k.lower())}\b", user_text) for k in keywords
        ):
            continue
        for text, _said in sample(name, spec["per_intent"], 0, items):
            out.append(text.replace("{", "(").replace("}", ")"))
    return out
