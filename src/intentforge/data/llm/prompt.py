"""The chat messages that ask an LLM for one job's rows, derived from the catalogue."""

from __future__ import annotations

import json
from typing import Any

from openai.types.chat import ChatCompletionMessageParam

from intentforge.catalogue import OUT_OF_SCOPE, Catalogue, Intent
from intentforge.data.llm.plan import Job

_SYSTEM_PROMPT = (
    "You write training data for the intent parser of a voice assistant: what people say, as a "
    "speech-to-text engine transcribes it, and the JSON intent it means. You reply with one JSON "
    "object and nothing else."
)


def _slot_line(intent: Intent, slot: str, prop: dict[str, Any]) -> str:
    options = [p for p in prop.get("anyOf", [prop]) if p.get("type") != "null"]
    kind = {**prop, **(options[0] if options else {})}
    if "enum" in kind:
        what = "one of " + ", ".join(json.dumps(v) for v in kind["enum"])
    elif kind.get("type") == "string":
        what = "text"
    elif kind.get("type") in ("integer", "number"):
        what = str(kind["type"])
        if "minimum" in kind and "maximum" in kind:
            what += f" {kind['minimum']} to {kind['maximum']}"
    else:
        what = str(kind.get("type", "value"))
    need = "required" if slot in intent.required_slots else "optional"
    line = f"- {slot} ({what}, {need})"
    description = intent.parameters.model_fields[slot].description
    if description:
        line += f": {description}"
    if intent.slot_values.get(slot):
        line += " For example: " + ", ".join(intent.slot_values[slot][:8]) + "."
    return line


def build_messages(catalogue: Catalogue, job: Job) -> list[ChatCompletionMessageParam]:
    """The chat messages asking for `job`'s rows, derived from the catalogue."""
    intent = catalogue[job.intent]
    n = len(job.specs)
    menu = "\n".join(f"- {i.name}: {i.description}" for i in catalogue.intents)
    lines = [f"The assistant understands these intents:\n{menu}", ""]
    example_rows = []
    if job.intent == OUT_OF_SCOPE:
        lines.append(
            f'Write {n} requests for the intent "{OUT_OF_SCOPE}": things people ask a voice '
            "assistant that it can NOT do, because they match none of the other intents above. "
            "Include near misses that sound close to an intent above but are not it. "
            'Their "parameters" are always {}.'
        )
        if intent.examples:
            lines.append("Examples: " + "; ".join(f'"{e}"' for e in intent.examples))
        example_rows.append({"text": "...", "intent": OUT_OF_SCOPE, "parameters": {}})
    else:
        props = intent.parameters.model_json_schema().get("properties", {})
        lines.append(f'Write {n} requests for the intent "{intent.name}": {intent.description}')
        if props:
            lines.append('Its slots (the "parameters" object):')
            lines.extend(_slot_line(intent, slot, props[slot]) for slot in intent.slots)
        if intent.examples:
            lines.append(
                "Example phrasings ({slot} marks a value): "
                + "; ".join(f'"{e}"' for e in intent.examples)
            )
        example_rows.append(
            {"text": "...", "intent": intent.name, "parameters": {s: "..." for s in intent.slots}}
        )
    lines += [
        "",
        "Rules:",
        "- Each text is one request said out loud to the assistant, as speech-to-text writes it "
        "down: no emoji, no markdown, no quotes around it, no line breaks.",
        "- Vary wording, sentence structure, length and vocabulary; do not copy the example "
        f"phrasings word for word; all {n} texts must differ.",
    ]
    if job.intent != OUT_OF_SCOPE:
        lines += [
            '- Every text slot value is copied exactly from the text, as it was said ("tomorrow '
            'at 5pm", "next monday", "mum"): a verbatim span of the text, never reworded, never '
            "resolved to a date, address or number.",
            "- Give each request exactly the slots listed for it, besides the required ones; "
            'leave the others out (no null, no "").',
            "- Use realistic, varied values: many different things, people, places and times.",
        ]
    lines += [
        "",
        f"The {n} requests, one per line ("
        + ("topic" if job.intent == OUT_OF_SCOPE else "slots beside the required ones")
        + " | who says it | how it should read):",
    ]
    for number, spec in enumerate(job.specs, start=1):
        if job.intent == OUT_OF_SCOPE:
            parts = [f"topic: {spec.topic}"]
        else:
            parts = ["slots: " + (", ".join(spec.slots) or "-")]
        if spec.speaker:
            parts.append(f"speaker: {spec.speaker}")
        parts.append(f"style: {spec.style}")
        lines.append(f"{number}. " + " | ".join(parts))
    lines += [
        "",
        'Answer with JSON only, in this shape: {"rows": ['
        + json.dumps(example_rows[0], ensure_ascii=False)
        + ", ...]}",
    ]
    return [
        {"role": "system", "content": _SYSTEM_PROMPT},
        {"role": "user", "content": "\n".join(lines)},
    ]
