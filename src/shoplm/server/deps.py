"""Dependencies injected into routes: the engine, its real-time layer, and access checks."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from shoplm.engine import Engine
from shoplm.realtime import Realtime
from shoplm.server.auth import ApiKey, KeyStore
from shoplm.server.errors import ProblemError
from shoplm.server.metrics import Metrics
from shoplm.server.settings import ServerSettings

_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <API key>")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key")


async def get_engine(request: Request) -> Engine:
    return request.app.state.engine


async def get_realtime(request: Request) -> Realtime:
    return request.app.state.realtime


async def get_settings(request: Request) -> ServerSettings:
    return request.app.state.settings


async def get_metrics(request: Request) -> Metrics:
    return request.app.state.metrics


def _check(request: Request, scope: str, presented: str | None) -> ApiKey:
    keys: KeyStore = request.app.state.keys
    if not presented:
        raise ProblemError(
            401,
            f"this endpoint needs an API key with scope {scope!r}: send it as "
            "'Authorization: Bearer <key>' or 'X-API-Key: <key>' (shoplm keys create)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    record = keys.verify(presented)
    if record is None:
        raise ProblemError(401, "the API key is not valid", headers={"WWW-Authenticate": "Bearer"})
    if not record.allows(scope):
        raise ProblemError(403, f"the API key has scope {record.scope!r}; this needs {scope!r}")
    return record


def _presented(bearer: HTTPAuthorizationCredentials | None, header: str | None) -> str | None:
    return header or (bearer.credentials if bearer is not None else None)


async def require_read(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
    header: Annotated[str | None, Security(_header)] = None,
) -> None:
    """Reads are public unless the server is configured with read_requires_key."""
    if request.app.state.settings.read_requires_key:
        _check(request, "read", _presented(bearer, header))


async def require_write(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
    header: Annotated[str | None, Security(_header)] = None,
) -> ApiKey:
    return _check(request, "write", _presented(bearer, header))


async def require_admin(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
    header: Annotated[str | None, Security(_header)] = None,
) -> ApiKey:
    return _check(request, "admin", _presented(bearer, header))


async def require_metrics(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
    header: Annotated[str | None, Security(_header)] = None,
) -> None:
    if request.app.state.settings.metrics_requires_key:
        _check(request, "admin", _presented(bearer, header))


EngineDep = Annotated[Engine, Depends(get_engine)]
RealtimeDep = Annotated[Realtime, Depends(get_realtime)]
SettingsDep = Annotated[ServerSettings, Depends(get_settings)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
