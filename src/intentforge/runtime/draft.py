"""Prompt-lookup drafts: the continuation of a span the model is copying from the request.

Text slots are spans of the request, so once the model has written a word of one, the request's
next tokens are a likely continuation. They are drafted from the prompt and verified by the
engine in one batched evaluation: the model's own greedy choice at each drafted position decides,
so a draft changes how many sequential steps an answer takes, never the answer.

Tokens are matched by their text without its leading space and case: the first word of a slot
value follows `"` in the answer ("milk") where the request had it after a space (" milk").
"""

from __future__ import annotations

from typing import Any


class PromptLookup:
    """Drafts up to `max_tokens` tokens that follow the answer's last token in the request."""

    def __init__(self, llm: Any, stop_tokens: set[int], max_tokens: int) -> None:
        self._llm = llm
        self._stop = stop_tokens
        self.max_tokens = max_tokens
        self._keys: dict[int, bytes] = {}

    def key(self, token: int) -> bytes:
        """A token's text as matched: no leading space, lower case; empty for tokens that are
        no word (punctuation, spaces, markers), which never start a draft."""
        key = self._keys.get(token)
        if key is None:
            text = bytes(self._llm.detokenize([token])).lstrip(b" ").lower()
            key = text if any(chr(b).isalnum() for b in text if b < 0x80) else b""
            self._keys[token] = key
        return key

    def draft(self, prompt: list[int], last: int) -> list[int]:
        """The prompt's tokens after its latest occurrence of `last` (by key), up to a chat
        marker or `max_tokens`; empty when `last` is no word or not in the prompt."""
        if self.max_tokens <= 0:
            return []
        wanted = self.key(last)
        if not wanted:
            return []
        for at in range(len(prompt) - 1, -1, -1):
            if prompt[at] not in self._stop and self.key(prompt[at]) == wanted:
                follow = []
                for token in prompt[at + 1 : at + 1 + self.max_tokens]:
                    if token in self._stop:
                        break
                    follow.append(token)
                return follow
        return []
