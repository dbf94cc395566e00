"""Credentials: read only from the environment, never from a config file, never logged."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, SecretStr

if TYPE_CHECKING:
    from intentforge.config import Settings


class Secrets(BaseModel):
    """Credentials, only ever from the environment; never logged, never written to run dirs."""

    model_config = ConfigDict(frozen=True)

    llm_api_key: SecretStr | None = None
    todoist_api_token: SecretStr | None = None
    smtp_password: SecretStr | None = None
    api_key: SecretStr | None = Field(None, description="Bearer key the server requires.")


def load_secrets(settings: Settings, environ: Mapping[str, str] | None = None) -> Secrets:
    """Read the secrets named by `settings` from the environment (os.environ by default)."""
    env = os.environ if environ is None else environ

    def get(*names: str) -> SecretStr | None:
        for name in names:
            if env.get(name):
                return SecretStr(env[name])
        return None

    return Secrets(
        llm_api_key=get(settings.llm.api_key_env, "OPENAI_API_KEY"),
        todoist_api_token=get("TODOIST_API_TOKEN"),
        smtp_password=get("SMTP_PASSWORD", "GMAIL_APP_PASSWORD"),
        api_key=get("INTENTFORGE_API_KEY"),
    )
