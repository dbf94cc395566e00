"""Settings: defaults < config file < INTENTFORGE_* env vars < CLI overrides; secrets: env only."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from intentforge.config import Settings, load_settings
from intentforge.errors import IntentforgeError
from intentforge.secrets import load_secrets


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch, tmp_path):
    # Run where no ./intentforge.yaml exists and no INTENTFORGE_* variable leaks in.
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("INTENTFORGE_"):
            monkeypatch.delenv(name)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_match_the_documented_data_settings():
    settings = load_settings()
    assert isinstance(settings, Settings)
    data = settings.data
    assert (data.generator, data.rows, data.none_fraction) == ("templates", 2200, 0.3)
    assert (data.train_rows, data.test_rows) == (1400, 250)
    assert data.out_dir == Path("build/data")
    assert settings.catalogue.builtin is True


def test_precedence_file_then_env_then_overrides(tmp_path, monkeypatch):
    config = write(tmp_path / "c.yaml", "data:\n  rows: 10\n  seed: 5\n  test_rows: 7\n")
    assert load_settings(config).data.rows == 10
    monkeypatch.setenv("INTENTFORGE_DATA__ROWS", "20")
    monkeypatch.setenv("INTENTFORGE_DATA__SEED", "6")
    settings = load_settings(config, {"data": {"rows": 30, "seed": None}})
    assert settings.data.rows == 30  # CLI beats env
    assert settings.data.seed == 6  # env beats file; a None override is ignored
    assert settings.data.test_rows == 7  # file beats default
    assert settings.data.train_rows == 1400


def test_intentforge_yaml_in_the_working_directory_is_read_by_default(tmp_path):
    write(tmp_path / "intentforge.yaml", "catalogue:\n  files: [mine.yaml]\n")
    assert load_settings().catalogue.files == [Path("mine.yaml")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("data: [rows: 3", "is not valid YAML: .* at line 1"),
        ("- just\n- a list\n", "must be a mapping of sections"),
        ("data:\n  rowz: 3\n", "invalid setting data.rowz"),
        ("data:\n  rows: many\n", "invalid setting data.rows"),
        ("data:\n  none_fraction: 0.9\n", "invalid setting data.none_fraction"),
        ("data:\n  generator: magic\n", "invalid setting data.generator"),
        ("trian:\n  rank: 4\n", "invalid setting trian"),
    ],
)
def test_bad_config_files_are_one_line_errors(tmp_path, text, message):
    config = write(tmp_path / "bad.yaml", text)
    with pytest.raises(IntentforgeError, match=message) as info:
        load_settings(config)
    assert "\n" not in str(info.value)


def test_missing_or_unreadable_config_files_are_errors(tmp_path):
    with pytest.raises(IntentforgeError, match="config file not found"):
        load_settings(tmp_path / "absent.yaml")
    with pytest.raises(IntentforgeError, match="is a directory"):
        load_settings(tmp_path)
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00data")
    with pytest.raises(IntentforgeError, match="not UTF-8"):
        load_settings(binary)


def test_an_empty_config_file_means_defaults(tmp_path):
    assert load_settings(write(tmp_path / "empty.yaml", "")).data.rows == 2200


def test_bad_override_names_the_setting():
    with pytest.raises(IntentforgeError, match=r"invalid setting data\.rows"):
        load_settings(None, {"data": {"rows": 0}})


def test_secrets_come_from_the_environment_named_by_settings():
    settings = load_settings(None, {"llm": {"api_key_env": "MY_LLM_KEY"}})
    secrets = load_secrets(settings, {"MY_LLM_KEY": "k-123", "TODOIST_API_TOKEN": "t-1"})
    assert secrets.llm_api_key is not None
    assert secrets.llm_api_key.get_secret_value() == "k-123"
    assert "k-123" not in repr(secrets)  # never printed by accident
    assert secrets.todoist_api_token is not None
    assert secrets.smtp_password is None
    fallback = load_secrets(settings, {"OPENAI_API_KEY": "o-1"})
    assert fallback.llm_api_key is not None
    assert fallback.llm_api_key.get_secret_value() == "o-1"
