"""`intentforge voice` (speak a request, hear the answer) and `intentforge data speechify`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from intentforge.catalogue import Catalogue
from intentforge.cli.common import ConfigOption, console, settings_from
from intentforge.errors import IntentforgeError

if TYPE_CHECKING:
    from intentforge.actions import ActionRunner
    from intentforge.config import Settings
    from intentforge.runtime import Parser
    from intentforge.voice.loop import VoicePipeline, VoiceTurn


def build_pipeline(
    settings: Settings, *, model: Path | None = None, timezone: str | None = None
) -> tuple[VoicePipeline, Parser, ActionRunner]:
    """Load every stage: STT model, parser (GGUF), action runner, TTS. Close parser and runner."""
    from intentforge.actions import ActionRunner
    from intentforge.runtime import Conversations, Parser, default_model_path
    from intentforge.secrets import load_secrets
    from intentforge.voice.hints import hotwords_for
    from intentforge.voice.loop import VoicePipeline
    from intentforge.voice.stt import transcriber_from
    from intentforge.voice.tts import speaker_from

    catalogue = Catalogue.from_settings(settings)
    speaker = speaker_from(settings.voice)
    transcriber = transcriber_from(settings.voice, hotwords_for(settings, catalogue))
    parser = Parser(model or default_model_path(settings), catalogue, settings.runtime)
    runner = ActionRunner(settings, load_secrets(settings), catalogue=catalogue)
    conversations = Conversations.for_runtime(settings.runtime)

    def parse(text: str, conversation_id: str | None) -> Any:
        return conversations.turn(parser, text, conversation_id=conversation_id, timezone=timezone)

    def act(call: Any, resolved: Any) -> Any:
        return runner.act(call, resolved=resolved, timezone=timezone)

    pipeline = VoicePipeline(
        transcriber, parse, act, speaker, max_audio_s=settings.voice.max_audio_s
    )
    return pipeline, parser, runner


def _read_audio(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise IntentforgeError(f"audio file not found: {path}") from None
    except OSError as exc:
        raise IntentforgeError(f"cannot read {path}: {exc.strerror or exc}") from None


def _show(turn: VoiceTurn, as_json: bool) -> None:
    if as_json:
        print(json.dumps(turn.to_json(include_audio=False), ensure_ascii=False))
        return
    print(f"heard:  {turn.transcript}")
    for call in turn.calls or [{**turn.intent, "result": turn.result}]:
        said = {"intent": call["intent"], "parameters": call["parameters"]}
        print(f"intent: {json.dumps(said, ensure_ascii=False)}")
        print(f"result: {call['result']['status']}")
    print(f"reply:  {turn.reply}")
    stages = " ".join(f"{k} {v:.0f} ms" for k, v in turn.timings_ms.items())
    console.print(f"[dim]{turn.audio_s:.1f} s of audio; {stages}[/dim]")


def _deliver(turn: VoiceTurn, out: Path | None) -> None:
    from intentforge.voice.loop import play_wav

    if out is not None:
        try:
            out.write_bytes(turn.reply_wav)
        except OSError as exc:
            raise IntentforgeError(f"cannot write {out}: {exc.strerror or exc}") from None
        console.print(f"[dim]reply audio written to {out}[/dim]")
    elif not play_wav(turn.reply_wav):
        console.print("[dim]no audio output device: use --out reply.wav to keep the reply[/dim]")


def voice(
    wavs: list[Path] = typer.Option(
        [],
        "--wav",
        help="Audio file with one spoken request (WAV, WebM, OGG, MP3, FLAC); repeat it for "
        "the turns of one conversation (the second answers the first's question).",
    ),
    mic: bool = typer.Option(
        False, "--mic", help="Listen on the default microphone, one request after another."
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Write the spoken reply to this WAV file instead of playing it."
    ),
    model: Path | None = typer.Option(
        None, "--model", help="GGUF model (default: runtime.model_path, else the newest built)."
    ),
    timezone: str | None = typer.Option(
        None, "--timezone", help="IANA time zone for dates (default: runtime.timezone)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print each turn as one JSON line."),
    config: ConfigOption = None,
) -> None:
    """Speak a request, have it done, hear the answer: STT, parse, act, TTS, timed per stage.

    When the answer is a question ("Who should I send it to?"), the next recording answers it.
    """
    from intentforge.runtime import ConversationExpired
    from intentforge.voice.audio import NoSpeechError
    from intentforge.voice.loop import record_utterance, require_microphone

    if bool(wavs) == mic:
        raise IntentforgeError("give exactly one of --wav FILE or --mic")
    recordings = [_read_audio(wav) for wav in wavs]
    if mic:
        require_microphone()
    settings = settings_from(config)
    pipeline, parser, runner = build_pipeline(settings, model=model, timezone=timezone)
    answering: str | None = None  # the conversation whose question the next turn answers
    try:
        for data in recordings:
            turn = pipeline.run(data, answering)
            answering = turn.conversation_id
            _show(turn, as_json)
            _deliver(turn, out)
        if not mic:
            return
        console.print("listening: speak a request (Ctrl-C to stop)")
        while True:
            recording = record_utterance(settings.voice.max_audio_s)
            try:
                turn = pipeline.run(recording, answering)
            except NoSpeechError as exc:
                console.print(f"[yellow]{exc}[/yellow]")
                continue
            except ConversationExpired:
                answering = None
                console.print("[yellow]that answer came too late: say the whole request[/yellow]")
                continue
            answering = turn.conversation_id
            _show(turn, as_json)
            _deliver(turn, out)
    finally:
        parser.close()
        runner.close()


def speechify(
    in_path: Path = typer.Argument(..., help="Dataset to speak and transcribe (JSONL rows)."),
    out_path: Path = typer.Argument(
        ..., help="Speech dataset to append to; rows already there are skipped (resumable)."
    ),
    voices: list[str] = typer.Option(
        [],
        "--voice",
        help="Voice (espeak-ng:VOICE or a bare espeak-ng voice, piper:joe, piper:FILE.onnx); "
        "repeat for variety (default: the configured TTS). Each row gets one.",
    ),
    cache: Path | None = typer.Option(
        None,
        "--cache",
        help="Cache audio and transcripts by content hash in this folder (e.g. build/voice-cache).",
    ),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Only the first N rows."),
    config: ConfigOption = None,
) -> None:
    """Round-trip rows through TTS and STT so training text carries real recognition errors.

    A row is kept (source "speech") only if every slot value is still in the transcript; the
    others go to OUT.dropped.jsonl with the slots that were lost.
    """
    from intentforge.cli.common import progress_bar
    from intentforge.data.jsonl import read_dataset
    from intentforge.voice.hints import hotwords_for
    from intentforge.voice.roundtrip import RoundTrip
    from intentforge.voice.speechify import SpeechifyStats, dropped_path
    from intentforge.voice.speechify import speechify as run_speechify
    from intentforge.voice.stt import transcriber_from
    from intentforge.voice.tts import Speaker, speaker_from, speaker_named

    settings = settings_from(config)
    catalogue = Catalogue.from_settings(settings)
    rows = read_dataset(in_path, catalogue)[:limit]
    speakers: dict[str, Speaker]
    if voices:
        speakers = {v: speaker_named(v, settings.voice.tts_rate_wpm) for v in voices}
    else:
        speakers = {settings.voice.tts: speaker_from(settings.voice)}
    round_trip = RoundTrip(
        speakers,
        transcriber_from(settings.voice, hotwords_for(settings, catalogue)),
        cache_dir=cache,
        max_audio_s=settings.voice.max_audio_s,
    )
    with progress_bar() as bar:
        task = bar.add_task("speechify", total=len(rows))

        def advance(stats: SpeechifyStats) -> None:
            bar.update(task, completed=stats.done + stats.skipped)

        stats = run_speechify(
            rows,
            out_path,
            catalogue,
            round_trip,
            on_row=advance,
        )
    total = stats.kept + stats.dropped
    share = f" ({100 * stats.dropped / total:.0f} %)" if total else ""
    console.print(
        f"kept {stats.kept} rows ({stats.changed} with text changed by recognition), "
        f"dropped {stats.dropped}{share}, skipped {stats.skipped} already done"
    )
    if stats.missing_by_slot:
        lost = ", ".join(f"{k} {v}" for k, v in sorted(stats.missing_by_slot.items()))
        console.print(f"slots lost in recognition: {lost}; see {dropped_path(out_path)}")
