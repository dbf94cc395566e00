"""Derive a llama.cpp GBNF grammar from intents' JSON Schemas.

Hand-written because llama-cpp-python's generic JSON-schema converter admits any key order and
whitespace: more tokens to sample, and more ways to go wrong. This grammar admits exactly one
rendering per intent call (keys in declared order, no spaces, absent slots omitted), which is also
what training teaches, so constrained decoding never fights the fine-tune.
"""

from __future__ import annotations

import json
import re
from typing import Any

# A JSON string without control characters; escapes allowed. At least one character: an empty
# slot is an absent slot.
_STRING_RULES = r"""
string ::= "\"" char char* "\""
char ::= [^"\\\x00-\x1f] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F])
integer ::= "-"? [0-9] [0-9]*
number ::= "-"? [0-9] [0-9]* ("." [0-9] [0-9]*)?
boolean ::= "true" | "false"
"""

_MAX_ENUMERATED_INTEGERS = 64


def _literal(text: str) -> str:
    """A GBNF literal that matches `text` exactly."""
    return json.dumps(text)


def _rule_name(*parts: str) -> str:
    return "-".join(re.sub(r"[^a-zA-Z0-9]+", "-", p).strip("-").lower() or "x" for p in parts)


def _value_rule(prop: dict[str, Any]) -> str:
    """The GBNF expression for one slot's value."""
    if "anyOf" in prop:  # Optional[X] is anyOf [X, null]: the slot is simply omitted instead
        options = [p for p in prop["anyOf"] if p.get("type") != "null"]
        if len(options) != 1:
            raise ValueError(f"unsupported slot type: {prop}")
        prop = {**prop, **options[0]}
        del prop["anyOf"]
    if "enum" in prop:
        return (
            "("
            + " | ".join(_literal(json.dumps(v, ensure_ascii=False)) for v in prop["enum"])
            + ")"
        )
    if "const" in prop:
        return _literal(json.dumps(prop["const"], ensure_ascii=False))
    kind = prop.get("type")
    if kind == "string":
        return "string"
    if kind == "integer":
        low, high = prop.get("minimum"), prop.get("maximum")
        if low is not None and high is not None and 0 <= high - low < _MAX_ENUMERATED_INTEGERS:
            return "(" + " | ".join(_literal(str(v)) for v in range(int(low), int(high) + 1)) + ")"
        return "integer"
    if kind == "number":
        return "number"
    if kind == "boolean":
        return "boolean"
    raise ValueError(f"unsupported slot type: {prop}")


def _object_rules(prefix: str, schema: dict[str, Any]) -> tuple[str, list[str]]:
    """Rules for a parameters object whose optional slots may be absent, keys in declared order."""
    props: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", []))
    names = list(props)
    rules: list[str] = []
    slot = {}
    for name in names:
        rule = _rule_name(prefix, "slot", name)
        rules.append(f"{rule} ::= {_literal(json.dumps(name) + ':')} {_value_rule(props[name])}")
        slot[name] = rule

    # first-i: the slots from i on, the first present one written without a leading comma;
    # rest-i: the slots from i on, each preceded by a comma.
    def first(i: int) -> str:
        return _rule_name(prefix, "first", str(i))

    def rest(i: int) -> str:
        return _rule_name(prefix, "rest", str(i))

    for i, name in enumerate(names):
        nxt_rest = rest(i + 1) if i + 1 < len(names) else ""
        nxt_first = first(i + 1) if i + 1 < len(names) else ""
        if name in required:
            rules.append(f"{first(i)} ::= {slot[name]} {nxt_rest}".rstrip())
            rules.append(f'{rest(i)} ::= "," {slot[name]} {nxt_rest}'.rstrip())
        else:
            if nxt_first:
                rules.append(f"{first(i)} ::= {slot[name]} {nxt_rest} | {nxt_first}")
            else:
                rules.append(f"{first(i)} ::= {slot[name]}?")
            rules.append(f'{rest(i)} ::= ("," {slot[name]})? {nxt_rest}'.rstrip())
    body = first(0) if names else ""
    obj = _rule_name(prefix, "params")
    rules.append(f'{obj} ::= "{{" {body} "}}"'.replace("  ", " "))
    return obj, rules


def build_grammar(intents: list[tuple[str, dict[str, Any]]]) -> str:
    """GBNF for `{"intent":"<name>","parameters":{...}}` over (name, parameters schema) pairs."""
    alternatives = []
    rules: list[str] = []
    for name, schema in intents:
        obj, obj_rules = _object_rules(_rule_name("i", name), schema)
        rules.extend(obj_rules)
        call = _rule_name("i", name, "call")
        head = _literal(json.dumps(name) + ',"parameters":')
        rules.append(f"{call} ::= {head} {obj}")
        alternatives.append(call)
    root = f'root ::= "{{\\"intent\\":" ({" | ".join(alternatives)}) "}}"'
    return "\n".join([root, *rules]) + "\n" + _STRING_RULES.strip() + "\n"
