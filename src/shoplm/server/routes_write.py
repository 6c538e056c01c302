"""Write endpoints: items (upsert, delete) and events (one, or a batch).

Each write is committed to the store before the answer is sent, so an acknowledged event
survives a crash of the server the instant after.  Then the real-time layer hears of it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from shoplm.schema import DEFAULT_PLATFORM
from shoplm.server.api_models import (
    EventIn,
    EventsAccepted,
    EventsBatch,
    ItemDeleted,
    ItemsBatch,
    ItemsUpserted,
)
from shoplm.server.deps import EngineDep, MetricsDep, RealtimeDep, SettingsDep, require_write

router = APIRouter(prefix="/v1", dependencies=[Depends(require_write)], tags=["write"])


@router.post("/items", response_model=ItemsUpserted, summary="Add or change items")
def upsert_items(
    body: ItemsBatch,
    realtime: RealtimeDep,
    settings: SettingsDep,
    metrics: MetricsDep,
    wait: Annotated[bool, Query(description="Answer once the items are searchable.")] = False,
) -> ItemsUpserted:
    """Stored at once; encoded and searchable/recommendable within a second."""
    result = realtime.engine.upsert_items(body.items)
    metrics.inc("shoplm_items_upserted_total", result.inserted + result.updated)
    live = False
    by_platform: dict[str, list] = {}
    for item in body.items:
        by_platform.setdefault(item.platform, []).append(item)
    for platform, items in by_platform.items():
        live = realtime.items_upserted(platform, items, settings.upsert_wait_s if wait else 0.0)
    return ItemsUpserted(
        inserted=result.inserted, updated=result.updated, unchanged=result.unchanged, live=live
    )


@router.delete("/items/{item_id}", response_model=ItemDeleted, summary="Delete an item")
def delete_item(
    item_id: Annotated[str, Path(min_length=1, max_length=256)],
    realtime: RealtimeDep,
    platform: Annotated[str, Query(min_length=1, max_length=64)] = DEFAULT_PLATFORM,
) -> ItemDeleted:
    deleted = realtime.engine.store.delete_items(platform, [item_id]) > 0
    if deleted:
        realtime.items_deleted(platform, [item_id])
    return ItemDeleted(item_id=item_id, platform=platform, deleted=deleted)


@router.post("/events", response_model=EventsAccepted, summary="Record one event")
def add_event(
    event: EventIn, engine: EngineDep, realtime: RealtimeDep, metrics: MetricsDep
) -> EventsAccepted:
    """Committed before the answer; the next recommendation for the user reflects it."""
    stored = event.to_event()
    result = engine.add_events([stored])
    metrics.inc("shoplm_events_stored_total", result.added)
    realtime.events_added([stored])
    return EventsAccepted(accepted=1, added=result.added, duplicates=result.duplicates)


@router.post("/events/batch", response_model=EventsAccepted, summary="Record many events")
def add_events(
    body: EventsBatch, engine: EngineDep, realtime: RealtimeDep, metrics: MetricsDep
) -> EventsAccepted:
    """All or nothing: one transaction, committed before the answer."""
    events = [event.to_event() for event in body.events]
    result = engine.add_events(events)
    metrics.inc("shoplm_events_stored_total", result.added)
    realtime.events_added(events)
    return EventsAccepted(accepted=len(events), added=result.added, duplicates=result.duplicates)
