"""Request and response bodies of the HTTP API, validated by pydantic.

Limits are part of the contract: a query of at most ``MAX_QUERY_CHARS`` characters, at most
``MAX_K`` results, at most ``MAX_BATCH`` items or events per request.  Anything outside them
is a 422 naming the field and the reason.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shoplm.schema import Event, Hit, Item

MAX_QUERY_CHARS = 512
MAX_K = 100
MAX_BATCH = 1000
MAX_HEAD_TEXTS = 256
MAX_HEAD_TEXT_CHARS = 20_000
ID = Field(min_length=1, max_length=256)


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SearchParams(_Params):
    """Query string of GET /v1/search."""

    q: str = Field(min_length=1, max_length=MAX_QUERY_CHARS, description="What the shopper typed.")
    k: int = Field(default=10, ge=1, le=MAX_K, description="Number of results.")
    user_id: str | None = Field(default=None, max_length=256, description="Personalise.")
    brand: list[str] = Field(default_factory=list, max_length=50, description="Keep brands.")
    category: str | None = Field(default=None, max_length=1000, description="Path prefix.")
    min_price: float | None = Field(default=None, ge=0)
    max_price: float | None = Field(default=None, ge=0)
    method: Literal["hybrid", "hybrid-rerank", "hybrid-learned", "bm25", "dense"] = "hybrid"
    platform: str | None = Field(default=None, max_length=64)

    @model_validator(mode="after")
    def _price_range(self) -> SearchParams:
        low, high = self.min_price, self.max_price
        if low is not None and high is not None and low > high:
            raise ValueError("min_price must not exceed max_price")
        return self


class RecommendParams(_Params):
    """Query string of GET /v1/recommend."""

    user_id: str = ID
    k: int = Field(default=10, ge=1, le=MAX_K)
    model: str = Field(default="blend", max_length=64, description="'blend' or one model.")
    exclude_seen: bool | None = None
    platform: str | None = Field(default=None, max_length=64)


class SimilarParams(_Params):
    k: int = Field(default=10, ge=1, le=MAX_K)
    model: str = Field(default="content", max_length=64)
    platform: str | None = Field(default=None, max_length=64)


class ExplainParams(_Params):
    item_id: str = ID
    user_id: str | None = Field(default=None, max_length=256)
    q: str | None = Field(default=None, min_length=1, max_length=MAX_QUERY_CHARS)
    platform: str | None = Field(default=None, max_length=64)


class HitsResponse(BaseModel):
    """Results, best first, each with its score and the reason it is there."""

    platform: str
    took_ms: float
    hits: list[Hit]


class SearchResponse(HitsResponse):
    query: str
    user_id: str | None = None


class RecommendResponse(HitsResponse):
    user_id: str
    model: str


class SimilarResponse(HitsResponse):
    item_id: str
    model: str


class EventIn(Event):
    """An event as a client sends it: like ``Event``, but the time defaults to now."""

    timestamp: float | None = Field(  # type: ignore[assignment]
        default=None, ge=0, allow_inf_nan=False, description="Epoch seconds [now]."
    )

    def to_event(self) -> Event:
        data = self.model_dump()
        data["timestamp"] = self.timestamp if self.timestamp is not None else time.time()
        return Event.model_validate(data)


class EventsBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[EventIn] = Field(min_length=1, max_length=MAX_BATCH)


class EventsAccepted(BaseModel):
    """Every counted event is committed to the store before this answer is sent."""

    accepted: int
    added: int
    duplicates: int


class ItemsBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[Item] = Field(min_length=1, max_length=MAX_BATCH)


class ItemsUpserted(BaseModel):
    inserted: int
    updated: int
    unchanged: int
    live: bool = Field(description="True when the items were searchable before this answer.")


class ItemDeleted(BaseModel):
    item_id: str
    platform: str
    deleted: bool


class UsersResponse(BaseModel):
    platform: str
    users: list[str]


class RetrainResponse(BaseModel):
    platform: str
    state: str
    started_at: float | None = None
    finished_at: float | None = None
    report: dict | None = None
    error: str | None = None


class ReportInfo(BaseModel):
    name: str
    url: str
    modified_at: float
    size: int


class ReportsResponse(BaseModel):
    reports: list[ReportInfo]
    latest: str | None = None


class HeadPredictRequest(BaseModel):
    """Body of POST /v1/heads/{name}/predict."""

    model_config = ConfigDict(extra="forbid")
    texts: list[Annotated[str, Field(min_length=1, max_length=MAX_HEAD_TEXT_CHARS)]] = Field(
        min_length=1, max_length=MAX_HEAD_TEXTS, description="Texts to predict for."
    )


class HeadPrediction(BaseModel):
    """A label with its probabilities (classification, binary), a label with its position on
    the scale (ordinal), or a value (regression)."""

    label: str | None = None
    probabilities: dict[str, float] | None = None
    value: float | None = None


class HeadPredictResponse(BaseModel):
    head: str
    took_ms: float
    predictions: list[HeadPrediction]


class HeadInfo(BaseModel):
    name: str
    task: dict[str, Any]
    mode: str
    base_model: str
    metrics: dict[str, Any]


class HeadsResponse(BaseModel):
    heads: list[HeadInfo]
