"""Derive a llama.cpp GBNF grammar from intents' JSON Schemas.

Several requests in one sentence are several calls in the order said, one per line:
`root ::= call ("\n" call ("\n" call)?)?`, at most MAX_CALLS. One call is written exactly as before.

Hand-written because llama-cpp-python's generic JSON-schema converter admits any key order and
whitespace: more tokens to sample, and more ways to go wrong. This grammar admits exactly one
rendering per intent call (keys in declared order, no spaces, absent slots omitted), which is also
what training teaches, so constrained decoding never fights the fine-tune. The catalogue hands it
every slot as optional: a required slot the request does not say is left out, not invented from
the request's words ("send an email" is no e-mail to "an email"), and the runtime asks for it.

Given the request, text slots may only take a span of the request's text, the invariant every
training row is built with (templates insert values into the text; the LLM generator drops rows
whose values are not spans): the model can end a value early or start it late, but cannot write
"Saturday" when "Friday" was said. Hand-written too: no library builds "any substring of this text"
grammars.
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
# The most calls one answer may hold ("add milk, check the weather and email anna" is three);
# a bound keeps a model that loops from writing calls until max_tokens.
MAX_CALLS = 3
CALL_SEPARATOR = "\n"
_SPAN = "span"


def _literal(text: str) -> str:
    """A GBNF literal that matches `text` exactly (non-ASCII as UTF-8: GBNF's \\u escapes cannot
    spell a character beyond the BMP, which JSON writes as a surrogate pair)."""
    return json.dumps(text, ensure_ascii=False)


def _rule_name(*parts: str) -> str:
    return "-".join(re.sub(r"[^a-zA-Z0-9]+", "-", p).strip("-").lower() or "x" for p in parts)


def _value_rule(prop: dict[str, Any], *, spans: bool = False) -> str:
    """The GBNF expression for one slot's value (`spans`: text slots copy request spans)."""
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
        return _SPAN if spans else "string"
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


def _object_rules(prefix: str, schema: dict[str, Any], *, spans: bool) -> tuple[str, list[str]]:
    """Rules for a parameters object whose optional slots may be absent, keys in declared order."""
    props: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", []))
    names = list(props)
    rules: list[str] = []
    slot = {}
    for name in names:
        rule = _rule_name(prefix, "slot", name)
        value = _value_rule(props[name], spans=spans)
        rules.append(f"{rule} ::= {_literal(json.dumps(name) + ':')} {value}")
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


def _char_expr(char: str) -> str:
    """GBNF for one request character as the JSON string writes it, either case for a letter."""
    forms = dict.fromkeys((char, char.lower(), char.upper()))  # "ǅ" has two other cases
    if char.isalpha() and len(forms) > 1 and all(len(f) == 1 for f in forms):
        return f"[{''.join(forms)}]"
    return _literal(json.dumps(char, ensure_ascii=False)[1:-1])  # '"' -> '\"', controls -> \uXXXX


def _span_starts(text: str) -> list[int]:
    """Where a copied value may begin: a word's first character, or a letter or digit right after
    punctuation ('Anna' in 'Anna:', 'milk' in '(milk')."""
    starts = []
    for i, char in enumerate(text):
        if char.isspace():
            continue
        after_space = i == 0 or text[i - 1].isspace()
        after_mark = i > 0 and not text[i - 1].isalnum() and char.isalnum()
        if after_space or after_mark:
            starts.append(i)
    return starts


def _span_may_end(text: str, i: int) -> bool:
    """Whether a copied value may end at text[i]: on a word's last character or on punctuation
    before a space, never on a space or inside a word ("Sain" for "Saint" is not a span)."""
    if text[i].isspace():
        return False
    return i == len(text) - 1 or not text[i + 1].isalnum()


def span_rules(text: str) -> list[str]:
    """Rules for `span`: any run of `text` (case aside) that starts where `_span_starts` allows
    and ends where `_span_may_end` allows. One rule per character: `sK` is a non-empty prefix of
    text[K:], so the grammar stays linear in the text's length."""
    starts = _span_starts(text)
    if not starts:  # blank text (the runtime refuses it before generating): any string
        return [f"{_SPAN} ::= string"]
    rules = [f'{_SPAN} ::= "\\"" ({" | ".join(f"s{i}" for i in starts)}) "\\""']
    last = len(text) - 1
    for i, char in enumerate(text):
        expr = _char_expr(char)
        if i == last:
            rules.append(f"s{i} ::= {expr}")
        elif _span_may_end(text, i):
            rules.append(f"s{i} ::= {expr} s{i + 1}?")
        else:
            rules.append(f"s{i} ::= {expr} s{i + 1}")
    return rules


def build_grammar(
    intents: list[tuple[str, dict[str, Any]]],
    request: str | None = None,
    *,
    max_calls: int = MAX_CALLS,
) -> str:
    """GBNF for `{"intent":"<name>","parameters":{...}}` over (name, parameters schema) pairs,
    one to `max_calls` of them separated by CALL_SEPARATOR.

    With `request` (the text as the model reads it), text slots must copy a span of it."""
    if not 1 <= max_calls <= MAX_CALLS:
        raise ValueError(f"max_calls must be 1 to {MAX_CALLS}, got {max_calls}")
    alternatives = []
    rules: list[str] = []
    spans = request is not None
    for name, schema in intents:
        obj, obj_rules = _object_rules(_rule_name("i", name), schema, spans=spans)
        rules.extend(obj_rules)
        call = _rule_name("i", name, "call")
        head = _literal(json.dumps(name) + ',"parameters":')
        rules.append(f"{call} ::= {head} {obj}")
        alternatives.append(call)
    call_rule = f'call ::= "{{\\"intent\\":" ({" | ".join(alternatives)}) "}}"'
    # Nested, not repeated, optionals: one parse per answer keeps llama.cpp's stacks few.
    more = ""
    for _ in range(max_calls - 1):
        more = f" ({_literal(CALL_SEPARATOR)} call{more})?"
    root = f"root ::= call{more}"
    if request is not None:
        rules.extend(span_rules(request))
    return "\n".join([root, call_rule, *rules]) + "\n" + _STRING_RULES.strip() + "\n"
