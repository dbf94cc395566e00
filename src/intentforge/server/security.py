"""Bearer API key: required on every endpoint when configured, and always on endpoints that act."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from intentforge.errors import IntentforgeError
from intentforge.secrets import Secrets
from intentforge.server.deps import SecretsDep

_bearer = HTTPBearer(auto_error=False, description="INTENTFORGE_API_KEY of the server.")
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


class Unauthorized(IntentforgeError):
    """Missing or wrong bearer key."""

    status_code = 401


class Forbidden(IntentforgeError):
    """The endpoint acts, and the server has no API key configured."""

    status_code = 403


def _check(secrets: Secrets, credentials: HTTPAuthorizationCredentials | None) -> None:
    assert secrets.api_key is not None
    expected = secrets.api_key.get_secret_value().encode()
    given = credentials.credentials.encode() if credentials else b""
    if not hmac.compare_digest(given, expected):
        raise Unauthorized(
            "missing or wrong API key: send the server's INTENTFORGE_API_KEY as "
            "'Authorization: Bearer <key>'"
        )


async def require_api_key(secrets: SecretsDep, credentials: BearerDep) -> None:
    """Dependency: the bearer key must match when the server has one configured."""
    if secrets.api_key is not None:
        _check(secrets, credentials)


async def require_api_key_to_act(secrets: SecretsDep, credentials: BearerDep) -> None:
    """Dependency for endpoints with side effects: a key is always required (403 if none is set)."""
    if secrets.api_key is None:
        raise Forbidden(
            "this endpoint acts on your behalf and is disabled until the server has an API key: "
            "set INTENTFORGE_API_KEY and send it as 'Authorization: Bearer <key>'"
        )
    _check(secrets, credentials)
