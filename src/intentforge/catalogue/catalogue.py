"""A set of intents and what derives from it: JSON Schema, GBNF grammar, validation, rendering."""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError, create_model

from intentforge.catalogue.grammar import CALL_SEPARATOR, MAX_CALLS, build_grammar
from intentforge.catalogue.intent import Intent
from intentforge.catalogue.spoken import SpokenTable
from intentforge.errors import IntentforgeError

if TYPE_CHECKING:
    from intentforge.config import Settings

OUT_OF_SCOPE = "none"
# What the model copies into an out-of-scope call: the words of the request it refuses ("turn on
# the lights" in "turn on the lights and add bread to my list"). The model then decides whether
# more follows right where the refused words end, as it does after an in-scope call's last span;
# with nothing to copy it learned that a refusal ends the answer. Model-only: answers, datasets
# and the public schema keep an out-of-scope call's parameters empty.
REFUSED_WORDS = "said"


@dataclass(frozen=True)
class IntentCall:
    """A validated intent with its parameters (slots that were not said are absent, never null).

    A required slot may be absent too: the request did not say it, and nothing acts on the call
    until it is asked for (`Catalogue.missing`, `Catalogue.question`).
    """

    intent: str
    parameters: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"intent": self.intent, "parameters": dict(self.parameters)}


def _plain(value: Any) -> Any:
    """A JSON-able stand-in for a field value json cannot write, stable from run to run (a repr
    with a memory address would make every fingerprint new)."""
    if isinstance(value, type) and issubclass(value, BaseModel):
        return value.model_json_schema()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"cannot fingerprint {value!r} of type {type(value).__name__}")


def _partial(model: type[BaseModel]) -> type[BaseModel]:
    """`model` with its required slots optional (constraints and validators kept): what a call
    that leaves a required slot out, to be asked for, validates against."""
    fields: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if info.is_required():
            optional = copy.copy(info)
            optional.default = None
            annotation: Any = info.annotation
            fields[name] = (annotation | None, optional)
    if not fields:
        return model
    return create_model(f"{model.__name__}Partial", __base__=model, **fields)


