"""`intentforge build` (the whole pipeline) and `intentforge run` (build if needed, then serve)."""

from __future__ import annotations

import time
from pathlib import Path

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
from intentforge.pipeline.incremental import Stage, StageOutcome


def _size(n_bytes: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n_bytes < 1024 or unit == "GB":
            return f"{n_bytes:.0f} {unit}" if unit == "B" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1024  # type: ignore[assignment]
    return f"{n_bytes} B"


def _summary(outcomes: list[StageOutcome], settings: Settings, total_s: float) -> None:
    import json

    from intentforge.pipeline.plan import build_paths

    table = Table(title=f"build finished in {total_s:.0f} s")
    table.add_column("stage")
    table.add_column("status")
    table.add_column("time", justify="right")
    table.add_column("outputs")
    for outcome in outcomes:
        outputs = ", ".join(f"{Path(p).name} ({_size(s)})" for p, s in outcome.outputs.items())
        status = "[dim]up to date[/dim]" if outcome.skipped else "[green]done[/green]"
        table.add_row(outcome.name, status, f"{outcome.seconds:.1f} s", outputs)
    console.print(table)
    report = build_paths(settings).report_dir / "report.json"
    if not report.is_file():
        return
    from intentforge.evaluate.report import HEADLINE, format_value

    data = json.loads(report.read_text(encoding="utf-8"))
    quality = Table(title=f"quality on {data['dataset'].get('rows', '?')} held-out requests")
    quality.add_column("metric")
    for model in data["models"]:
        quality.add_column(model["name"], justify="right")
    for metric, label, kind in HEADLINE:
        quality.add_row(
            label, *(format_value(m["metrics"].get(metric), kind) for m in data["models"])
        )
    console.print(quality)
    console.print(f"report: {report.with_suffix('.html')}")


def _build(settings: Settings, force: bool) -> list[StageOutcome]:
    from intentforge.pipeline.plan import build

    catalogue = Catalogue.from_settings(settings)

    def announce(stage: Stage, skipped: bool) -> None:
        state = "[dim]up to date, skipped[/dim]" if skipped else "running"
        console.print(f"[bold]{stage.name}[/bold]: {stage.describe} — {state}")

    started = time.perf_counter()
    with progress_bar() as progress:
        outcomes = build(settings, catalogue, force=force, progress=progress, on_start=announce)
    _summary(outcomes, settings, time.perf_counter() - started)
    return outcomes


def build(
    config: ConfigOption = None,
    base: str | None = typer.Option(
        None,
        "--base",
        help="Base model: preset name (smollm2-135m, gemma3-270m, phi-2), hub id or dir.",
    ),
    rows: int | None = typer.Option(None, "--rows", help="Rows to generate (data.rows)."),
    force: bool = typer.Option(False, "--force", help="Redo every stage even if up to date."),
) -> None:
    """Build a model end to end: data, split, train, merge, export, eval.

    Each stage is skipped when its outputs exist for the same inputs (content hashes under
    build.state_dir), so a rerun after a crash or a config change redoes only what changed.
    """
    settings = settings_from(config, {"train": {"base": base}, "data": {"rows": rows}})
    _build(settings, force)


def run(
    config: ConfigOption = None,
    port: int | None = typer.Option(None, "--port", "-p", help="Port to serve on (server.port)."),
) -> None:
    """The main job: build the default model if it is not there, then serve it on 127.0.0.1."""
    from intentforge.cli.serve import serve
    from intentforge.pipeline.plan import build_paths, is_built

    settings = settings_from(config, {"server": {"port": port}})
    catalogue = Catalogue.from_settings(settings)
    with console.status("checking the build"):
        built = is_built(settings, catalogue)
    if built:
        console.print("model is up to date: starting the server")
    else:
        console.print("building the default model (first run: about 10 minutes on 2 CPU cores)")
        _build(settings, force=False)
    model = build_paths(settings).primary_model
    host, port_ = settings.server.host, settings.server.port
    console.print(f"\n[bold]web page:[/bold] http://{host}:{port_}/")
    console.print(
        f"[bold]try:[/bold] curl -s http://{host}:{port_}/v1/parse "
        "-H 'content-type: application/json' "
        '-d \'{"text": "add buy milk to my shopping list for tomorrow"}\'\n'
    )
    if not built:
        _serve_in_a_fresh_process(config, port, model)
    serve(config=config, host=None, port=port, workers=None, model=model, log_level="info")


def _serve_in_a_fresh_process(config: Path | None, port: int | None, model: Path) -> None:
    """Replace this process with `intentforge serve`. The build's eval stage ran llama.cpp on this
    thread; OpenMP keeps that thread's worker team, and the server's worker thread then parsed
    2.5x slower on 2 cores (p50 ~900 vs ~330 ms) until a restart."""
    import os
    import sys

    args = ["serve", "--model", str(model), "--log-level", "info"]
    if config is not None:
        args += ["--config", str(config)]
    if port is not None:
        args += ["--port", str(port)]
    sys.stdout.flush()
    sys.stderr.flush()
    code = "from intentforge.cli import main; main()"
    os.execv(sys.executable, [sys.executable, "-c", code, *args])
