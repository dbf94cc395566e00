"""Jump-forward: text the grammar allows in exactly one way is appended without asking the model.

Where the grammar admits exactly one next character (`","parameters":{"content":"` after an
intent name, `}}` at the end) that text is appended without sampling and evaluated as one batch.
The probe is a grammar pass over the ~260 single-byte tokens, not the vocabulary.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from intentforge.runtime.constraint import Constraint, TokenArray
from intentforge.runtime.kv_cache import KVCache


class Forced(NamedTuple):
    """What the grammar fixes after an answer: `text` to append, whether the grammar is then
    `done`, and `likely`: fixed text held back for the model (it joins one token with what
    follows, as '":{' does with the '"' of a key), with that '"' when the grammar admits one
    next: the engine drafts it, so the model writes it in the same batch as what follows."""

    text: bytes
    done: bool
    likely: bytes = b""


class JumpForward:
    """Finds forced text and joins it to the answer as training tokenized it."""

    def __init__(self, llm: Any, end_of_generation: set[int]) -> None:
        self._llm = llm
        self._token_of_byte: dict[int, int] = {}
        for b in range(256):
            ids = llm.tokenize(bytes([b]), add_bos=False, special=False)
            if len(ids) == 1 and llm.detokenize(ids) == bytes([b]):
                self._token_of_byte.setdefault(b, ids[0])
        self._byte_of = {token: byte for byte, token in self._token_of_byte.items()}
        self._eog = end_of_generation
        byte_tokens = list(self._token_of_byte.values())
        self._probe = TokenArray(np.array(byte_tokens + sorted(end_of_generation)))

    def tokens(self, text: bytes) -> list[int]:
        """`text` tokenized alone, as plain text."""
        return list(self._llm.tokenize(text, add_bos=False, special=False))

    def forced_text(self, constraint: Constraint, answer: bytes) -> Forced:
        """Text the grammar allows in exactly one way after `answer`, and whether the grammar is
        then done; `constraint` is left as it was (`accept` appends the text to it).

        Short of the grammar's end, the text stops where a token of training could end: when the
        next byte the grammar admits would join its last run into one token (letters after
        '","pr', which could be 'priority' or 'project'), that run is left to the model, which
        saw '","', 'priority', '":' in training and never a lone 'pr'. After '"content":"' no
        admitted byte joins the quotes, so the model starts with the value itself.
        """
        probe = constraint.clone()
        try:
            forced, done, following = self._walk(probe)
        finally:
            probe.free()
        if forced and not done and not self._ends_a_token(answer + forced, following):
            kept = without_last_run(forced)
            held = forced[len(kept) :]
            return Forced(kept, done, held + b'"' if ord('"') in following else held)
        return Forced(forced, done)

    def accept(self, constraint: Constraint, forced: bytes) -> None:
        """Advance `constraint` over `forced`, text that `forced_text` returned for it."""
        for byte in forced:
            constraint.accept(self._token_of_byte[byte])

    def _ends_a_token(self, text: bytes, following: list[int]) -> bool:
        """Whether no byte of `following` merges into the last token of `text`."""
        start = max(0, len(text) - 16)
        while start < len(text) and 0x80 <= text[start] < 0xC0:  # not inside a character
            start += 1
        tail = text[start:]
        ids = self.tokens(tail)
        for byte in following:
            nxt = "é".encode() if byte >= 0x80 else bytes([byte])
            if self.tokens(tail + nxt)[: len(ids)] != ids:
                return False
        return True

    def _walk(self, constraint: Constraint) -> tuple[bytes, bool, list[int]]:
        """The forced bytes, whether the grammar is done, and the bytes it admits after them."""
        forced = bytearray()
        while True:
            allowed = self._probe.ids[constraint.admits(self._probe)]
            following = [self._byte_of[int(t)] for t in allowed if int(t) in self._byte_of]
            if len(allowed) == 0:
                return bytes(forced), False, following
            if len(allowed) > 1 or int(allowed[0]) not in self._byte_of:
                return bytes(forced), all(int(t) in self._eog for t in allowed), following
            byte = self._byte_of[int(allowed[0])]
            if byte >= 0x80:  # a lone UTF-8 lead byte: let the model pick the whole character
                return bytes(forced), False, following
            constraint.accept(int(allowed[0]))
            forced.append(byte)

    def join(
        self,
        cache: KVCache,
        prompt: list[int],
        answer: bytes,
        forced_tokens: list[int],
        pending: list[int],
    ) -> tuple[list[int], int]:
        """The tokens still to evaluate once forced text (the end of `answer`; `forced_tokens`
        alone) joins the answer, and how many answer tokens that added.

        Training tokenized each answer as one string, so forced text tokenized on its own gives
        the model token boundaries it never saw: a '"' it generated followed by a forced
        ',"due":"' is '",' + '"due":"' in training. The context becomes the answer so far
        tokenized as a whole; the KV cache keeps the prefix that did not change.
        """
        try:
            answer.decode("utf-8")
        except UnicodeDecodeError:  # inside a multi-byte character: keep the model's own tokens
            return pending + forced_tokens, len(forced_tokens)
        before = cache.n_tokens + len(pending)
        whole = prompt + self.tokens(answer)
        return cache.reuse_prefix(whole), len(whole) - before


def without_last_run(text: bytes) -> bytes:
    """`text` without its trailing run of one character class (letters, digits, spaces, other)."""
    end = len(text)
    while end and _byte_class(text[end - 1]) == _byte_class(text[-1]):
        end -= 1
    return text[:end]


def _byte_class(byte: int) -> int:
    char = chr(byte)
    return 0 if char.isalpha() else 1 if char.isdigit() else 2 if char.isspace() else 3
