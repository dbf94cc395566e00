"""`intentforge fetch URL SHA256 DEST`: download a model and verify it (the init container)."""

from __future__ import annotations

from pathlib import Path

import typer

from intentforge.cli.common import console, progress_bar


def fetch(
    url: str = typer.Argument(..., help="http(s):// URL (presigned S3 works) or s3://bucket/key."),
    sha256: str = typer.Argument(..., help="Expected sha256 (hex), from the model's manifest."),
    dest: Path = typer.Argument(..., help="Where the verified file goes, e.g. /models/model.gguf."),
    retries: int = typer.Option(5, "--retries", help="Retries after a dropped connection."),
    timeout_s: float = typer.Option(30.0, "--timeout-s", help="Socket timeout per read."),
) -> None:
    """Download a model and verify its sha256; DEST appears only if it matches."""
    from intentforge.export.fetch import fetch as fetch_model

    with progress_bar() as bar:
        task = bar.add_task(f"fetch {dest.name}", total=None)
        fetch_model(
            url,
            sha256,
            dest,
            retries=retries,
            timeout_s=timeout_s,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    console.print(f"verified {dest} sha256={sha256.strip().lower()}")
