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


def test_jump_forward_forces_fixed_text_up_to_where_a_token_of_training_ends(
    engine: Engine, constraint
) -> None:
    forced, done = engine._jump.forced_text(constraint, b"")
    # No intent name starts with a byte that joins '"' into one token: the model begins with it.
    assert (forced, done) == (b'{"intent":"', False)
    assert constraint.accepts(_token(engine, "add"))
    assert not constraint.accepts(_token(engine, "{"))


def test_jump_forward_leaves_a_word_the_grammar_lets_end_two_ways_to_the_model(
    engine: Engine,
) -> None:
    both = engine._compile('root ::= "{\\"priority\\":1}" | "{\\"project\\":1}"')
    try:
        forced, done = engine._jump.forced_text(both, b"")
    finally:
        both.free()
    assert (forced, done) == (b'{"', False)  # 'pr' would be a token training never had


def test_a_repeated_prompt_evaluates_only_its_last_token(engine: Engine) -> None:
    prompt = engine.prompt_tokens("play some jazz")
    engine.generate(prompt, grammar=True, max_tokens=8)
    assert engine._cache.reuse_prefix(prompt) == prompt[-1:]
    assert engine._cache.reuse_prefix([*prompt[:3], -1, 7]) == [-1, 7]


def test_prompt_lookup_drafts_the_request_after_the_word_just_written(engine: Engine) -> None:
    prompt = engine.prompt_tokens("remind me to buy milk tomorrow")
    (buy,) = engine.tokenize("buy", special=False)  # as an answer starts a span: no space
    drafted = b"".join(engine._detokenize(t) for t in engine._lookup.draft(prompt, buy))
    assert drafted.startswith(b" milk tomorrow")
    assert engine._lookup.draft(prompt, _token(engine, '"')) == []  # no word: no draft


@pytest.mark.parametrize(
    "text",
    [
        "remind me to call the garage about the broken window on monday",
        "send an email to anna saying the meeting moved to thursday afternoon",
        "add pick up the dry cleaning to my errands list",
    ],
)
def test_drafted_decoding_gives_the_answer_of_step_by_step_decoding(
    smollm2_gguf, text: str
) -> None:
    from intentforge.config import RuntimeConfig
    from intentforge.runtime import Parser

    answers = []
    for draft_tokens in (0, 8):
        config = RuntimeConfig(max_tokens=48, n_threads=1, max_calls=1, draft_tokens=draft_tokens)
        parser = Parser(smollm2_gguf, load_catalogue(), config)
        try:
            answers.append(parser.generate(text, grammar=True, max_tokens=48))
        finally:
            parser.close()
    # Where two tokens are nearly tied, the last digits of a batched evaluation can pick the
    # other one: an untuned model has such ties; bench/parse_latency.py counts them on the dev
    # sets for the trained model.
    step_by_step, drafted = answers
    assert step_by_step.drafted_tokens == 0
    assert drafted.text == step_by_step.text
    assert drafted.n_tokens == step_by_step.n_tokens
    assert drafted.accepted_tokens > 0  # the model copied at least one drafted token
    assert drafted.steps < step_by_step.steps
