"""Reading a user's YAML file (settings, intents) with one-line errors that say what to fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from intentforge.errors import IntentforgeError


def _reason(exc: yaml.YAMLError) -> str:
    """A YAML error on one line: the problem and where it is."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None)
    if problem and mark is not None:
        return f"{problem} at line {mark.line + 1}, column {mark.column + 1}"
    return str(exc).splitlines()[0]


def read_yaml(path: Path, what: str) -> Any:
    """The parsed document at `path`; `what` names the file in errors ("config file")."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IntentforgeError(f"{what} not found: {path}") from None
    except IsADirectoryError:
        raise IntentforgeError(f"{what} {path} is a directory, not a YAML file") from None
    except UnicodeDecodeError as exc:
        raise IntentforgeError(f"{what} {path} is not UTF-8 text ({exc.reason})") from None
    except yaml.YAMLError as exc:
        raise IntentforgeError(f"{what} {path} is not valid YAML: {_reason(exc)}") from None


def read_settings_file(path: Path) -> dict[str, Any]:
    """A settings file: a mapping of sections (an empty file is no settings)."""
    doc = read_yaml(path, "config file")
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise IntentforgeError(
            f"config file {path} must be a mapping of sections (data:, train:, ...)"
        )
    return doc
