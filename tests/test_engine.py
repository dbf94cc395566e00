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
    assert constraint.accepts(_token(engine, "{"))  # looking ahead leaves the constraint as it was
    engine._jump.accept(constraint, forced)
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


DRAFTED_REQUESTS = (
    "remind me to call the garage about the broken window on monday",
    "send an email to anna saying the meeting moved to thursday afternoon",
    "add pick up the dry cleaning to my errands list",
)


def test_drafted_decoding_gives_the_answers_of_step_by_step_decoding(smollm2_gguf) -> None:
    from intentforge.config import RuntimeConfig
    from intentforge.runtime import Parser

    answers = {}
    for draft_tokens in (0, 8):
        config = RuntimeConfig(max_tokens=48, n_threads=1, max_calls=1, draft_tokens=draft_tokens)
        parser = Parser(smollm2_gguf, load_catalogue(), config)
        try:
            answers[draft_tokens] = [
                parser.generate(text, grammar=True, max_tokens=48) for text in DRAFTED_REQUESTS
            ]
        finally:
            parser.close()
    # Where two tokens are nearly tied, the last digits of a batched evaluation can pick the
    # other one: an untuned model has such ties; bench/parse_latency.py --compare counts them on
    # the dev sets for the trained model.
    for step_by_step, drafted in zip(answers[0], answers[8], strict=True):
        assert step_by_step.drafted_tokens == 0
        assert drafted.text == step_by_step.text
        assert drafted.n_tokens == step_by_step.n_tokens
    assert sum(g.accepted_tokens for g in answers[8]) > 0  # the model copied drafted tokens
    assert sum(g.steps for g in answers[8]) < sum(g.steps for g in answers[0])


def _accept_text(engine: Engine, constraint, text: str) -> None:
    for token in engine.tokenize(text, special=False):
        assert constraint.accepts(token), text
        constraint.accept(token)


def _eos(engine: Engine) -> int:
    return int(engine._llm.token_eos())


def test_after_a_call_the_grammar_admits_only_a_new_line_or_the_end(
    engine: Engine, constraint
) -> None:
    _accept_text(engine, constraint, '{"intent":"none","parameters":{}}')
    assert constraint.accepts(_eos(engine))
    assert constraint.accepts(_token(engine, "\n"))
    for other in (",", " ", "{", "x"):
        assert not constraint.accepts(_token(engine, other))
    constraint.accept(_token(engine, "\n"))
    forced, done = engine._jump.forced_text(constraint, b"")
    assert (forced, done) == (b'{"intent":"', False)  # the next call starts as the first did


def test_an_answer_holds_at_most_three_calls(engine: Engine, constraint) -> None:
    call = '{"intent":"get_weather","parameters":{}}'
    _accept_text(engine, constraint, "\n".join([call] * 3))
    assert constraint.accepts(_eos(engine))
    assert not constraint.accepts(_token(engine, "\n"))


def test_one_call_grammar_ends_after_the_call(engine: Engine) -> None:
    one = engine._compile(load_catalogue().grammar(max_calls=1))
    try:
        _accept_text(engine, one, '{"intent":"none","parameters":{}}')
        assert not one.accepts(_token(engine, "\n"))
        _, done = engine._jump.forced_text(one, b"")
        assert done
    finally:
        one.free()


def test_abstaining_stands_at_every_calls_intent_choice() -> None:
    abstain = Abstain(at=AT_INTENT, choice=b'none"', others=(b'add_task"',), min_p=0.3)
    assert abstain.applies(AT_INTENT)
    assert abstain.applies(b'{"intent":"add_task","parameters":{}}\n' + AT_INTENT)
    assert not abstain.applies(b'{"intent":"add_task","parameters":{}}')
    assert not abstain.applies(b'{"intent":"add_task","parameters":{"content":"{\\"intent\\":"')


def test_out_of_scope_wins_the_second_calls_intent_choice_too(engine: Engine) -> None:
    first = '{\\"intent\\":\\"add_task\\",\\"parameters\\":{}}'
    grammar = (
        f'root ::= "{first}\\n{{\\"intent\\":\\"" ("add_task" | "none") '
        '"\\",\\"parameters\\":{}}"\n'
    )
    abstain = Abstain(at=AT_INTENT, choice=b'none"', others=(b'add_task"',), min_p=0.0)
    prompt = engine.prompt_tokens("add bread to my list and turn on the lights")
    gen = engine.generate(prompt, grammar=grammar, max_tokens=40, abstain=abstain)
    assert gen.text.endswith('\n{"intent":"none","parameters":{}}'), gen.text
    assert gen.abstain_share is not None


def test_a_two_call_answer_decodes_with_jump_forward_and_drafts_as_step_by_step(
    smollm2_gguf,
) -> None:
    from intentforge.config import RuntimeConfig
    from intentforge.prompt import normalise_text
    from intentforge.runtime import Parser

    catalogue = load_catalogue()
    text = "add milk to the shopping list and what's the weather in paris"
    # The untuned model never chooses a second call: this grammar makes it write two.
    one_or_two = catalogue.grammar(normalise_text(text), max_calls=2)
    two = one_or_two.replace('root ::= call ("\\n" call)?', 'root ::= call "\\n" call', 1)
    assert two != one_or_two
    answers = []
    for draft_tokens in (0, 8):
        config = RuntimeConfig(n_threads=1, max_calls=2, draft_tokens=draft_tokens)
        parser = Parser(smollm2_gguf, catalogue, config)
        try:
            answers.append(
                parser._engine.generate(parser.prompt_tokens(text), grammar=two, max_tokens=96)
            )
        finally:
            parser.close()
    step_by_step, drafted = answers
    assert drafted.text == step_by_step.text and drafted.stopped_by_eos
    assert len(catalogue.validate_calls(drafted.text)) == 2
    # Fixed text (the second call's '{"intent":"' too) is appended in batches, not sampled.
    assert drafted.forced_tokens > 0 and drafted.steps < drafted.n_tokens
