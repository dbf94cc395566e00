"""The services over the runtime: the HTTP API (FastAPI app, worker pool with backpressure,
metrics, web page) and the Wyoming service Home Assistant talks to (server/wyoming.py)."""

from intentforge.server.app import create_app, load_parsers
from intentforge.server.pool import ParserPool, RequestTimeout, ServerBusy
from intentforge.server.security import require_api_key, require_api_key_to_act

__all__ = [
    "ParserPool",
    "RequestTimeout",
    "ServerBusy",
    "create_app",
    "load_parsers",
    "require_api_key",
    "require_api_key_to_act",
]
