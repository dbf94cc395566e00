"""The catalogue grammar as llama.cpp enforces it during one generation: which tokens it admits.

Applying a grammar sampler costs a pass over the candidates it is given, so the engine asks about
one token (the greedy one) first and about the whole vocabulary only when that token is rejected.
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

from intentforge.errors import IntentforgeError, ModelOutputError

_TOKEN_DATA = np.dtype([("id", np.intc), ("logit", np.single), ("p", np.single)], align=True)


class TokenArray:
    """A llama_token_data_array over numpy memory, reusable across calls."""

    def __init__(self, ids: np.ndarray) -> None:
        import llama_cpp

        self.ids = ids.astype(np.intc)
        self.data = np.recarray((len(ids),), dtype=_TOKEN_DATA)
        self.array = llama_cpp.llama_token_data_array(
            data=self.data.ctypes.data_as(llama_cpp.llama_token_data_p),
            size=len(ids),
            selected=-1,
            sorted=False,
        )

    def fill(self, logits: np.ndarray | float) -> None:
        self.data.id[:] = self.ids
        self.data.logit[:] = logits
        self.data.p[:] = 0.0
        self.array.size = len(self.ids)
        self.array.selected = -1
        self.array.sorted = False


class Candidates:
    """The arrays a constraint is applied through: the whole vocabulary, and one token."""

    def __init__(self, n_vocab: int) -> None:
        self.vocabulary = TokenArray(np.arange(n_vocab))
        self.one = TokenArray(np.zeros(1))


class Constraint:
    """A llama.cpp grammar sampler, fed the tokens of the answer as it grows."""

    def __init__(self, lib: Any, sampler: Any, candidates: Candidates) -> None:
        self._lib = lib
        self.sampler = sampler
        self._candidates = candidates

    @classmethod
    def compile(cls, lib: Any, vocab: Any, grammar: str, candidates: Candidates) -> Constraint:
        """A constraint for the GBNF `grammar` (root rule `root`)."""
        sampler = lib.llama_sampler_init_grammar(vocab, grammar.encode("utf-8"), b"root")
        if not sampler:
            raise IntentforgeError("llama.cpp rejects the grammar", status_code=500)
        return cls(lib, sampler, candidates)

    def reset(self) -> None:
        """Back to the start of an answer."""
        self._lib.llama_sampler_reset(self.sampler)

    def free(self) -> None:
        self._lib.llama_sampler_free(self.sampler)

    def clone(self) -> Constraint:
        """A copy in the same state, to look ahead without moving this one."""
        return Constraint(self._lib, self._lib.llama_sampler_clone(self.sampler), self._candidates)

    def accept(self, token: int) -> None:
        """The answer continues with `token`."""
        self._lib.llama_sampler_accept(self.sampler, token)

    def admits(self, candidates: TokenArray, logits: np.ndarray | float = 0.0) -> np.ndarray:
        """Which of `candidates` may come next (a boolean mask); their logits stay in the array,
        -inf for the rejected."""
        candidates.fill(logits)
        self._lib.llama_sampler_apply(self.sampler, ctypes.byref(candidates.array))
        return np.isfinite(candidates.data.logit)

    def accepts(self, token: int) -> bool:
        """Whether `token` may come next."""
        one = self._candidates.one
        one.ids[0] = token
        return bool(self.admits(one)[0])

    def best(self, logits: np.ndarray) -> int:
        """The likeliest token the grammar admits next."""
        vocabulary = self._candidates.vocabulary
        self.admits(vocabulary, logits)
        best = int(np.argmax(vocabulary.data.logit))
        if not np.isfinite(vocabulary.data.logit[best]):
            raise ModelOutputError("the grammar admits no next token (a broken catalogue grammar)")
        return int(vocabulary.data.id[best])

    def admitted(self, logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The tokens the grammar admits next and their probabilities among themselves."""
        vocabulary = self._candidates.vocabulary
        mask = self.admits(vocabulary, logits)
        ids = vocabulary.data.id[mask]
        scores = vocabulary.data.logit[mask].astype(np.float64)
        probs = np.exp(scores - scores.max())
        return ids, probs / probs.sum()
