"""The KV cache: the tokens evaluated so far, whose keys and values the next request reuses."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading tokens `a` and `b` share."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


class KVCache:
    """The evaluated tokens of one llama.cpp model, and the logits after the last of them."""

    def __init__(self, llm: Any, lib: Any) -> None:
        self._llm = llm
        self._lib = lib
        self._ctx = llm._ctx.ctx
        self._n_vocab = llm.n_vocab()

    @property
    def n_tokens(self) -> int:
        return int(self._llm.n_tokens)

    def reuse_prefix(self, tokens: list[int]) -> list[int]:
        """Keep the cached KV of the longest prefix `tokens` shares with what was evaluated; the
        rest of `tokens` is left to evaluate (at least one token, so fresh logits exist)."""
        common = common_prefix(self._llm._input_ids, tokens[:-1])
        self._llm.n_tokens = common
        return tokens[common:]

    def evaluate(self, tokens: list[int], timings_ms: dict[str, float], key: str) -> None:
        """Evaluate `tokens` after the context, adding the time taken to `timings_ms[key]`."""
        if not tokens:
            return
        t0 = time.perf_counter()
        self._llm.eval(tokens)
        timings_ms[key] += (time.perf_counter() - t0) * 1000

    def evaluate_each(
        self, tokens: list[int], first: int, timings_ms: dict[str, float], key: str
    ) -> np.ndarray:
        """Evaluate `tokens` (at most one batch) in one llama.cpp call, with the logits after
        each of them from `tokens[first]` on: row i predicts the token after tokens[first + i]
        (a copy)."""
        llm = self._llm
        t0 = time.perf_counter()
        n_past = int(llm.n_tokens)
        llm._ctx.kv_cache_seq_rm(-1, n_past, -1)
        llm._batch.set_batch(batch=tokens, n_past=n_past, logits_all=False)
        for i in range(first, len(tokens)):
            llm._batch.batch.logits[i] = True
        llm._ctx.decode(llm._batch)
        llm.input_ids[n_past : n_past + len(tokens)] = tokens
        llm.n_tokens = n_past + len(tokens)
        rows = np.empty((len(tokens) - first, self._n_vocab), dtype=np.float32)
        for row, i in enumerate(range(first, len(tokens))):
            ptr = self._lib.llama_get_logits_ith(self._ctx, i)
            rows[row] = np.ctypeslib.as_array(ptr, shape=(self._n_vocab,))
        timings_ms[key] += (time.perf_counter() - t0) * 1000
        return rows

    def tokens(self, start: int, end: int) -> list[int]:
        """The evaluated tokens at positions start..end-1."""
        return [int(t) for t in self._llm.input_ids[start:end]]

    def keep(self, n_tokens: int) -> None:
        """Forget what was evaluated after the first `n_tokens` (a rejected draft)."""
        self._llm.n_tokens = n_tokens

    def logits(self) -> np.ndarray:
        """The next-token logits after the last evaluated token (a view, valid until the next
        evaluation)."""
        ptr = self._lib.llama_get_logits_ith(self._ctx, -1)
        return np.ctypeslib.as_array(ptr, shape=(self._n_vocab,))
