"""Build the catalogue: the built-ins plus user intents from YAML files or Python modules."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, create_model

from intentforge.catalogue.builtin import BUILTIN_INTENTS
from intentforge.catalogue.catalogue import Catalogue
from intentforge.catalogue.intent import Intent
from intentforge.errors import IntentforgeError
from intentforge.yaml_file import read_yaml

_TYPES: dict[str, type] = {"string": str, "integer": int, "number": float, "boolean": bool}
_SLOT_KEYS = {
    "type", "required", "description", "enum", "minimum", "maximum", "values", "rate", "spoken",
    "kind", "question",
}  # fmt: skip
_INTENT_KEYS = {"name", "description", "parameters", "examples", "action"}


class _UserSlots(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _slot_field(intent: str, slot: str, spec: Any, where: str) -> tuple[Any, Any]:
    if not isinstance(spec, dict):
        raise IntentforgeError(
            f"{where}: slot {intent}.{slot} must be a mapping like {{type: string}}"
        )
    unknown = set(spec) - _SLOT_KEYS
    if unknown:
        raise IntentforgeError(f"{where}: slot {intent}.{slot} has unknown keys {sorted(unknown)}")
    kind = spec.get("type", "string")
    if kind not in _TYPES:
        raise IntentforgeError(
            f"{where}: slot {intent}.{slot} has type {kind!r}; use one of {', '.join(_TYPES)}"
        )
    for key in ("enum", "values"):
        if key in spec and (not isinstance(spec[key], list) or not spec[key]):
            raise IntentforgeError(
                f"{where}: {key} of slot {intent}.{slot} must be a non-empty list, like [a, b]"
            )
    rate = spec.get("rate")
    if "rate" in spec and (
        isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 < rate < 1
    ):
        raise IntentforgeError(
            f"{where}: rate of slot {intent}.{slot} must be a number between 0 and 1 (exclusive), "
            "how often people mention it"
        )
    question = spec.get("question")
    if "question" in spec and (not isinstance(question, str) or not question.strip()):
        raise IntentforgeError(
            f"{where}: question of slot {intent}.{slot} must be a sentence to ask, like "
            "'Which room?'"
        )
    spoken = spec.get("spoken")
    if "spoken" in spec and (
        not isinstance(spoken, dict)
        or not spoken
        or not all(isinstance(p, str) and p.strip() for p in spoken)
    ):
        raise IntentforgeError(
            f"{where}: spoken of slot {intent}.{slot} must map phrases to values, like "
            "{urgent: 1, 'no rush': 4}"
        )
    annotation: Any = _TYPES[kind]
    if "enum" in spec:
        annotation = Literal[tuple(spec["enum"])]
    constraints = {
        k: v for k, v in (("ge", spec.get("minimum")), ("le", spec.get("maximum"))) if v is not None
    }
    if kind == "string":
        constraints["min_length"] = 1
    for phrase, value in (spoken or {}).items():
        try:
            TypeAdapter(Annotated[annotation, Field(**constraints)]).validate_python(value)
        except ValidationError as exc:
            raise IntentforgeError(
                f"{where}: spoken {phrase!r} of slot {intent}.{slot} means {value!r}, which is not "
                f"a valid value: {exc.errors()[0]['msg']}"
            ) from None
    description = spec.get("description")
    if spec.get("required", False):
        return annotation, Field(..., description=description, **constraints)
    return annotation | None, Field(None, description=description, **constraints)


def _intent_from_mapping(entry: Any, where: str) -> Intent:
    if not isinstance(entry, dict) or "name" not in entry:
        raise IntentforgeError(f"{where}: every intent needs at least a name and a description")
    name = entry["name"]
    unknown = set(entry) - _INTENT_KEYS
    if unknown:
        raise IntentforgeError(f"{where}: intent {name!r} has unknown keys {sorted(unknown)}")
    if not isinstance(name, str) or not name.isidentifier():
        raise IntentforgeError(
            f"{where}: intent name {name!r} must be a lower_snake_case identifier"
        )
    params = entry.get("parameters") or {}
    if not isinstance(params, dict):
        raise IntentforgeError(f"{where}: parameters of {name!r} must be a mapping of slot -> spec")
    examples = entry.get("examples") or []
    if not isinstance(examples, list):
        raise IntentforgeError(f"{where}: examples of {name!r} must be a list of phrasings")
    for slot in params:
        if not isinstance(slot, str) or not slot.isidentifier() or slot.startswith("_"):
            raise IntentforgeError(
                f"{where}: slot name {slot!r} of {name!r} must be a lower_snake_case identifier"
            )
    fields: dict[str, Any] = {
        slot: _slot_field(name, slot, spec, where) for slot, spec in params.items()
    }
    model = create_model(f"{name.title().replace('_', '')}Slots", __base__=_UserSlots, **fields)
    values = {
        slot: tuple(str(v) for v in spec["values"])
        for slot, spec in params.items()
        if isinstance(spec, dict) and spec.get("values")
    }
    rates = {
        slot: float(spec["rate"])
        for slot, spec in params.items()
        if isinstance(spec, dict) and "rate" in spec
    }
    spoken = {
        slot: dict(spec["spoken"])
        for slot, spec in params.items()
        if isinstance(spec, dict) and "spoken" in spec
    }
    kinds = {
        slot: spec["kind"]
        for slot, spec in params.items()
        if isinstance(spec, dict) and "kind" in spec
    }
    questions = {
        slot: str(spec["question"]).strip()
        for slot, spec in params.items()
        if isinstance(spec, dict) and "question" in spec
    }
    try:
        return Intent(
            name=name,
            description=str(entry.get("description", "")),
            parameters=model,
            examples=tuple(str(e) for e in examples),
            action=entry.get("action"),
            slot_values=values,
            slot_rates=rates,
            spoken=spoken,
            kinds=kinds,
            questions=questions,
        )
    except IntentforgeError as exc:  # Intent checks kinds and questions; say which file broke them
        raise IntentforgeError(f"{where}: {exc}") from None


def intents_from_yaml(path: Path) -> list[Intent]:
    """Read user intents from a YAML file with a top-level `intents:` list."""
    doc = read_yaml(path, "intents file")
    if not isinstance(doc, dict) or not isinstance(doc.get("intents"), list):
        raise IntentforgeError(f"{path}: expected a top-level 'intents:' list")
    return [_intent_from_mapping(entry, str(path)) for entry in doc["intents"]]


def intents_from_module(spec: str) -> list[Intent]:
    """Import `package.module` (its INTENTS list) or `package.module:NAME`."""
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise IntentforgeError(f"cannot import intents module {module_name!r}: {exc}") from None
    found = getattr(module, attr or "INTENTS", None)
    if found is None:
        raise IntentforgeError(f"module {module_name!r} has no {attr or 'INTENTS'} list of Intent")
    intents = list(found)
    if not all(isinstance(i, Intent) for i in intents):
        raise IntentforgeError(f"{spec}: every entry must be an intentforge.catalogue.Intent")
    return intents


def load_catalogue(
    files: Sequence[str | Path] = (), modules: Sequence[str] = (), *, builtin: bool = True
) -> Catalogue:
    """The catalogue: built-in intents (unless disabled) followed by the user's own."""
    intents: list[Intent] = list(BUILTIN_INTENTS) if builtin else [BUILTIN_INTENTS[-1]]
    for f in files:
        intents.extend(intents_from_yaml(Path(f)))
    for m in modules:
        intents.extend(intents_from_module(m))
    return Catalogue(intents)
