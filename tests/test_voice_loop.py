"""The voice pipeline end to end: WAV -> Whisper -> model -> action (dry run) -> espeak-ng reply."""

from __future__ import annotations

import base64
import difflib
import io
import json
import os
import re
import subprocess
import sys
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from intentforge.actions import ActionRunner, ActionStatus
from intentforge.catalogue import load_catalogue
from intentforge.config import Settings, VoiceConfig, load_settings
from intentforge.errors import IntentforgeError
from intentforge.runtime import Conversations
from intentforge.secrets import load_secrets
from intentforge.voice.audio import SAMPLE_RATE, NoSpeechError, wav_bytes
from intentforge.voice.loop import Endpointer, VoicePipeline
from intentforge.voice.stt import WhisperTranscriber, transcriber_from
from intentforge.voice.tts import speaker_from

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "add_milk.wav"
STAGES = ["decode", "stt", "parse", "act", "tts", "total"]


@pytest.fixture(scope="module")
def transcriber() -> WhisperTranscriber:
    return transcriber_from(VoiceConfig())


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # Dry run: no credentials are configured, and the action state lives in the test's directory.
    return load_settings(overrides={"actions": {"state_dir": str(tmp_path / "state")}})


@pytest.fixture
def runner(settings: Settings) -> Iterator[ActionRunner]:
    with ActionRunner(settings, load_secrets(settings, {})) as runner:
        yield runner


def make_pipeline(
    transcriber: WhisperTranscriber, parse: Any, runner: ActionRunner, **options: Any
) -> VoicePipeline:
    return VoicePipeline(
        transcriber,
        parse,
        lambda call, resolved: runner.act(call, resolved=resolved),
        speaker_from(VoiceConfig()),
        **options,
    )


def turns(parser: Any) -> Any:
    """A parse step for the pipeline: `parser` through a conversation store, as the CLI does."""
    conversations = Conversations(ttl_s=60, max_open=10)
    return lambda text, conversation_id: conversations.turn(
        parser, text, conversation_id=conversation_id
    )


def assert_valid_wav(data: bytes) -> float:
    with wave.open(io.BytesIO(data), "rb") as src:
        assert src.getnchannels() == 1 and src.getsampwidth() == 2
        frames = src.readframes(src.getnframes())
        assert len(frames) == 2 * src.getnframes() > 0
        return src.getnframes() / src.getframerate()


def test_example_request_runs_every_stage_with_the_untuned_model(
    transcriber: WhisperTranscriber, smollm2_parser: Any, runner: ActionRunner
) -> None:
    heard: list[tuple[str, float]] = []
    pipeline = make_pipeline(
        transcriber, turns(smollm2_parser), runner, on_stage=lambda *stage: heard.append(stage)
    )
    turn = pipeline.run(EXAMPLE.read_bytes())
    assert heard == [(stage, turn.timings_ms[stage]) for stage in STAGES[:-1]]
    assert {"milk", "shopping", "list"} <= set(turn.transcript.lower().replace(".", "").split())
    # Untuned, the model picks some valid intent: check the flow and the types, not the intent.
    call = load_catalogue().validate(turn.intent)
    assert call.to_dict() == turn.intent
    assert turn.result["status"] in {s.value for s in ActionStatus}
    assert turn.reply == turn.result["reply"] and turn.reply
    assert assert_valid_wav(turn.reply_wav) > 0.3
    assert list(turn.timings_ms) == STAGES
    assert all(v >= 0 for v in turn.timings_ms.values())
    assert turn.timings_ms["total"] >= turn.timings_ms["stt"] + turn.timings_ms["parse"]
    body = turn.to_json()
    assert base64.b64decode(body["reply_audio"]["base64"]) == turn.reply_wav
    assert body["audio_s"] == pytest.approx(2.5, abs=0.2)
    json.dumps(body)


def test_trained_model_hears_the_example_as_add_task(
    transcriber: WhisperTranscriber, runner: ActionRunner, settings: Settings
) -> None:
    from intentforge.runtime import Parser, default_model_path

    try:
        model = default_model_path(settings)
    except IntentforgeError:
        pytest.skip("no trained model under build/models (run `intentforge build` first)")
    parser = Parser(model, load_catalogue(), settings.runtime)
    try:
        turn = make_pipeline(transcriber, turns(parser), runner).run(EXAMPLE.read_bytes())
    finally:
        parser.close()
    assert turn.intent["intent"] == "add_task"
    assert "milk" in turn.intent["parameters"]["content"].lower()
    assert turn.result["status"] == ActionStatus.DRY_RUN


