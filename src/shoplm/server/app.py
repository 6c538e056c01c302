"""The FastAPI application: one engine home, its real-time layer, the API and the console.

``create_app(home_or_engine, settings)`` builds it; ``shoplm serve`` runs it with uvicorn.
One process serves one home: live state (new items, sessions, counters) is in memory, and
everything durable is in the home's store.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path

import anyio.to_thread
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

import shoplm
from shoplm.engine import Engine, NotFittedError
from shoplm.realtime import Realtime
from shoplm.server import routes_admin, routes_read, routes_write
from shoplm.server.auth import KeyStore
from shoplm.server.errors import install_error_handlers
from shoplm.server.metrics import Gauge, Metrics, MetricsMiddleware
from shoplm.server.settings import ServerSettings

log = logging.getLogger("shoplm.server")
CONSOLE_DIR = Path(__file__).parent / "console"
DESCRIPTION = """Search, recommendations and similar items for one shop (or several
*platforms*), with events and catalog changes taking effect in real time.

Reads are public unless the server requires keys; writes need an API key with scope
`write` (`shoplm keys create`), sent as `Authorization: Bearer <key>` or `X-API-Key`.
Errors are problem documents (`application/problem+json`) naming each bad field."""


def create_app(
    home_or_engine: str | Path | Engine | None = None, settings: ServerSettings | None = None
) -> FastAPI:
    """The app over an engine home (opened and closed by the app) or an open ``Engine``."""
    owns_engine = not isinstance(home_or_engine, Engine)
    engine = home_or_engine if isinstance(home_or_engine, Engine) else Engine.open(home_or_engine)
    settings = settings or ServerSettings.load(engine.home)
    realtime = Realtime(engine, settings.realtime)
    metrics = Metrics()
    metrics.add_collector(lambda: _gauges(realtime))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.compute_threads is not None:
            limit_compute_threads(settings.compute_threads)
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.request_threads
        realtime.start()
        if settings.warm_up:
            _warm_up(engine)
        log.info("shoplm serving %s", engine.home.resolve())
        try:
            yield
        finally:
            realtime.stop()
            if owns_engine:
                engine.close()

    app = FastAPI(
        title="shoplm",
        version=shoplm.__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.engine = engine
    app.state.realtime = realtime
    app.state.settings = settings
    app.state.keys = KeyStore(engine.home)
    app.state.metrics = metrics
    install_error_handlers(app)
    app.include_router(routes_read.router)
    app.include_router(routes_write.router)
    app.include_router(routes_admin.router)
    app.mount("/console", StaticFiles(directory=CONSOLE_DIR, html=True), name="console")

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/console/")

    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type"],
        )
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app


def limit_compute_threads(threads: int) -> None:
    """Torch and BLAS threads for the whole process (a server process does nothing but serve)."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    threadpool_limits(limits=threads)


def _warm_up(engine: Engine) -> None:
    """Load the text encoder now, so the first search does not pay for it."""
    for platform in engine.store.platforms():
        with contextlib.suppress(NotFittedError):
            engine.fitted(platform)
            engine.encoder.encode_query("warm up")
            return


def _gauges(realtime: Realtime) -> Iterable[Gauge]:
    engine = realtime.engine
    for platform in engine.store.platforms():
        labels = {"platform": platform}
        yield "shoplm_items", "Items in the store.", labels, engine.store.count_items(platform)
        yield "shoplm_events", "Events in the store.", labels, engine.store.count_events(platform)
        fitted = realtime.slots.get(platform)
        if fitted is not None:
            base = getattr(fitted, "live_base", fitted)
            yield (
                "shoplm_fitted_timestamp_seconds",
                "When the serving fit was made.",
                labels,
                (base.fitted_at),
            )
            overlay = realtime.overlay_size(platform)
            yield (
                "shoplm_live_items",
                "Items served from the live overlay.",
                labels,
                (overlay["items"]),
            )
        state = realtime.retrain_status(platform)["state"]
        yield (
            "shoplm_retrain_running",
            "1 while a background fit runs.",
            labels,
            float(state == "running"),
        )
    status = realtime.status()
    yield (
        "shoplm_pending_upserts",
        "Upserted items waiting to be encoded.",
        {},
        status["pending_upserts"],
    )
    yield "shoplm_bandit_arms", "Items with exploration beliefs.", {}, status["bandit_arms"]
