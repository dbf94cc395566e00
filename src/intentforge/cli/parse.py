"""`intentforge parse "text"`: one request (or stdin lines) to intent JSON, with a local model."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from intentforge.catalogue import Catalogue
from intentforge.cli.common import ConfigOption, console, settings_from
from intentforge.errors import IntentforgeError


def parse(
    text: list[str] | None = typer.Argument(
        None,
        help="The request, e.g. 'remind me to buy milk tomorrow'. Omit it to read one "
        "request per line from stdin and write one JSON object per line.",
    ),
    config: ConfigOption = None,
    model: Path | None = typer.Option(
        None,
        "--model",
        "-m",
        help="GGUF model file (default: runtime.model_path, else the newest in build/models/).",
    ),
    timezone: str | None = typer.Option(
        None, "--timezone", "--tz", help="IANA time zone for dates (default: runtime.timezone)."
    ),
    details: bool = typer.Option(
        False, "--details", help="Also print the raw output, token counts and per-stage timings."
    ),
) -> None:
    """Turn a request into its intent JSON, with dates resolved to ISO 8601."""
    from intentforge.runtime import Parser, default_model_path

    settings = settings_from(config, {"runtime": {"model_path": model, "timezone": timezone}})
    path = default_model_path(settings)
    with console.status(f"loading {path}"):
        parser = Parser(path, Catalogue.from_settings(settings), settings.runtime)

    def answer(request: str) -> dict[str, Any]:
        out = parser.parse(request).to_dict()
        if not details:
            # A missing slot and its question only when there is one, every call only when
            # there are several: a complete single request stays as it was.
            keys = ["intent", "parameters", "resolved"]
            keys += ["missing", "question"] if out["missing"] else []
            keys += ["calls"] if len(out["calls"]) > 1 else []
            out = {k: out[k] for k in keys}
        return out

    if text:
        print(json.dumps(answer(" ".join(text)), ensure_ascii=False))
        return
    failed = 0
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            out = answer(line)
        except IntentforgeError as exc:
            failed += 1
            out = {"text": line.strip(), "error": {"type": type(exc).__name__, "message": str(exc)}}
        print(json.dumps(out, ensure_ascii=False), flush=True)
    if failed:
        raise typer.Exit(1)
