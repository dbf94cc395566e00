"""How a predicted slot value is compared with the gold one: after the runtime's normalisation,
numbers as numbers, date slots without the connector words the runtime cuts."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from intentforge.catalogue.kinds import (
    CONNECTORS,
    DATE_KINDS,
    LOOSE_CONNECTORS,
    SlotKind,
    kind_by_name,
)

_WHITESPACE = re.compile(r"\s+")
_DATE_CONNECTOR = re.compile(r"^(?:(?:" + "|".join((*CONNECTORS, *LOOSE_CONNECTORS)) + r")\s+)+")

# Intent -> slot -> kind, from the catalogue (`Intent.slot_kinds`).
SlotKinds = Mapping[str, Mapping[str, SlotKind]]


def normalise_value(value: Any, slot: str = "", kind: SlotKind | None = None) -> Any:
    """A slot value as compared: text normalised like the runtime does, numbers as numbers.
    `kind` is the slot's kind in the catalogue; None: the kind its name implies."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    text = _WHITESPACE.sub(" ", str(value)).strip().casefold()
    while text and unicodedata.category(text[-1]).startswith("P"):
        text = text[:-1].rstrip()
    if (kind or kind_by_name(slot)) in DATE_KINDS:
        text = _DATE_CONNECTOR.sub("", text)
    try:
        return float(text) if text.isdigit() else text
    except ValueError:
        return text


def values_equal(gold: Any, predicted: Any, slot: str = "", kind: SlotKind | None = None) -> bool:
    """Whether two slot values are the same after normalisation."""
    return normalise_value(gold, slot, kind) == normalise_value(predicted, slot, kind)


def parameters_equal(
    gold: Mapping[str, Any],
    predicted: Mapping[str, Any],
    kinds: Mapping[str, SlotKind] | None = None,
) -> bool:
    """Same slots present, each with an equal value; `kinds`: the intent's slot kinds."""
    kinds = kinds or {}
    return set(gold) == set(predicted) and all(
        values_equal(gold[s], predicted[s], s, kinds.get(s)) for s in gold
    )


def slot_kinds(
    slots: Mapping[str, Sequence[str] | Mapping[str, SlotKind]],
) -> dict[str, dict[str, SlotKind]]:
    """Intent -> slot -> kind from intent -> slot kinds, or slot names (each the kind its name
    implies)."""
    return {
        intent: dict(names) if isinstance(names, Mapping) else {s: kind_by_name(s) for s in names}
        for intent, names in slots.items()
    }
