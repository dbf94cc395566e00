"""The declaration of one intent: its name, meaning, parameters and how people ask for it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel


@dataclass(frozen=True)
class Intent:
    """One thing a user can ask for.

    `parameters` is a pydantic model whose fields are the slots; field order is the order the model
    writes them in. `examples` are phrasings with `{slot}` placeholders; the offline generator fills
    them from `slot_values` (or its built-in lexicons) and the LLM generator shows them as hints.
    `action` names the executor that carries the intent out (None: nothing to execute).
    `slot_rates` says how often people mention each optional slot (0..1, default 0.5); the offline
    generator weights slot combinations by it, so a rarely-said slot is rarely in the data and the
    model does not learn to invent it.
    `spoken` maps a slot to phrases and the values they mean ({"urgent": 1, "p2": 2}): the model
    copies the phrase from the request and the catalogue stores its value, for slots said in words
    but kept as codes.
    """

    name: str
    description: str
    parameters: type[BaseModel]
    examples: tuple[str, ...] = ()
    action: str | None = None
    slot_values: dict[str, tuple[str, ...]] = field(default_factory=dict)
    slot_rates: dict[str, float] = field(default_factory=dict)
    spoken: dict[str, dict[str, Any]] = field(default_factory=dict)

    def slot_rate(self, slot: str) -> float:
        return self.slot_rates.get(slot, 0.5)

    @property
    def slots(self) -> tuple[str, ...]:
        return tuple(self.parameters.model_fields)

    @property
    def required_slots(self) -> tuple[str, ...]:
        return tuple(n for n, f in self.parameters.model_fields.items() if f.is_required())
