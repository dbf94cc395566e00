"""The decoding loop's pieces, each alone: the grammar constraint, abstaining, jump-forward and the
KV cache, on the untuned SmolLM2 GGUF."""

from __future__ import annotations

import numpy as np
import pytest

from intentforge.catalogue import load_catalogue
from intentforge.runtime.abstain import Abstain, abstaining_token
from intentforge.runtime.engine import Engine

AT_INTENT = b'{"intent":"'


@pytest.fixture(scope="module")
def engine(smollm2_parser) -> Engine:
    return smollm2_parser._engine


@pytest.fixture
def constraint(engine: Engine):
    constraint = engine._compile(load_catalogue().grammar())
    yield constraint
    constraint.free()


def _token(engine: Engine, text: str) -> int:
    (token,) = engine.tokenize(text, special=False)
    return token


def test_the_grammar_admits_only_an_opening_brace_first(engine: Engine, constraint) -> None:
    assert constraint.accepts(_token(engine, "{"))
    assert not constraint.accepts(_token(engine, "x"))
    best = constraint.best(np.zeros(engine.n_vocab, dtype=np.float32))
    assert engine._detokenize(best).startswith(b"{")


def test_abstaining_takes_out_of_scope_only_with_its_share_of_the_probability(
    engine: Engine, constraint
) -> None:
    for token in engine.tokenize(AT_INTENT.decode(), special=False):
        constraint.accept(token)
    names = tuple(f'{n}"'.encode() for n in ("add_task", "get_weather", "send_email"))
    uniform = np.zeros(engine.n_vocab, dtype=np.float32)

    def choice(min_p: float) -> int | None:
        abstain = Abstain(at=AT_INTENT, choice=b'none"', others=names, min_p=min_p)
        return abstaining_token(abstain, constraint, uniform, engine._detokenize)

    chosen = choice(0.0)
    assert chosen is not None and b'none"'.startswith(engine._detokenize(chosen))
    assert choice(1.0) is None  # other intents share the probability: greedy decides


def test_jump_forward_forces_fixed_text_up_to_the_word_the_model_must_finish(
    engine: Engine, constraint
) -> None:
    forced, done = engine._jump.forced_text(constraint)
    assert (forced, done) == (b'{"intent', False)
    # The forced bytes were accepted: the grammar now expects the rest of `":"`.
    assert constraint.accepts(_token(engine, '"'))
    assert not constraint.accepts(_token(engine, "{"))


def test_a_repeated_prompt_evaluates_only_its_last_token(engine: Engine) -> None:
    prompt = engine.prompt_tokens("play some jazz")
    engine.generate(prompt, grammar=True, max_tokens=4)
    assert engine._cache.reuse_prefix(prompt) == prompt[-1:]
    assert engine._cache.reuse_prefix([*prompt[:3], -1, 7]) == [-1, 7]
