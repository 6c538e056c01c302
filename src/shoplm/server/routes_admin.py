"""Operations: health, metrics, background retrain, evaluation reports."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, PlainTextResponse

import shoplm
from shoplm.server.api_models import ReportInfo, ReportsResponse, RetrainResponse
from shoplm.server.deps import (
    RealtimeDep,
    SettingsDep,
    require_admin,
    require_metrics,
    require_read,
)
from shoplm.server.metrics import CONTENT_TYPE

router = APIRouter(tags=["operations"])
PlatformQuery = Annotated[str | None, Query(max_length=64)]


@router.get("/health", summary="Is the server up, and what does it serve")
def health(realtime: RealtimeDep) -> dict[str, Any]:
    engine = realtime.engine
    platforms = {}
    for name in engine.store.platforms():
        fitted = realtime.slots.get(name)
        platforms[name] = {
            "fitted": fitted is not None,
            "items": fitted.n_items if fitted is not None else None,
            "fitted_at": getattr(getattr(fitted, "live_base", fitted), "fitted_at", None),
            "overlay": realtime.overlay_size(name),
        }
    return {"status": "ok", "version": shoplm.__version__, "platforms": platforms}


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    dependencies=[Depends(require_metrics)],
    summary="Prometheus metrics",
)
def metrics(request: Request) -> PlainTextResponse:
    return PlainTextResponse(request.app.state.metrics.render(), media_type=CONTENT_TYPE)


@router.post(
    "/v1/admin/retrain",
    response_model=RetrainResponse,
    dependencies=[Depends(require_admin)],
    summary="Refit in the background",
)
def retrain(
    realtime: RealtimeDep,
    platform: PlatformQuery = None,
    wait: Annotated[bool, Query(description="Answer when the new fit is serving.")] = False,
) -> RetrainResponse:
    """The old fit serves until the new one (with items that arrived meanwhile) swaps in."""
    realtime.retrain(platform, wait=wait)
    return RetrainResponse(**realtime.retrain_status(platform))


@router.get(
    "/v1/admin/retrain",
    response_model=RetrainResponse,
    dependencies=[Depends(require_admin)],
    summary="State of the last retrain",
)
def retrain_status(realtime: RealtimeDep, platform: PlatformQuery = None) -> RetrainResponse:
    return RetrainResponse(**realtime.retrain_status(platform))


def _reports_dir(realtime: RealtimeDep, settings: SettingsDep) -> Path:
    return settings.reports_dir or realtime.engine.home / "reports"


def _reports(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(folder.glob("*.html"), key=lambda p: p.stat().st_mtime, reverse=True)


@router.get(
    "/v1/reports",
    response_model=ReportsResponse,
    dependencies=[Depends(require_read)],
    summary="Evaluation reports",
)
def reports(realtime: RealtimeDep, settings: SettingsDep) -> ReportsResponse:
    """HTML reports of ``shoplm evaluate ... --report <home>/reports/NAME.html``, newest first."""
    found = _reports(_reports_dir(realtime, settings))
    infos = [
        ReportInfo(
            name=p.name,
            url=f"/v1/reports/{p.name}",
            modified_at=p.stat().st_mtime,
            size=p.stat().st_size,
        )
        for p in found
    ]
    return ReportsResponse(reports=infos, latest=infos[0].url if infos else None)


@router.get(
    "/v1/reports/{name}",
    response_class=FileResponse,
    dependencies=[Depends(require_read)],
    summary="One evaluation report ('latest' for the newest)",
)
def report(name: str, realtime: RealtimeDep, settings: SettingsDep) -> FileResponse:
    found = _reports(_reports_dir(realtime, settings))
    chosen = (
        found[0] if name == "latest" and found else next((p for p in found if p.name == name), None)
    )
    if chosen is None:
        raise KeyError(
            "no evaluation report yet: run `shoplm evaluate ... --report <home>/reports/x.html`"
            if name == "latest"
            else f"no report named {name!r}"
        )
    return FileResponse(chosen, media_type="text/html")
