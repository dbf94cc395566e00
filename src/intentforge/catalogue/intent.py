"""The declaration of one intent: its name, meaning, parameters and how people ask for it."""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from intentforge.catalogue.kinds import DATE_KINDS, SLOT_KINDS, DateKind, SlotKind, kind_by_name
from intentforge.errors import IntentforgeError

# How often a request says a required slot when no rate is declared: the rest of the generated
# rows leave it out ("send an email"), so the model learns to leave out what was not said.
REQUIRED_RATE = 0.92


@dataclass(frozen=True)
class Intent:
    """One thing a user can ask for.

    `parameters` is a pydantic model whose fields are the slots; field order is the order the model
    writes them in. `examples` are phrasings with `{slot}` placeholders; the offline generator fills
    them from `slot_values` (or its built-in lexicons) and the LLM generator shows them as hints.
    `action` names the executor that carries the intent out (None: nothing to execute).
    `slot_rates` says how often people mention each slot (0..1; default 0.5 for an optional slot,
    REQUIRED_RATE for a required one); the offline generator weights slot combinations by it, so
    a rarely-said slot is rarely in the data and the model does not learn to invent it.
    `spoken` maps a slot to phrases and the values they mean ({"urgent": 1, "p2": 2}): the model
    copies the phrase from the request and the catalogue stores its value, for slots said in words
    but kept as codes.
    `kinds` declares what a slot holds (catalogue/kinds.py): "date" or "datetime" for a time
    expression resolved after the model, "spoken" for a slot with a phrase table, "text"
    otherwise. A slot it leaves out is spoken if it has a phrase table, else what `kind_by_name`
    says of a text slot ("due" is a datetime).
    `questions` maps a required slot to what to ask when a request does not say it ("Who should
    I send it to?"): the model leaves the slot out rather than invent it, and the runtime asks
    (`question`); a slot without one gets a plain default.
    """

    name: str
    description: str
    parameters: type[BaseModel]
    examples: tuple[str, ...] = ()
    action: str | None = None
    slot_values: dict[str, tuple[str, ...]] = field(default_factory=dict)
    slot_rates: dict[str, float] = field(default_factory=dict)
    spoken: dict[str, dict[str, Any]] = field(default_factory=dict)
    kinds: dict[str, SlotKind] = field(default_factory=dict)
    questions: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for slot, question in self.questions.items():
            if slot not in self.required_slots:
                raise IntentforgeError(
                    f"slot {self.name}.{slot} has a question but is not a required slot: only a "
                    "required slot is asked for"
                )
            if not isinstance(question, str) or not question.strip():
                raise IntentforgeError(f"the question of slot {self.name}.{slot} is empty")
        for slot, kind in self.kinds.items():
            where = f"slot {self.name}.{slot}"
            if slot not in self.slots:
                raise IntentforgeError(f"intent {self.name!r} has no slot {slot!r} to give a kind")
            if kind not in SLOT_KINDS:
                raise IntentforgeError(
                    f"{where} has kind {kind!r}; use one of {', '.join(SLOT_KINDS)}"
                )
            if kind == "spoken" and slot not in self.spoken:
                raise IntentforgeError(f"{where} is spoken but has no phrases (spoken:) to map")
            if kind != "spoken" and slot in self.spoken:
                raise IntentforgeError(f"{where} has spoken phrases, so its kind is spoken")
            if (kind in DATE_KINDS or kind == "list") and not self._holds_text(slot):
                raise IntentforgeError(f"{where} is a {kind}, so it must be a string slot")

    def slot_kind(self, slot: str) -> SlotKind:
        """What `slot` holds: declared in `kinds`, else spoken with a phrase table, else the
        kind its name implies for a string slot (catalogue/kinds.py), else text."""
        if slot in self.kinds:
            return self.kinds[slot]
        if slot in self.spoken:
            return "spoken"
        return kind_by_name(slot) if self._holds_text(slot) else "text"

    @property
    def slot_kinds(self) -> dict[str, SlotKind]:
        """Every slot, in declared order, with its kind."""
        return {slot: self.slot_kind(slot) for slot in self.slots}

    @property
    def date_slots(self) -> dict[str, DateKind]:
        """The slots resolved as dates, in declared order, with their kind."""
        out: dict[str, DateKind] = {}
        for slot in self.slots:
            kind = self.slot_kind(slot)
            if kind == "date" or kind == "datetime":
                out[slot] = kind
        return out

    def _holds_text(self, slot: str) -> bool:
        annotation = self.parameters.model_fields[slot].annotation
        if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
            return str in typing.get_args(annotation)
        return annotation is str

    def slot_rate(self, slot: str) -> float:
        """How often people say `slot`: `slot_rates`, else 0.5 for an optional slot and
        REQUIRED_RATE for a required one (a request now and then leaves it for us to ask)."""
        default = REQUIRED_RATE if slot in self.required_slots else 0.5
        return self.slot_rates.get(slot, default)

    def question(self, slot: str) -> str:
        """What to ask for the required `slot` when a request does not say it."""
        return self.questions.get(slot) or f"What {slot.replace('_', ' ')} would you like?"

    @property
    def slots(self) -> tuple[str, ...]:
        return tuple(self.parameters.model_fields)

    @property
    def required_slots(self) -> tuple[str, ...]:
        return tuple(n for n, f in self.parameters.model_fields.items() if f.is_required())
