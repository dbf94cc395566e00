"""`intentforge wyoming`: the Wyoming service Home Assistant's voice assistant talks to."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from urllib.parse import urlparse

import typer

from intentforge.catalogue import Catalogue
from intentforge.cli.common import LOOPBACK_HOSTS, ConfigOption, console, settings_from
from intentforge.secrets import load_secrets


def wyoming(
    config: ConfigOption = None,
    uri: str | None = typer.Option(
        None,
        "--uri",
        help="Where to listen: tcp://HOST:PORT or unix://PATH (wyoming.uri, default "
        "tcp://127.0.0.1:10700); tcp://0.0.0.0:10700 when Home Assistant runs on another machine.",
    ),
    model: Path | None = typer.Option(
        None,
        "--model",
        "-m",
        help="GGUF model file (default: runtime.model_path, else the newest in build/models/).",
    ),
    transcript_program: str | None = typer.Option(
        None,
        "--transcript-program",
        help="What answers a transcript when the client selects no program: 'handle' (act and "
        "reply, the default) or 'intent' (only name the intent; wyoming.transcript_program).",
    ),
    log_level: str = typer.Option("info", "--log-level", help="debug, info, warning or error."),
) -> None:
    """Serve Home Assistant's Wyoming protocol: a handle program and an intent program."""
    from intentforge.server import load_parsers
    from intentforge.server.wyoming import WyomingService, server_for

    settings = settings_from(
        config,
        {
            "wyoming": {"uri": uri, "transcript_program": transcript_program},
            "runtime": {"model_path": model},
        },
    )
    listen = settings.wyoming.uri
    server_for(listen)  # a bad URI is a one-line error before the model loads
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    secrets = load_secrets(settings)
    catalogue = Catalogue.from_settings(settings)
    # Load before listening: a missing or corrupt model is a one-line error and exit code 2, and
    # Home Assistant's first Describe never waits for a load.
    with console.status("loading the model"):
        parsers = load_parsers(settings, catalogue)
    service = WyomingService(settings, secrets, parsers)
    host = urlparse(listen).hostname
    if host is not None and host not in LOOPBACK_HOSTS:
        console.print(
            f"[yellow]warning:[/yellow] {host} is reachable from other machines and the Wyoming "
            "protocol has no authentication: anyone there can ask for actions"
        )
    console.print(
        f"Wyoming service: {parsers[0].model_path} on {listen} (a transcript goes to the "
        f"{settings.wyoming.transcript_program} program; Ctrl-C stops)"
    )
    try:
        asyncio.run(service.run(listen))
    except KeyboardInterrupt:
        console.print("stopped")
    finally:
        service.close()
        for parser in parsers:
            parser.close()
