"""The HTTP API and web console: ``create_app(home_or_engine, settings)``; ``shoplm serve``."""

from shoplm.server.app import create_app
from shoplm.server.settings import ServerSettings

__all__ = ["ServerSettings", "create_app"]