class Catalogue:
    """An ordered set of intents, always including the out-of-scope intent `none`."""

    def __init__(self, intents: Iterable[Intent]) -> None:
        self._intents: dict[str, Intent] = {}
        for intent in intents:
            if intent.name in self._intents:
                raise IntentforgeError(f"intent {intent.name!r} is declared twice in the catalogue")
            self._intents[intent.name] = intent
        self._spoken: dict[tuple[str, str], SpokenTable] = {}
        for intent in self._intents.values():
            for slot, phrases in intent.spoken.items():
                if slot not in intent.slots:
                    raise IntentforgeError(f"intent {intent.name!r} has no slot {slot!r} to speak")
                try:
                    self._spoken[intent.name, slot] = SpokenTable(phrases)
                except ValueError as exc:
                    where = f"{intent.name}.{slot}"
                    raise IntentforgeError(f"spoken values of {where}: {exc}") from None
        if OUT_OF_SCOPE not in self._intents:
            raise IntentforgeError(f"the catalogue needs the out-of-scope intent {OUT_OF_SCOPE!r}")

    @classmethod
    def from_settings(cls, settings: Settings) -> Catalogue:
        """The catalogue the settings name: built-ins (unless turned off) plus user files and
        modules."""
        from intentforge.catalogue.loading import load_catalogue  # it builds on this module

        config = settings.catalogue
        return load_catalogue(config.files, config.modules, builtin=config.builtin)

    def fingerprint(self) -> str:
        """sha256 of every field of every intent, in order (parameters as their JSON Schema):
        anything generated or trained from the catalogue is stale when it changes."""
        described = [
            {field.name: getattr(intent, field.name) for field in dataclasses.fields(intent)}
            for intent in self.intents
        ]
        # Key order is kept: the order of phrases and values steers what the generator samples.
        text = json.dumps(described, ensure_ascii=False, default=_plain)
        return hashlib.sha256(text.encode()).hexdigest()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._intents)

    @property
    def intents(self) -> tuple[Intent, ...]:
        return tuple(self._intents.values())

    def __getitem__(self, name: str) -> Intent:
        try:
            return self._intents[name]
        except KeyError:
            known = ", ".join(self._intents)
            raise IntentforgeError(f"unknown intent {name!r}; known intents: {known}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._intents

    def json_schema(self) -> dict[str, Any]:
        """JSON Schema of the model's output: one of the intents with its parameters.

        A required slot may be absent (the request did not say it, so the runtime asks for it):
        it is not `required` here but carries `x-question`, what the runtime asks."""
        variants = []
        for intent in self.intents:
            params = intent.parameters.model_json_schema()
            params.pop("title", None)
            for slot in params.pop("required", []):
                params["properties"][slot]["x-question"] = intent.question(slot)
            variants.append(
                {
                    "type": "object",
                    "title": intent.name,
                    "description": intent.description,
                    "properties": {"intent": {"const": intent.name}, "parameters": params},
                    "required": ["intent", "parameters"],
                    "additionalProperties": False,
                }
            )
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "IntentCall",
            "oneOf": variants,
        }

    def grammar(self, request: str | None = None, *, max_calls: int = MAX_CALLS) -> str:
        """GBNF grammar for llama.cpp admitting exactly the canonical rendering of every intent,
        one to `max_calls` calls, one per line; given the request's text, text slots may only
        copy spans of it."""
        return build_grammar(self._schemas, request, max_calls=max_calls)

    @functools.cached_property
    def _schemas(self) -> list[tuple[str, dict[str, Any]]]:
        """What the model writes: the parameters' schemas, spoken slots as text, every slot
        optional (a required slot the request does not say is left out and asked for), and an
        out-of-scope call with the words it refuses (always: training writes them for every
        refusal, and the grammar then fixes '"said":"' instead of leaving a choice)."""
        schemas = []
        for intent in self.intents:
            schema = intent.parameters.model_json_schema()
            schema.pop("required", None)
            for slot in intent.spoken:
                schema["properties"][slot] = {"type": "string"}
            if intent.name == OUT_OF_SCOPE:
                schema["properties"] = {REFUSED_WORDS: {"type": "string"}}
                schema["required"] = [REFUSED_WORDS]
            schemas.append((intent.name, schema))
        return schemas

    def missing(self, call: IntentCall) -> tuple[str, ...]:
        """The required slots `call` leaves out, in declared order: nothing acts on it until
        they are asked for."""
        return tuple(s for s in self[call.intent].required_slots if s not in call.parameters)

    def question(self, call: IntentCall) -> str | None:
        """What to ask for the first slot `call` misses (one at a time: one answer fills one
        slot); None when it is complete."""
        missing = self.missing(call)
        return self[call.intent].question(missing[0]) if missing else None

    def spoken(self, intent: str, slot: str) -> SpokenTable | None:
        """The phrase table of a slot said in words but stored as a value, if it is one."""
        return self._spoken.get((intent, slot))

    def validate(self, data: str | bytes | Mapping[str, Any]) -> IntentCall:
        """Parse and validate model output (JSON text or an already-parsed object).

        Accepts any key order, whitespace and explicit nulls; raises IntentforgeError otherwise.
        A spoken slot may hold its phrase ("high priority") instead of its value (2); a phrase
        that means no known value leaves the slot out. A required slot may be absent: the call
        is then incomplete (`missing`).
        """
        if isinstance(data, (str, bytes)):
            try:
                data = json.loads(data)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise IntentforgeError(f"not valid JSON: {exc}") from None
        if not isinstance(data, Mapping):
            raise IntentforgeError("an intent must be a JSON object")
        extra = set(data) - {"intent", "parameters"}
        if extra:
            raise IntentforgeError(f"unexpected keys in intent object: {sorted(extra)}")
        name = data.get("intent")
        if not isinstance(name, str) or name not in self._intents:
            raise IntentforgeError(
                f"unknown intent {name!r}; known intents: {', '.join(self.names)}"
            )
        params = data.get("parameters", {})
        if params is None:
            params = {}
        if not isinstance(params, Mapping):
            raise IntentforgeError(f"parameters of {name!r} must be a JSON object")
        params = dict(params)
        if name == OUT_OF_SCOPE:
            params.pop(REFUSED_WORDS, None)  # the model's, not the answer's
        intent = self._intents[name]
        for slot in intent.spoken:
            if isinstance(params.get(slot), str):
                params[slot] = self._spoken[name, slot].lookup(params[slot])
        said = {k: v for k, v in params.items() if v is not None and v != ""}
        complete = all(slot in said for slot in intent.required_slots)
        parameters = intent.parameters if complete else self._partials[name]
        try:
            model = parameters.model_validate(params)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "parameters"
            raise IntentforgeError(f"invalid {name} parameter {where}: {first['msg']}") from None
        values = model.model_dump(exclude_none=True)
        return IntentCall(name, {k: v for k, v in values.items() if v != ""})

    def validate_calls(self, text: str) -> list[IntentCall]:
        """Model output holding one to MAX_CALLS calls, one per line (several requests in one
        sentence), each validated on its own; raises IntentforgeError like `validate`."""
        lines = text.split(CALL_SEPARATOR)
        if len(lines) > MAX_CALLS:
            raise IntentforgeError(f"{len(lines)} calls in one answer; at most {MAX_CALLS}")
        return [self.validate(line) for line in lines]

    @functools.cached_property
    def _partials(self) -> dict[str, type[BaseModel]]:
        return {intent.name: _partial(intent.parameters) for intent in self.intents}

    def fill_spoken(self, call: IntentCall, text: str) -> IntentCall:
        """The call with each empty spoken slot filled from the request `text` when its words,
        without the other slots' values, say one of the slot's phrases.

        The model misses a priority said apart from the task ("low priority, clean out the
        garage") far more often than it says one that is not there; the task's own words are left
        out, so "add important documents to my list" gets no priority.
        """
        missing = [s for s in self._intents[call.intent].spoken if s not in call.parameters]
        if not missing:
            return call
        rest = text
        for value in call.parameters.values():
            if isinstance(value, str) and value:
                # "_" is a word character: "high <task> priority" does not become "high priority".
                rest = re.sub(re.escape(value), " _ ", rest, count=1, flags=re.IGNORECASE)
        params = dict(call.parameters)
        for slot in missing:
            value = self._spoken[call.intent, slot].lookup(rest)
            if value is not None:
                params[slot] = value
        return IntentCall(call.intent, params) if params != call.parameters else call

    def render(
        self, call: IntentCall | Mapping[str, Any], text: str | None = None, said: str | None = None
    ) -> str:
        """The canonical compact JSON the model is trained to write (slots in declared order)
        for the request `text`: a spoken slot is written as the request says it, an out-of-scope
        call with the words it refuses (`said`, a span of `text`) when they are known."""
        if not isinstance(call, IntentCall):
            call = self.validate(call)
        order = self._intents[call.intent].slots
        params = {k: call.parameters[k] for k in order if k in call.parameters}
        for slot in self._intents[call.intent].spoken:
            if slot in params:
                params[slot] = self._spoken_phrase(call.intent, slot, params[slot], text)
        if call.intent == OUT_OF_SCOPE and said:
            params = {REFUSED_WORDS: said}
        return json.dumps(
            {"intent": call.intent, "parameters": params}, ensure_ascii=False, separators=(",", ":")
        )

    def render_calls(
        self,
        calls: Iterable[IntentCall | Mapping[str, Any]],
        text: str | None = None,
        said: Sequence[str | None] | None = None,
    ) -> str:
        """The canonical rendering of several calls, one per line, in the order said (`said`:
        the words each call's part of `text` says, used by out-of-scope calls); one call renders
        exactly as `render`."""
        calls = list(calls)
        words = list(said) if said is not None else [None] * len(calls)
        return CALL_SEPARATOR.join(
            self.render(call, text, part) for call, part in zip(calls, words, strict=True)
        )

    def _spoken_phrase(self, intent: str, slot: str, value: Any, text: str | None) -> str:
        phrase = None if text is None else self._spoken[intent, slot].find(text, value)
        if phrase is None:
            raise IntentforgeError(
                f"{intent}.{slot} is {value!r} but the request does not say it in a known way "
                f"({text!r}); spoken phrases: {sorted(self._spoken[intent, slot].values)}"
            )
        return phrase
