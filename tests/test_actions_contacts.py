"""Contacts file: names and aliases to addresses, never a guess."""

from __future__ import annotations

import pytest

from intentforge.actions.contacts import Contacts
from intentforge.errors import IntentforgeError


@pytest.fixture
def contacts(tmp_path):
    path = tmp_path / "contacts.yaml"
    path.write_text(
        "Mum:\n"
        "  email: mum@example.com\n"
        "  aliases: [mom, my mom, mother]\n"
        "Alex Smith: alex.smith@example.com\n"
        "Alex Jones: alex.jones@example.org\n"
        "Dad: dad@example.com\n"
    )
    return Contacts.load(path)


@pytest.mark.parametrize("spoken", ["Mum", "mum", "MOM", "my mom", "my  Mum", "Mother."])
def test_names_and_aliases_are_case_insensitive(contacts, spoken):
    found = contacts.find(spoken).contact
    assert found is not None and found.email == "mum@example.com"


def test_unique_first_name_finds_the_full_name(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("Sam Taylor: sam@example.com\n")
    assert Contacts.load(path).find("sam").contact.name == "Sam Taylor"  # type: ignore[union-attr]


def test_ambiguous_first_name_lists_candidates(contacts):
    lookup = contacts.find("alex")
    assert lookup.contact is None
    assert [c.name for c in lookup.candidates] == ["Alex Smith", "Alex Jones"]


def test_unknown_name_has_no_address(contacts):
    lookup = contacts.find("grandma")
    assert lookup.contact is None and lookup.candidates == ()


def test_literal_address_is_taken_as_is(contacts):
    assert contacts.find("Someone@Example.com").contact.email == "Someone@Example.com"  # type: ignore[union-attr]


def test_several_recipients(contacts):
    found = contacts.find_all("mum and dad")
    assert [lk.contact.name for lk in found] == ["Mum", "Dad"]  # type: ignore[union-attr]
    mixed = contacts.find_all("mum, grandma")
    assert [lk.contact is None for lk in mixed] == [False, True]


def test_missing_file_is_an_empty_book(tmp_path):
    book = Contacts.load(tmp_path / "absent.yaml")
    assert book.contacts == () and book.find("mum").contact is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- just a list\n", "must map names"),
        ("Mum: not-an-address\n", "needs an e-mail address"),
        ("Mum: {email: m@example.com, aliases: mom}\n", "aliases of 'Mum' must be a list"),
        ("Mum: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_contacts_file_says_what_is_wrong(tmp_path, text, message):
    path = tmp_path / "contacts.yaml"
    path.write_text(text)
    with pytest.raises(IntentforgeError, match=message):
        Contacts.load(path)
