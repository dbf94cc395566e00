"""`intentforge publish MODEL --to URL`: upload a model and its manifest to an artifact store."""

from __future__ import annotations

from pathlib import Path

import typer

from intentforge.cli.common import console, progress_bar


def publish(
    model: Path = typer.Argument(
        ..., help="GGUF file to upload; its manifest (<file>.json, written by export) goes with it."
    ),
    to: str = typer.Option(
        ...,
        "--to",
        help="s3://bucket/key or https://host/path (a trailing / keeps the file name). A presigned "
        "PUT URL works with --manifest-to.",
    ),
    manifest_to: str | None = typer.Option(
        None, "--manifest-to", help="URL for the manifest (default: the model's URL + .json)."
    ),
    endpoint_url: str | None = typer.Option(
        None,
        "--endpoint-url",
        help="S3-compatible endpoint (MinIO, R2, ...); AWS_ENDPOINT_URL works too.",
    ),
    timeout_s: float = typer.Option(60.0, "--timeout-s", help="Network timeout in seconds."),
) -> None:
    """Verify a model against its manifest, then upload both; print what a deployment needs."""
    from intentforge.export.publish import publish as publish_model

    with progress_bar() as bar:
        task = bar.add_task(f"publish {model.name}", total=None)
        published = publish_model(
            model,
            to,
            manifest_to=manifest_to,
            endpoint_url=endpoint_url,
            timeout_s=timeout_s,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    console.print(f"published {published.model_url} and {published.manifest_url.split('?')[0]}")
    # The two values the Kubernetes init container needs (deploy/k8s ConfigMap intentforge-model).
    print(f"MODEL_URL={published.model_url.split('?')[0]}")
    print(f"MODEL_SHA256={published.manifest.sha256}")
