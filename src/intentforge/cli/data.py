"""`intentforge data ...`: generate, split and describe datasets."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import TaskID

from intentforge.catalogue import Catalogue
from intentforge.cli.common import (
    ConfigOption,
    console,
    progress_bar,
    settings_from,
)

app = typer.Typer(help="Generate, split and describe training datasets.", no_args_is_help=True)

# Tables are the commands' output, so they go to stdout; progress and notes go to stderr.
stdout = Console()


class GeneratorName(StrEnum):
    templates = "templates"
    llm = "llm"


@app.command()
def generate(
    generator: GeneratorName | None = typer.Option(
        None,
        "--generator",
        "-g",
        help="templates: offline, deterministic expansion of phrasings over lexicons (default). "
        "llm: an OpenAI-compatible endpoint (settings llm.*; key from the env var named by "
        "llm.api_key_env).",
    ),
    rows: int | None = typer.Option(
        None, "--rows", "-n", help="Rows to generate, before dedup and split (default: data.rows)."
    ),
    seed: int | None = typer.Option(
        None,
        "--seed",
        help="Random seed; the same seed gives the same dataset (default: data.seed).",
    ),
    none_fraction: float | None = typer.Option(
        None,
        "--none-fraction",
        help="Share of out-of-scope 'none' rows, 0 to 0.6 (default: data.none_fraction, 0.3).",
    ),
    out: Path | None = typer.Option(
        None,
        "--out",
        "-o",
        help="JSONL file to write (default: <data.out_dir>/generated.jsonl). With --generator llm "
        "it is the ledger: rows already in it count, so a killed run resumes.",
    ),
    config: ConfigOption = None,
) -> None:
    """Generate a labelled dataset of requests for every intent of the catalogue."""
    from intentforge.data.jsonl import check_writable, read_dataset, write_jsonl
    from intentforge.data.stats import dataset_stats, stats_table

    overrides = {
        "data": {
            "generator": generator.value if generator else None,
            "rows": rows,
            "seed": seed,
            "none_fraction": none_fraction,
        }
    }
    settings = settings_from(config, overrides)
    data = settings.data
    catalogue = Catalogue.from_settings(settings)
    path = out if out is not None else data.out_dir / "generated.jsonl"
    check_writable(path)

    # The bar starts with the first row, so a run that fails up front prints only its error.
    bar = progress_bar()
    task: TaskID | None = None

    def on_progress(done: int, total: int) -> None:
        nonlocal task
        if task is None:
            bar.start()
            task = bar.add_task(f"generating ({data.generator})", total=total)
        bar.update(task, completed=done, total=total)

    try:
        if data.generator == "templates":
            from intentforge.data.templates import generate_from_config

            dataset = generate_from_config(catalogue, data, on_progress=on_progress)
            write_jsonl(path, dataset)
        else:
            from intentforge.data.llm import generate_with_llm
            from intentforge.secrets import load_secrets

            key = load_secrets(settings).llm_api_key
            report = generate_with_llm(
                catalogue,
                settings.llm,
                key.get_secret_value() if key else None,
                rows=data.rows,
                ledger=path,
                seed=data.seed,
                none_fraction=data.none_fraction,
                on_progress=on_progress,
            )
            dataset = read_dataset(path, catalogue)
    finally:
        if task is not None:
            bar.stop()
    if data.generator == "llm":
        _print_llm_report(report)
    stdout.print(stats_table(dataset_stats(dataset)))
    console.print(f"wrote {len(dataset)} rows to {path}")


def _print_llm_report(report: Any) -> None:
    cost = f", cost ${report.cost_usd:.4f}" if report.cost_usd is not None else ""
    console.print(
        f"llm: {report.rows_written} rows written, {report.rows_resumed} resumed, "
        f"{report.invalid_rows} invalid and {report.duplicate_rows} duplicate rows dropped; "
        f"{report.requests} requests ({report.retries} retries), "
        f"{report.prompt_tokens} prompt + {report.completion_tokens} completion tokens{cost}, "
        f"{report.elapsed_s:.0f} s"
    )


@app.command()
def split(
    inputs: list[Path] | None = typer.Argument(
        None,
        help="JSONL datasets to merge, deduplicate and split "
        "(default: <data.out_dir>/generated.jsonl).",
    ),
    train_rows: int | None = typer.Option(
        None, "--train-rows", help="Rows in the train split (default: data.train_rows, 1000)."
    ),
    test_rows: int | None = typer.Option(
        None, "--test-rows", help="Rows in the test split (default: data.test_rows, 200)."
    ),
    out_dir: Path | None = typer.Option(
        None, "--out-dir", "-o", help="Where train.jsonl and test.jsonl go (default: data.out_dir)."
    ),
    seed: int | None = typer.Option(None, "--seed", help="Random seed (default: data.seed)."),
    near_threshold: float = typer.Option(
        95.0,
        "--near-threshold",
        min=0,
        max=100,
        help="Similarity (0-100, rapidfuzz ratio on normalised text) at which two rows of the same "
        "intent count as near-duplicates; 100 keeps near-duplicates.",
    ),
    exclude: list[Path] | None = typer.Option(
        None,
        "--exclude",
        "-x",
        help="JSONL file, or directory of them, whose texts must not be in either split (e.g. "
        "data/dev, the hand-written dev set); repeatable.",
    ),
    config: ConfigOption = None,
) -> None:
    """Remove exact and near duplicates, then split train/test stratified by intent."""
    from intentforge.data.jsonl import check_writable, read_dataset, read_jsonl, write_jsonl
    from intentforge.data.split import split as split_rows
    from intentforge.data.stats import dataset_stats

    settings = settings_from(
        config, {"data": {"train_rows": train_rows, "test_rows": test_rows, "seed": seed}}
    )
    data = settings.data
    catalogue = Catalogue.from_settings(settings)
    directory = out_dir if out_dir is not None else data.out_dir
    train_path, test_path = directory / "train.jsonl", directory / "test.jsonl"
    check_writable(train_path)
    sources = inputs or [data.out_dir / "generated.jsonl"]
    rows = [row for path in sources for row in read_dataset(path, catalogue)]
    excluded = [
        str(row.get("text", ""))
        for path in exclude or []
        for file in (sorted(path.glob("*.jsonl")) if path.is_dir() else [path])
        for row in read_jsonl(file)
    ]
    result = split_rows(
        rows, data.train_rows, data.test_rows, data.seed, near_threshold, exclude=excluded
    )
    write_jsonl(train_path, result.train)
    write_jsonl(test_path, result.test)

    console.print(
        f"{len(rows)} rows read; {result.excluded} excluded, {result.exact_duplicates} exact and "
        f"{result.near_duplicates} near duplicates removed; {result.unused} unique rows left over"
    )
    if len(result.train) < data.train_rows or len(result.test) < data.test_rows:
        console.print(
            f"[yellow]only enough unique rows for {len(result.train)} train / {len(result.test)} "
            f"test (asked {data.train_rows} / {data.test_rows}): generate more rows[/yellow]"
        )
    train_stats = dataset_stats(result.train)["intents"]
    test_stats = dataset_stats(result.test)["intents"]
    from rich.table import Table

    table = Table(title="split by intent", title_justify="left")
    for column in ("Intent", "Train", "Test"):
        table.add_column(column, justify="left" if column == "Intent" else "right")
    for name in sorted(set(train_stats) | set(test_stats)):
        table.add_row(name, str(train_stats.get(name, 0)), str(test_stats.get(name, 0)))
    table.add_row("total", str(len(result.train)), str(len(result.test)), style="bold")
    stdout.print(table)
    console.print(f"wrote {train_path} and {test_path}")


@app.command()
def stats(
    files: list[Path] = typer.Argument(..., help="JSONL datasets to describe (together)."),
    as_json: bool = typer.Option(False, "--json", help="Print the figures as JSON instead."),
    config: ConfigOption = None,
) -> None:
    """Rows per intent, slot and slot combination, sources, styles and text lengths."""
    from intentforge.data.jsonl import read_dataset
    from intentforge.data.stats import dataset_stats, stats_table

    catalogue = Catalogue.from_settings(settings_from(config))
    rows = [row for path in files for row in read_dataset(path, catalogue)]
    figures = dataset_stats(rows)
    if as_json:
        print(json.dumps(figures, indent=2, ensure_ascii=False))
    else:
        stdout.print(stats_table(figures))
