"""`intentforge data ...`: generate, split and describe datasets."""

from __future__ import annotations

import typer

app = typer.Typer(help="Generate, split and describe training datasets.", no_args_is_help=True)
