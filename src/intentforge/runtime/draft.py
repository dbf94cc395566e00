"""Prompt-lookup drafts: the continuation of a text value the model is copying from the request.

Text slots are spans of the request, so the request itself is a likely continuation of the
answer. Drafts are verified by the engine in one batched evaluation: the model's own greedy choice
at each drafted position decides, so a draft changes how many sequential steps an answer takes,
never the answer. A wrong draft costs only its extra tokens in that batch (~1 ms each here),
against ~12 ms for a step, so a draft is made wherever a text value is open:
- inside a value: the request's text after the words written so far;
- where a value that mostly copies all the request has left opens (a refusal's "said"): the
  request's text from where the last copied words ended (its start at first), drafted whole.
  Other values are not drafted before their first word: where one starts is the model's
  choice, and guessing it cost more than it saved (p50 174 -> 162 ms on 36 requests);
- a draft that reaches the end of the request goes on, after its last word, with the text that
  closes a call's last slot (`"}}`), so the model's choice to end the answer there is made in
  the same batch.

Drafts are matched and cut as text, then tokenized as training tokenized the answer: a value's
first word follows `"` there ("tomorrow" is `tom`+`orrow`) where the request has it after a
space (" tomorrow", one token), so the request's own tokens would never match it.
"""

from __future__ import annotations

from collections.abc import Callable

_OPEN = b'":"'
_NOT_A_VALUE = b'"intent'  # the intent name is a choice, not a copy
_TRAILING = b" .,!?;:"


def text_values(answer: bytes) -> tuple[list[bytes], bytes, bytes | None]:
    """The text values of `answer` in order: the closed ones, then the key and text of the one
    being written (b"" just after its opening quote), None when the answer is not inside one."""
    closed: list[bytes] = []
    at = answer.find(_OPEN)
    while at >= 0:
        start = at + len(_OPEN)
        end = answer.find(b'"', start)
        if not answer[:at].endswith(_NOT_A_VALUE):
            if end < 0:
                key = answer[answer.rfind(b'"', 0, at) + 1 : at]
                return closed, key, answer[start:]
            closed.append(answer[start:end])
        if end < 0:
            break
        at = answer.find(_OPEN, end)
    return closed, b"", None


def _word_starts(text: bytes) -> list[int]:
    return [i for i, b in enumerate(text) if b != 32 and (i == 0 or text[i - 1] == 32)]


class PromptLookup:
    """Drafts up to `max_tokens` tokens of the request that may come next in the answer; the
    whole rest of it for a value that copies everything it is given (`whole`: "said")."""

    def __init__(
        self,
        tokenize: Callable[[bytes], list[int]],
        max_tokens: int,
        closing: bytes = b"",
        whole: frozenset[bytes] = frozenset(),
    ) -> None:
        self._tokenize = tokenize
        self.max_tokens = max_tokens
        self._closing = closing
        self._whole = whole

    @staticmethod
    def find(request: bytes, value: bytes, cursor: int) -> int | None:
        """Where `value` (case aside) starts in `request` at a word start: the first such place
        from `cursor` on (values are mostly said in the order written), else the first."""
        low, want = request.lower(), value.lower()
        found = [i for i in _word_starts(request) if low.startswith(want, i)]
        if not found:
            return None
        return next((i for i in found if i >= cursor), found[0])

    def cursor(self, request: bytes, values: list[bytes]) -> int:
        """Where in `request` the copying of `values`, in order, ended."""
        cursor = 0
        for value in values:
            at = self.find(request, value, cursor)
            if at is not None:
                cursor = at + len(value)
        return cursor

    def draft(self, request: bytes, answer: bytes) -> list[int]:
        """Tokens that may continue `answer`: the rest of `request` after the open text value
        (from where the values before it ended, when a whole copy just opened), then the text
        that closes the call; none when no value is open or it is not a span of `request`."""
        closed, key, value = text_values(answer)
        if self.max_tokens <= 0 or value is None:
            return []
        if not value and key not in self._whole:
            return []
        cursor = self.cursor(request, closed)
        if value:
            at = self.find(request, value, cursor)
            if at is None:
                return []
            rest = request[at + len(value) :]
        else:
            rest = request[cursor:].lstrip(b" ")
        said = rest.rstrip(_TRAILING)
        if not said and not value:
            return []
        tokens = self._tokenize(said + self._closing)
        return tokens if key in self._whole else tokens[: self.max_tokens]
