"""The `intentforge` command: one sub-command per pipeline stage, thin shells over the library.

Each stage registers its commands from its own module here (cli/data.py, cli/model.py, ...).
"""

from __future__ import annotations

import sys

import typer

from intentforge.cli import act as act_cli
from intentforge.cli import build as build_cli
from intentforge.cli import data as data_cli
from intentforge.cli import eval as eval_cli
from intentforge.cli import fetch as fetch_cli
from intentforge.cli import model as model_cli
from intentforge.cli import parse as parse_cli
from intentforge.cli import publish as publish_cli
from intentforge.cli import serve as serve_cli
from intentforge.cli import voice as voice_cli
from intentforge.cli import wyoming as wyoming_cli
from intentforge.cli.common import ConfigOption, console, settings_from
from intentforge.errors import IntentforgeError

app = typer.Typer(
    name="intentforge",
    help="Build and run a small private model that turns spoken requests into intents and actions.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(data_cli.app, name="data")
app.command("train")(model_cli.train)
app.command("merge")(model_cli.merge)
app.command("export")(model_cli.export)
app.command("build")(build_cli.build)
app.command("run")(build_cli.run)
app.command("eval")(eval_cli.evaluate)
app.command("publish")(publish_cli.publish)
app.command("fetch")(fetch_cli.fetch)
app.command("parse")(parse_cli.parse)
app.command("act")(act_cli.act)
app.command("serve")(serve_cli.serve)
app.command("voice")(voice_cli.voice)
app.command("wyoming")(wyoming_cli.wyoming)
data_cli.app.command("speechify")(voice_cli.speechify)

config_app = typer.Typer(
    help="Inspect configuration and the intent catalogue.", no_args_is_help=True
)
app.add_typer(config_app, name="config")


@config_app.command("show")
def config_show(config: ConfigOption = None) -> None:
    """Print the resolved settings (defaults < config file < env vars) as YAML."""
    import yaml

    settings = settings_from(config)
    console.print(yaml.safe_dump(settings.model_dump(mode="json"), sort_keys=False), end="")


@app.command("intents")
def intents(
    config: ConfigOption = None,
    schema: bool = typer.Option(False, "--schema", help="Print the output JSON Schema."),
    grammar: bool = typer.Option(False, "--grammar", help="Print the llama.cpp GBNF grammar."),
    request: str | None = typer.Option(
        None,
        "--request",
        help="Print the grammar the runtime uses for this request: its text slots may only "
        "copy spans of it (runtime.span_slots).",
    ),
) -> None:
    """List the catalogue's intents, or print the schema or grammar derived from it."""
    import json

    from intentforge.catalogue import Catalogue

    catalogue = Catalogue.from_settings(settings_from(config))
    if schema:
        print(json.dumps(catalogue.json_schema(), indent=2))
        return
    if grammar or request is not None:
        from intentforge.prompt import normalise_text

        print(catalogue.grammar(None if request is None else normalise_text(request)), end="")
        return
    for intent in catalogue.intents:
        slots = ", ".join(s + ("" if s in intent.required_slots else "?") for s in intent.slots)
        console.print(f"[bold]{intent.name}[/bold]({slots}) — {intent.description}")


def main() -> None:
    """Entry point: user errors become one line on stderr and exit code 2, never a traceback."""
    try:
        # standalone_mode=False lets us format errors ourselves; typer.Exit(n) then comes back as n.
        code = app(standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except IntentforgeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except typer.Abort:
        print("aborted", file=sys.stderr)
        sys.exit(1)
    except typer.TyperException as exc:  # bad option values, unknown commands: usage errors
        show = getattr(exc, "show", None)
        if show is None:
            raise
        show()
        sys.exit(2)
