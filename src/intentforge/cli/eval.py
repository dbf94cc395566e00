"""`intentforge eval`: measure one or more models on a labelled dataset and write the report."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from intentforge.catalogue import Catalogue
from intentforge.cli.common import (
    ConfigOption,
    console,
    progress_bar,
    settings_from,
)
from intentforge.config import Settings
from intentforge.errors import IntentforgeError
from intentforge.evaluate.predictors import DEFAULT_STOP_EVERY

DEFAULT_DATA = Path("data/dev")
DEFAULT_OUT = Path("build/eval")
DEFAULT_VOICE_CACHE = Path("build/voice-cache")


def _spread(rows: list[dict], limit: int | None) -> list[dict]:
    """At most `limit` rows taken evenly across the dataset (every intent stays represented)."""
    if limit is None or limit >= len(rows):
        return rows
    return [rows[i * len(rows) // limit] for i in range(limit)]


def evaluate(
    models: Annotated[
        list[str] | None,
        typer.Argument(
            help="Models to compare: GGUF files and/or training run directories (LoRA adapter, "
            "unmerged). Give two to compare them side by side.",
            show_default=False,
        ),
    ] = None,
    data: Annotated[
        list[Path] | None,
        typer.Option(
            "--data",
            "-d",
            help="Labelled JSONL file or folder of them (repeatable; false actions and false "
            "refusals are counted for each apart). Default: data/dev (the hand-written dev set).",
        ),
    ] = None,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for report.json and report.html.")
    ] = DEFAULT_OUT,
    baseline: Annotated[
        bool,
        typer.Option(
            "--baseline",
            help="Also evaluate the original workflow's way: the untuned SmolLM2 Q4_1 prompted "
            "with instructions and few-shot examples, JSON extracted from free text.",
        ),
    ] = False,
    stop_every: Annotated[
        int,
        typer.Option(
            "--stop-every",
            min=0,
            help="Measure the stop rate on every N-th request, with one extra generation "
            "without the grammar (GGUF models; 1: every request, doubling the time; 0: never).",
        ),
    ] = DEFAULT_STOP_EVERY,
    limit: Annotated[
        int | None,
        typer.Option("--limit", min=1, help="Evaluate at most this many rows, spread evenly."),
    ] = None,
    max_tokens: Annotated[
        int | None,
        typer.Option("--max-tokens", min=8, help="Bound on generated tokens per request."),
    ] = None,
    threads: Annotated[
        int | None, typer.Option("--threads", min=1, help="CPU threads (runtime.n_threads).")
    ] = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check", help="Exit 1 when the first model misses a quality target of the report."
        ),
    ] = False,
    spoken: Annotated[
        bool,
        typer.Option(
            "--spoken",
            help="Also speak every row with each --voice, transcribe it with the configured "
            "speech-to-text and evaluate the model on what was heard, beside the typed rows.",
        ),
    ] = False,
    voices: Annotated[
        list[str] | None,
        typer.Option(
            "--voice",
            help="Voice of --spoken (repeatable): espeak-ng:VOICE, piper:joe or piper:FILE.onnx. "
            "Default: espeak-ng:en-us, espeak-ng:en-gb-x-rp and piper:joe.",
        ),
    ] = None,
    voice_cache: Annotated[
        Path,
        typer.Option(
            "--voice-cache", help="Audio and transcripts of --spoken, cached by content hash."
        ),
    ] = DEFAULT_VOICE_CACHE,
    config: ConfigOption = None,
) -> None:
    """Evaluate models on labelled requests: false actions and refusals first, then accuracy,
    slots, validity, stop rate, latency. With --spoken: typed and spoken side by side."""
    from intentforge.evaluate import (
        BASELINE,
        dataset_info,
        evaluate_models,
        load_sets,
        write_report,
    )
    from intentforge.evaluate.report import (
        HEADLINE,
        costly_errors,
        count_of,
        format_counts,
        format_value,
        meets_target,
    )

    specs = list(models or [])
    if baseline:
        specs.append(BASELINE)
    settings = settings_from(config, {"runtime": {"n_threads": threads}})
    catalogue = Catalogue.from_settings(settings)
    paths = data or [DEFAULT_DATA]
    rows = _spread(load_sets(paths), limit)
    if spoken:
        _evaluate_spoken(specs, rows, paths, out, voices, voice_cache, settings, catalogue)
        return
    if not specs:
        raise IntentforgeError(
            "nothing to evaluate: give a GGUF file or training run directory, or --baseline"
        )
    started = time.perf_counter()
    with progress_bar() as progress:
        results = evaluate_models(
            specs,
            rows,
            catalogue,
            settings,
            stop_every=stop_every,
            max_tokens=max_tokens,
            progress=progress,
        )
    elapsed_s = time.perf_counter() - started
    dataset = dataset_info(rows, paths)
    json_path, html_path = write_report(results, dataset, out, elapsed_s=elapsed_s)

    # The errors that cost a user most come first: an action nobody asked for, a refusal.
    costly = Table(title="False actions (out-of-scope acted on) and false refusals")
    for column in ("model", "set", "false actions", "became", "false refusals"):
        costly.add_column(column, justify="right" if column.startswith("false") else "left")
    for row in costly_errors(results, dataset):
        costly.add_row(
            row["model"],
            row["dataset"],
            count_of(row["false_actions"], row["out_of_scope"]),
            format_counts(row["false_actions_by_intent"]),
            count_of(row["false_refusals"], row["in_scope"]),
        )
    console.print(costly)

    table = Table(title=f"{len(rows)} requests from {', '.join(str(p) for p in paths)}")
    table.add_column("metric")
    for result in results:
        table.add_column(result.name, justify="right")
    for metric, label, kind in HEADLINE:
        cells = []
        for result in results:
            value = getattr(result.metrics, metric)
            verdict = meets_target(metric, value)
            mark = "" if verdict is None else (" [green]✓[/]" if verdict else " [red]✗[/]")
            cells.append(format_value(value, kind) + mark)
        table.add_row(label, *cells)
    console.print(table)
    console.print(f"report: {html_path} (data: {json_path}); took {elapsed_s:.0f} s")
    if check:
        first = results[0].metrics
        missed = [m for m, _, _ in HEADLINE if meets_target(m, getattr(first, m)) is False]
        if missed:
            console.print(f"[red]{results[0].name} misses the targets for: {', '.join(missed)}")
            raise typer.Exit(1)


def _evaluate_spoken(
    specs: list[str],
    rows: list[dict],
    paths: list[Path],
    out: Path,
    voices: list[str] | None,
    voice_cache: Path,
    settings: Settings,
    catalogue: Catalogue,
) -> None:
    """The spoken judge of one model (default: the built one) on `rows`."""
    from intentforge.evaluate import dataset_info, open_predictor, write_report
    from intentforge.evaluate.report import SPOKEN_COLUMNS, spoken_cells
    from intentforge.evaluate.spoken import DEFAULT_VOICES, judge_spoken
    from intentforge.runtime import default_model_path
    from intentforge.voice.hints import hotwords_for
    from intentforge.voice.roundtrip import RoundTrip
    from intentforge.voice.stt import transcriber_from
    from intentforge.voice.tts import speaker_named

    if len(specs) > 1:
        raise IntentforgeError("--spoken judges one model at a time: give one GGUF file")
    model = specs[0] if specs else str(default_model_path(settings))
    rate_wpm = settings.voice.tts_rate_wpm
    speakers = {v: speaker_named(v, rate_wpm) for v in voices or DEFAULT_VOICES}
    round_trip = RoundTrip(
        speakers,
        transcriber_from(settings.voice, hotwords_for(settings, catalogue)),
        cache_dir=voice_cache,
        max_audio_s=settings.voice.max_audio_s,
    )
    # The stop rate is the typed judge's business: here it would only double the parsing time.
    predictor = open_predictor(model, catalogue, settings, stop_every=0)
    started = time.perf_counter()
    try:
        with progress_bar() as progress:
            results, figures = judge_spoken(
                predictor, rows, catalogue, round_trip, progress=progress
            )
    finally:
        predictor.close()
    elapsed_s = time.perf_counter() - started
    dataset = dataset_info(rows, paths)
    spoken_figures = [f.to_dict() for f in figures]
    json_path, html_path = write_report(
        results, dataset, out, elapsed_s=elapsed_s, spoken=spoken_figures
    )
    table = Table(title=f"{Path(model).name}: typed and spoken, {len(rows)} rows")
    for column in SPOKEN_COLUMNS:
        table.add_column(column, justify="left" if column in ("set", "path") else "right")
    for row in spoken_figures:
        table.add_row(*spoken_cells(row))
    console.print(table)
    console.print(
        f"speech-to-text: {round_trip.transcriber.key}; cache: {voice_cache}\n"
        f"report: {html_path} (data: {json_path}); took {elapsed_s:.0f} s"
    )
