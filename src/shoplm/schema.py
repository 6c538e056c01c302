"""The shop's vocabulary: items, events, platforms and hits.

Everything that enters shoplm is validated into these models first, so every later
stage can trust field types and every error can name the field that was wrong.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DEFAULT_PLATFORM = "default"
CATEGORY_SEPARATOR = " > "


class EventType(StrEnum):
    """What a user did. Order roughly follows purchase intent."""

    VIEW = "view"
    CLICK = "click"
    ADD_TO_CART = "add_to_cart"
    PURCHASE = "purchase"
    RATING = "rating"
    SEARCH = "search"


# How much one event of a type says about a user's interest in an item.  Used as the
# default implicit-feedback weight when building the user-item matrix.
EVENT_WEIGHTS: dict[EventType, float] = {
    EventType.VIEW: 1.0,
    EventType.CLICK: 1.0,
    EventType.ADD_TO_CART: 2.0,
    EventType.PURCHASE: 3.0,
    EventType.RATING: 1.0,
    EventType.SEARCH: 0.0,
}


def _nan_to_none(value: Any) -> Any:
    """Data frames mark a missing number as NaN; treat it like an empty cell."""
    if isinstance(value, numbers.Real) and math.isnan(value):
        return None
    return value


def _clean_text(value: Any) -> str:
    if value is None:
        return ""
    return " ".join(str(value).split())


class Item(BaseModel):
    """A product (or track, film...) in one platform's catalog."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    item_id: str = Field(min_length=1, max_length=256)
    platform: str = Field(default=DEFAULT_PLATFORM, min_length=1, max_length=64)
    title: str = Field(min_length=1, max_length=2000)
    description: str = Field(default="", max_length=20000)
    brand: str = Field(default="", max_length=256)
    category: str = Field(default="", max_length=1000)
    price: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    attributes: dict[str, str] = Field(default_factory=dict)
    created_at: float | None = None
    updated_at: float | None = None

    @field_validator("item_id", "platform", mode="before")
    @classmethod
    def _strip_id(cls, value: Any) -> Any:
        return str(value).strip() if value is not None else value

    @field_validator("price", mode="before")
    @classmethod
    def _price(cls, value: Any) -> Any:
        return _nan_to_none(value)

    @field_validator("title", "description", "brand", mode="before")
    @classmethod
    def _clean(cls, value: Any) -> str:
        return _clean_text(value)

    @field_validator("category", mode="before")
    @classmethod
    def _category_path(cls, value: Any) -> str:
        """Accept a list or a path with '>', '/', '|' or ',' separators; store one form."""
        if value is None:
            return ""
        if isinstance(value, list | tuple):
            parts = [_clean_text(p) for p in value]
        else:
            text = str(value)
            for sep in (">", "|", "/"):
                if sep in text:
                    parts = [_clean_text(p) for p in text.split(sep)]
                    break
            else:
                parts = [_clean_text(p) for p in text.split(",")]
        return CATEGORY_SEPARATOR.join(p for p in parts if p)

    @field_validator("attributes", mode="before")
    @classmethod
    def _attributes(cls, value: Any) -> dict[str, str]:
        if value is None or value == "":
            return {}
        if isinstance(value, str):
            value = json.loads(value)
        if not isinstance(value, dict):
            raise ValueError("attributes must be an object of name -> value")
        return {str(k): _clean_text(v) for k, v in value.items() if v not in (None, "")}

    @property
    def category_path(self) -> list[str]:
        return self.category.split(CATEGORY_SEPARATOR) if self.category else []

    def text(self) -> str:
        """The text the encoder and the lexical index see for this item."""
        parts = [self.title]
        if self.brand:
            parts.append(f"Brand: {self.brand}")
        if self.category:
            parts.append(f"Category: {self.category}")
        if self.description:
            parts.append(self.description[:1000])
        return ". ".join(parts)

    def content_hash(self) -> str:
        """Hash of every stored field except timestamps: an unchanged re-upload is a no-op."""
        payload = self.model_dump(exclude={"created_at", "updated_at"})
        return hashlib.sha1(json.dumps(payload, sort_keys=True).encode()).hexdigest()


class Event(BaseModel):
    """One thing one user did, at one time, on one platform."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    user_id: str = Field(min_length=1, max_length=256)
    item_id: str | None = Field(default=None, max_length=256)
    platform: str = Field(default=DEFAULT_PLATFORM, min_length=1, max_length=64)
    type: EventType = EventType.VIEW
    value: float | None = Field(default=None, allow_inf_nan=False)
    query: str | None = Field(default=None, max_length=1000)
    session_id: str | None = Field(default=None, max_length=256)
    timestamp: float = Field(ge=0, allow_inf_nan=False)
    event_id: str | None = Field(default=None, max_length=256)

    @field_validator("user_id", "item_id", "platform", "session_id", "event_id", mode="before")
    @classmethod
    def _strip(cls, value: Any) -> Any:
        if value is None:
            return None
        text = str(value).strip()
        return text or None

    @field_validator("value", mode="before")
    @classmethod
    def _value(cls, value: Any) -> Any:
        return _nan_to_none(value)

    @field_validator("type", mode="before")
    @classmethod
    def _type(cls, value: Any) -> Any:
        return str(value).strip().lower() if value is not None else value

    @model_validator(mode="after")
    def _needs_item_or_query(self) -> Event:
        if self.type != EventType.SEARCH and not self.item_id:
            raise ValueError(f"item_id is required for a {self.type.value} event")
        if self.type == EventType.SEARCH and not (self.query or "").strip():
            raise ValueError("query is required for a search event")
        return self

    def dedup_key(self) -> str:
        """The same event sent twice (retries, re-imports) is stored once."""
        if self.event_id:
            return f"id:{self.platform}:{self.event_id}"
        fields = (
            self.platform,
            self.user_id,
            self.item_id or "",
            self.type.value,
            repr(self.timestamp),
            repr(self.value),
            self.query or "",
            self.session_id or "",
        )
        return hashlib.sha1("\x1f".join(fields).encode()).hexdigest()


class Platform(BaseModel):
    """A shop or scenario. A single-shop user never names one: it is 'default'."""

    name: str = Field(min_length=1, max_length=64)
    description: str = ""


class Hit(BaseModel):
    """One result of search, recommend or similar: the item, a score and why."""

    item_id: str
    platform: str
    score: float
    reason: str
    item: Item
    sources: dict[str, float] = Field(default_factory=dict)
