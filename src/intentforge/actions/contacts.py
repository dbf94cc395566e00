"""Recipients from a contacts YAML file; an address is never guessed.

Format (top-level mapping, names are case-insensitive)::

    Mum:
      email: mum@example.com
      aliases: [mom, my mom, mother]
    Alex Smith: alex@example.com
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from intentforge.errors import IntentforgeError

EMAIL_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_SPLIT_RE = re.compile(r"\s*(?:,|;|\band\b|&)\s*", re.IGNORECASE)


@dataclass(frozen=True)
class Contact:
    name: str
    email: str


@dataclass(frozen=True)
class Lookup:
    """Who a spoken recipient is: found, unknown, or one of several."""

    spoken: str
    contact: Contact | None = None
    candidates: tuple[Contact, ...] = ()


def _key(name: str) -> str:
    return " ".join(name.casefold().split())


class Contacts:
    """Name and alias -> address, read once from `actions.contacts_file`."""

    def __init__(self, entries: list[tuple[Contact, tuple[str, ...]]]) -> None:
        self._entries = entries
        self._by_key: dict[str, Contact] = {}
        for contact, aliases in entries:
            for key in (contact.name, *aliases):
                self._by_key.setdefault(_key(key), contact)

    @property
    def contacts(self) -> tuple[Contact, ...]:
        return tuple(c for c, _ in self._entries)

    @classmethod
    def load(cls, path: Path) -> Contacts:
        """Read the file; a missing file is an empty address book (only literal addresses work)."""
        if not path.is_file():
            return cls([])
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            reason = str(exc).splitlines()[0]
            raise IntentforgeError(f"contacts file {path} is not valid YAML: {reason}") from None
        if doc is None:
            return cls([])
        if not isinstance(doc, dict):
            raise IntentforgeError(f"contacts file {path} must map names to addresses")
        entries: list[tuple[Contact, tuple[str, ...]]] = []
        for name, spec in doc.items():
            aliases: list[str] = []
            if isinstance(spec, dict):
                address = spec.get("email")
                raw_aliases = spec.get("aliases") or []
                if not isinstance(raw_aliases, list):
                    raise IntentforgeError(
                        f"contacts file {path}: aliases of {name!r} must be a list"
                    )
                aliases = [str(a) for a in raw_aliases]
            else:
                address = spec
            if not isinstance(address, str) or not EMAIL_RE.match(address.strip()):
                raise IntentforgeError(
                    f"contacts file {path}: {name!r} needs an e-mail address "
                    "(name: address, or name: {email: address, aliases: [...]})"
                )
            entries.append((Contact(str(name), address.strip()), tuple(aliases)))
        return cls(entries)

    def find(self, spoken: str) -> Lookup:
        """Resolve one spoken recipient: a literal address, a name or alias, a unique first name."""
        text = spoken.strip().strip(".")
        if EMAIL_RE.match(text):
            return Lookup(spoken, Contact(text, text))
        key = _key(text)
        for candidate in (key, key.removeprefix("my ").strip()):
            if candidate in self._by_key:
                return Lookup(spoken, self._by_key[candidate])
        first_names = [c for c in self.contacts if _key(c.name).split()[0] == key]
        if len(first_names) == 1:
            return Lookup(spoken, first_names[0])
        return Lookup(spoken, None, tuple(first_names))

    def find_all(self, spoken: str) -> list[Lookup]:
        """Resolve "mum and dad", "alex, sam" as several recipients."""
        whole = self.find(spoken)
        if whole.contact is not None:
            return [whole]
        parts = [p for p in _SPLIT_RE.split(spoken) if p.strip()]
        if len(parts) <= 1:
            return [whole]
        return [self.find(p) for p in parts]
