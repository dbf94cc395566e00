"""What every CLI command shares: the console, config loading, progress bars."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from intentforge.config import Settings, load_settings

console = Console(stderr=True)

# Addresses only this machine reaches: anywhere else, a service that acts warns at start-up.
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="YAML config file (default: ./intentforge.yaml if present). Env vars INTENTFORGE_* "
        "override it, command-line options override both.",
        envvar="INTENTFORGE_CONFIG",
    ),
]


def settings_from(config: Path | None, overrides: dict[str, Any] | None = None) -> Settings:
    return load_settings(config, overrides)


def progress_bar() -> Progress:
    """A rich progress bar with count, elapsed time and ETA, drawn on stderr."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )
