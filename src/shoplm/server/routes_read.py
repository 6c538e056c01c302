"""Read endpoints: search, recommend, similar, items, users, explain.

Thin on purpose: validate (pydantic), call the engine or the real-time layer, time it.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel

from shoplm.realtime.insight import explain, user_profile
from shoplm.schema import Item
from shoplm.server.api_models import (
    ExplainParams,
    HeadPredictRequest,
    HeadPredictResponse,
    HeadsResponse,
    RecommendParams,
    RecommendResponse,
    SearchParams,
    SearchResponse,
    SimilarParams,
    SimilarResponse,
    UsersResponse,
)
from shoplm.server.deps import EngineDep, RealtimeDep, require_read

router = APIRouter(prefix="/v1", dependencies=[Depends(require_read)], tags=["read"])
ItemId = Annotated[str, Path(min_length=1, max_length=256)]
HeadName = Annotated[str, Path(min_length=1, max_length=64)]
UserId = Annotated[str, Path(min_length=1, max_length=256)]
PlatformQuery = Annotated[str | None, Query(max_length=64)]


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


def _json(body: BaseModel) -> Response:
    """Serialised once, here: FastAPI would validate the hits again (and on another thread)."""
    return Response(body.model_dump_json(), media_type="application/json")


@router.get("/search", response_model=SearchResponse, summary="Search the catalog")
def search(params: Annotated[SearchParams, Query()], engine: EngineDep) -> Response:
    """Lexical + semantic search; each hit says which words matched and why it ranks."""
    started = time.perf_counter()
    filters = {
        "brands": params.brand,
        "category": params.category,
        "min_price": params.min_price,
        "max_price": params.max_price,
    }
    hits = engine.search(
        params.q,
        user_id=params.user_id,
        k=params.k,
        filters={k: v for k, v in filters.items() if v not in (None, [])},
        platform=params.platform,
        method=params.method,
    )
    return _json(
        SearchResponse(
            platform=engine.resolve_platform(params.platform),
            took_ms=_ms(started),
            hits=hits,
            query=params.q,
            user_id=params.user_id,
        )
    )


@router.get("/recommend", response_model=RecommendResponse, summary="Recommend for a user")
async def recommend(params: Annotated[RecommendParams, Query()], realtime: RealtimeDep) -> Response:
    """Blended models, re-ordered by the live session, with exploration places.

    Computed on the event loop (a few ms of CPU): handing it to a worker thread and back
    costs more than the work, and under load the threads only queue on the GIL.
    """
    started = time.perf_counter()
    hits = realtime.recommend(
        params.user_id,
        k=params.k,
        platform=params.platform,
        model=params.model,
        exclude_seen=params.exclude_seen,
    )
    return _json(
        RecommendResponse(
            platform=realtime.engine.resolve_platform(params.platform),
            took_ms=_ms(started),
            hits=hits,
            user_id=params.user_id,
            model=params.model,
        )
    )


@router.get(
    "/items/{item_id}/similar", response_model=SimilarResponse, summary="Items like this one"
)
def similar(
    item_id: ItemId, params: Annotated[SimilarParams, Query()], engine: EngineDep
) -> Response:
    started = time.perf_counter()
    hits = engine.similar(item_id, k=params.k, platform=params.platform, model=params.model)
    return _json(
        SimilarResponse(
            platform=engine.resolve_platform(params.platform),
            took_ms=_ms(started),
            hits=hits,
            item_id=item_id,
            model=params.model,
        )
    )


@router.get("/items/{item_id}", response_model=Item, summary="One item")
def get_item(item_id: ItemId, engine: EngineDep, platform: PlatformQuery = None) -> Item:
    name = engine.resolve_platform(platform)
    item = engine.store.get_item(name, item_id)
    if item is None:
        raise KeyError(f"item {item_id!r} is not in the catalog of {name!r}")
    return item


@router.get("/users", response_model=UsersResponse, summary="Some user ids, for pickers")
def users(
    realtime: RealtimeDep,
    platform: PlatformQuery = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> UsersResponse:
    """Users active on this server lately first, then users the fit knows."""
    fitted = realtime.engine.fitted(platform)
    ids = list(dict.fromkeys([*realtime.recent_users(fitted.platform), *fitted.user_ids[:limit]]))
    return UsersResponse(platform=fitted.platform, users=ids[:limit])


@router.get("/users/{user_id}", summary="A user's profile")
def profile(user_id: UserId, realtime: RealtimeDep, platform: PlatformQuery = None) -> Any:
    """Event counts, recent events, favourite categories and brands, the live session."""
    return user_profile(realtime, user_id, platform)


@router.get("/explain", summary="Why an item is shown")
def explain_item(params: Annotated[ExplainParams, Query()], realtime: RealtimeDep) -> Any:
    """For a user (model contributions, nearest history, session) and/or a query (matches)."""
    return explain(
        realtime, params.item_id, user_id=params.user_id, query=params.q, platform=params.platform
    )


@router.get("/heads", response_model=HeadsResponse, summary="The home's task heads")
def heads(engine: EngineDep) -> HeadsResponse:
    """Each head trained with `shoplm heads train`: its task, mode and test scores."""
    from shoplm.heads.home import list_heads

    return HeadsResponse.model_validate({"heads": list_heads(engine.home)})


@router.post(
    "/heads/{name}/predict", response_model=HeadPredictResponse, summary="Predict with a head"
)
def head_predict(name: HeadName, body: HeadPredictRequest, engine: EngineDep) -> Response:
    """Sentiment, category, ...: one answer per text, in order (the head loads on first use)."""
    started = time.perf_counter()
    answers = engine.heads.predict(name, body.texts)
    return _json(
        HeadPredictResponse.model_validate(
            {"head": name, "took_ms": _ms(started), "predictions": answers}
        )
    )
