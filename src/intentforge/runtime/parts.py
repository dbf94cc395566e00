"""Which part of a request each call of a several-call answer came from.

The post-processing steps that read the request (`name_lists`, `fill_spoken`) must read only the
call's own part: in "add bread to my list, high priority, and email anna" the priority belongs to
the task, and in "remind me to call mom and add eggs to my groceries list" the list to the second.
The model says which words each call copied (its text slots are spans of the request), so the
request is cut at the last connector ("and", "then", a comma...) between the last span of one
call and the first span of the next. A limit: a call that copies nothing (out of scope, weather for
today) gives no anchor, and its part runs from the previous call's end to the next call's start.
"""

from __future__ import annotations

import re

from intentforge.catalogue import IntentCall

_CONNECTOR = re.compile(
    r"[,;.!?]?\s*\b(?:and then|and also|after that|then|also|and|plus)\b|[,;.!?](?=\s)",
    re.IGNORECASE,
)

_TRAILING = re.compile(
    r"(?:[,;.!?]?\s*\b(?:and then|and also|after that|then|also|and|plus))+[,;.!?\s]*$",
    re.IGNORECASE,
)


def _spans(call: IntentCall, text: str, start: int) -> tuple[int, int] | None:
    """Where the call's text values lie in `text` from `start` on: (first start, last end)."""
    lower = text.lower()
    found = []
    for value in call.parameters.values():
        if isinstance(value, str) and value:
            at = lower.find(value.lower(), start)
            if at >= 0:
                found.append((at, at + len(value)))
    if not found:
        return None
    return min(a for a, _ in found), max(b for _, b in found)


def request_parts(text: str, calls: list[IntentCall]) -> list[str]:
    """`text` cut into one part per call, in order; one call keeps the whole text."""
    if len(calls) < 2:
        return [text] * len(calls)
    bounds: list[tuple[int, int] | None] = []
    cursor = 0
    for call in calls:
        span = _spans(call, text, cursor)
        bounds.append(span)
        if span is not None:
            cursor = span[1]
    cuts = []
    start = 0
    for i in range(len(calls) - 1):
        own = bounds[i]
        after = max(own[1] if own is not None else start, start)
        following = next((b[0] for b in bounds[i + 1 :] if b is not None), None)
        between = [
            (m.start(), m.end())
            for m in _CONNECTOR.finditer(text, after)
            if following is None or m.end() <= following
        ]
        if between:
            # Before the next call's words, the last connector: what comes after it is that
            # call's ("high priority, and email anna"); with no words to aim at, the first.
            cut = between[-1] if following is not None else between[0]
        else:  # no connector: cut where the next call's words begin, or after this call's
            at = following if following is not None else after
            cut = (at, at)
        cuts.append(cut)
        start = cut[1]
    parts = []
    begin = 0
    for cut_start, cut_end in cuts:
        parts.append(_TRAILING.sub("", text[begin:cut_start]).strip(" ,;"))
        begin = cut_end
    parts.append(text[begin:].strip(" ,;"))
    return parts
