"""Abstaining: at the intent decision, out-of-scope wins with a share of the probability.

A false action (an e-mail sent, a task created) costs more than "I can't do that", so where the
answer chooses its intent, `none` is taken whenever the model gives it at least `min_p` of the
probability the grammar admits there (runtime.refuse_at), even if an action is likelier. An answer
of several calls (one per line) has one intent decision per call, and the rule applies at each.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from intentforge.runtime.constraint import Constraint


@dataclass(frozen=True)
class Abstain:
    """Where the answer so far is `at`, or ends with `after` + `at` (the start of a later call),
    choose the continuation `choice` when the model gives it at least `min_p` of the probability
    the grammar admits, even if another is likelier.

    A token counts for `choice` when its text agrees with `choice` and with none of `others`
    ('none' and 'n' for 'none"', unless another intent's name also starts with 'n').
    """

    at: bytes
    choice: bytes
    others: tuple[bytes, ...]
    min_p: float
    after: bytes = b"\n"

    def applies(self, answer: bytes) -> bool:
        """Whether `answer`, the answer so far, stands at a decision."""
        return answer == self.at or answer.endswith(self.after + self.at)

    def counts(self, piece: bytes) -> bool:
        def agrees(text: bytes) -> bool:
            return bool(piece) and (text.startswith(piece) or piece.startswith(text))

        return agrees(self.choice) and not any(agrees(o) for o in self.others)


def choice_share(
    abstain: Abstain,
    constraint: Constraint,
    logits: np.ndarray,
    detokenize: Callable[[int], bytes],
) -> tuple[float, int | None]:
    """The share of the probability the grammar admits here that goes to `abstain.choice`, and
    the likeliest token for it (None when the grammar admits none)."""
    ids, probs = constraint.admitted(logits)
    mask = np.array([abstain.counts(detokenize(int(t))) for t in ids], dtype=bool)
    if not mask.any():
        return 0.0, None
    return float(probs[mask].sum()), int(ids[mask][np.argmax(probs[mask])])


def abstaining_token(
    abstain: Abstain,
    constraint: Constraint,
    logits: np.ndarray,
    detokenize: Callable[[int], bytes],
) -> int | None:
    """The likeliest token for `abstain.choice` if the choice has at least `min_p` of the
    probability over the tokens the grammar admits here; else None (greedy decides)."""
    share, token = choice_share(abstain, constraint, logits, detokenize)
    return token if share >= abstain.min_p else None