@pytest.mark.parametrize("level", [0.0, 0.02])
def test_silence_and_hiss_never_reach_the_parser(
    transcriber: WhisperTranscriber, runner: ActionRunner, level: float
) -> None:
    parsed: list[str] = []
    pipeline = make_pipeline(transcriber, lambda text, _: parsed.append(text), runner)
    rng = np.random.default_rng(3)
    quiet = (level * rng.standard_normal(3 * SAMPLE_RATE)).astype(np.float32)
    with pytest.raises(NoSpeechError, match=r"silent|no speech heard"):
        pipeline.run(wav_bytes(quiet, SAMPLE_RATE))
    assert parsed == []


def test_a_question_is_spoken_and_the_next_utterance_answers_it(
    transcriber: WhisperTranscriber, asking_parser: Any, runner: ActionRunner
) -> None:
    speaker = speaker_from(VoiceConfig())
    pipeline = make_pipeline(transcriber, turns(asking_parser), runner)
    asked = pipeline.run(speaker.speak("Please send an email."))
    assert asked.intent == {"intent": "send_email", "parameters": {}}
    assert (asked.missing, asked.question) == (("to",), "Who should I send it to?")
    assert asked.result["status"] == "needs_clarification"  # nothing was sent
    assert asked.reply == "Who should I send it to?"
    assert assert_valid_wav(asked.reply_wav) > 0.5  # the question, spoken
    assert asked.conversation_id and asked.to_json()["conversation_id"] == asked.conversation_id

    answered = pipeline.run(speaker.speak("To my boss."), asked.conversation_id)
    assert answered.intent["intent"] == "send_email"
    assert answered.intent["parameters"]["to"].lower().strip(".") == "my boss"
    assert (answered.missing, answered.conversation_id) == ((), None)
    # Complete now: the action itself answers (no address for "my boss" in the contacts).
    assert answered.result["error"] == "unknown_contact"


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "INTENTFORGE_ACTIONS__STATE_DIR": str(cwd / "state")}
    return subprocess.run(
        [sys.executable, "-c", "from intentforge.cli import main; main()", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
        check=False,
    )


@pytest.mark.slow
def test_cli_voice_prints_transcript_intent_reply_and_writes_the_reply(
    tmp_path: Path, smollm2_gguf: Path
) -> None:
    out = tmp_path / "reply.wav"
    done = run_cli(
        "voice", "--wav", str(EXAMPLE), "--model", str(smollm2_gguf), "--out", str(out),
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("heard:  ") and "milk" in lines[0].lower()
    # One "intent:" and "result:" pair per call (the untuned model may say several), then the
    # one reply.
    intents = [json.loads(line.removeprefix("intent: ")) for line in lines if line[:7] == "intent:"]
    assert intents and lines[1].startswith("intent: ")
    assert all(i["intent"] in load_catalogue().names for i in intents)
    assert lines[1 + 2 * len(intents)].startswith("reply:  ") and len(lines) == 2 + 2 * len(intents)
    for stage in ("stt", "parse", "act", "tts"):
        assert f"{stage} " in done.stderr
    assert assert_valid_wav(out.read_bytes()) > 0.3
    # Each --wav is a turn of one conversation (the next answers a question the last asked).
    two = run_cli(
        "voice", "--wav", str(EXAMPLE), "--wav", str(EXAMPLE), "--model", str(smollm2_gguf),
        "--out", str(out), "--json", cwd=tmp_path,
    )  # fmt: skip
    assert two.returncode == 0, two.stderr
    answers = [json.loads(line) for line in two.stdout.splitlines()]
    assert len(answers) == 2, two.stdout + two.stderr
    assert all("milk" in a["transcript"].lower() for a in answers)
    assert all({"missing", "question", "conversation_id"} <= set(a) for a in answers)


def test_cli_voice_reports_bad_input_in_one_line(tmp_path: Path) -> None:
    missing = run_cli("voice", "--wav", str(tmp_path / "nope.wav"), cwd=tmp_path)
    assert missing.returncode == 2
    assert missing.stderr.strip() == f"error: audio file not found: {tmp_path / 'nope.wav'}"
    both = run_cli("voice", "--wav", str(EXAMPLE), "--mic", cwd=tmp_path)
    assert both.returncode == 2 and "exactly one of --wav FILE or --mic" in both.stderr
    neither = run_cli("voice", cwd=tmp_path)
    assert neither.returncode == 2


def test_cli_mic_without_an_input_device_says_so(tmp_path: Path) -> None:
    import sounddevice

    try:
        sounddevice.query_devices(kind="input")
        pytest.skip("this machine has a microphone")
    except sounddevice.PortAudioError:
        pass
    done = run_cli("voice", "--mic", cwd=tmp_path)
    assert done.returncode == 2
    assert "no microphone found" in done.stderr and "--wav FILE" in done.stderr


def blocks(*parts: tuple[float, float], block_s: float = 0.03) -> list[np.ndarray]:
    """Audio blocks: (seconds, tone level) pieces, with a low hiss under everything."""
    rng = np.random.default_rng(0)
    out = []
    n = int(SAMPLE_RATE * block_s)
    for seconds, level in parts:
        for _ in range(round(seconds / block_s)):
            t = np.arange(n) / SAMPLE_RATE
            hiss = 0.002 * rng.standard_normal(n)
            out.append((level * np.sin(2 * np.pi * 300 * t) + hiss).astype(np.float32))
    return out


def test_endpointer_cuts_one_utterance_after_trailing_silence() -> None:
    endpointer = Endpointer(silence_s=0.6)
    stream = blocks((0.6, 0.0), (1.2, 0.3), (1.0, 0.0), (1.0, 0.3))
    fed = 0
    for block in stream:
        fed += 1
        if endpointer.feed(block):
            break
    assert endpointer.done
    # Ended 0.6 s into the silence, before the second burst.
    assert fed == round((0.6 + 1.2 + 0.6) / 0.03)
    utterance_s = len(endpointer.utterance()) / SAMPLE_RATE
    assert 1.7 < utterance_s < 2.0


def test_endpointer_ignores_steady_background_noise_and_caps_length() -> None:
    quiet = Endpointer()
    for block in blocks((3.0, 0.0)):
        assert not quiet.feed(block)
    assert not quiet.started and len(quiet.utterance()) == 0
    capped = Endpointer(max_s=1.0)
    results = [capped.feed(b) for b in blocks((0.3, 0.0), (3.0, 0.3))]
    assert capped.done and results.index(True) < round(1.4 / 0.03)


def test_stages_that_ended_are_reported_when_a_later_one_fails(
    transcriber: WhisperTranscriber, runner: ActionRunner
) -> None:
    def refuse(text: str, conversation_id: str | None) -> Any:
        raise IntentforgeError("the model is busy", status_code=503)

    heard: list[str] = []
    pipeline = make_pipeline(
        transcriber, refuse, runner, on_stage=lambda stage, ms: heard.append(stage)
    )
    with pytest.raises(IntentforgeError, match="busy"):
        pipeline.run(EXAMPLE.read_bytes())
    assert heard == ["decode", "stt"]


def test_two_requests_said_in_one_breath_are_both_done_and_both_replies_spoken(
    transcriber: WhisperTranscriber, multi_parser: Any, runner: ActionRunner
) -> None:
    from conftest import MULTI_ANSWERS

    said = "add milk to the shopping list and what's the weather in paris"

    def parse(text: str, conversation_id: str | None) -> Any:
        # Whisper punctuates and mishears as it likes ("hard milk"); the double knows the words
        # said, and hears them in what is close enough.
        plain = " ".join(re.sub(r"[^\w' ]", "", text.lower()).split())
        close = difflib.get_close_matches(plain, list(MULTI_ANSWERS), n=1, cutoff=0.9)
        return turns(multi_parser)(close[0] if close else text, conversation_id)

    pipeline = make_pipeline(transcriber, parse, runner)
    turn = pipeline.run(speaker_from(VoiceConfig()).speak(said.capitalize() + "."))
    assert [c["intent"] for c in turn.calls] == ["add_task", "get_weather"]
    assert turn.intent == {
        "intent": "add_task",
        "parameters": {"content": "milk", "project": "shopping"},
    }
    replies = [c["result"]["reply"] for c in turn.calls]
    assert turn.reply == " ".join(replies) and len(replies) == 2
    assert assert_valid_wav(turn.reply_wav) > 1.0
