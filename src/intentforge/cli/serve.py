"""`intentforge serve`: the HTTP API (uvicorn) over one model instance per worker."""

from __future__ import annotations

from pathlib import Path

import typer

from intentforge.catalogue import Catalogue
from intentforge.cli.common import LOOPBACK_HOSTS, ConfigOption, console, settings_from
from intentforge.secrets import load_secrets


def serve(
    config: ConfigOption = None,
    host: str | None = typer.Option(None, "--host", help="Address to bind (server.host)."),
    port: int | None = typer.Option(None, "--port", "-p", help="Port (server.port)."),
    workers: int | None = typer.Option(
        None, "--workers", "-w", help="Model instances, each with its own thread (server.workers)."
    ),
    model: Path | None = typer.Option(
        None,
        "--model",
        "-m",
        help="GGUF model file (default: runtime.model_path, else the newest in build/models/).",
    ),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level."),
) -> None:
    """Serve /v1/parse, /v1/chat/completions (OpenAI tools), /v1/intents, health and metrics."""
    import uvicorn

    from intentforge.server import create_app, load_parsers

    settings = settings_from(
        config,
        {
            "server": {"host": host, "port": port, "workers": workers},
            "runtime": {"model_path": model},
        },
    )
    secrets = load_secrets(settings)
    catalogue = Catalogue.from_settings(settings)
    # Load before binding, so a missing or corrupt model is a one-line error and exit code 2.
    with console.status("loading the model"):
        parsers = load_parsers(settings, catalogue)
    app = create_app(settings, secrets, parsers=parsers, catalogue=catalogue)
    server = settings.server
    if secrets.api_key is None and server.host not in LOOPBACK_HOSTS:
        console.print(
            f"[yellow]warning:[/yellow] {server.host} is reachable from other machines and "
            "INTENTFORGE_API_KEY is not set: anyone there can use the API"
        )
    console.print(
        f"serving {parsers[0].model_path} on http://{server.host}:{server.port} "
        f"({server.workers} worker(s), queue {server.queue_size}, "
        f"API key {'required' if secrets.api_key else 'off'})"
    )
    uvicorn.run(app, host=server.host, port=server.port, log_level=log_level)
