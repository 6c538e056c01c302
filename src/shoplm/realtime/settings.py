"""Knobs of the real-time layer: session intent, exploration, popularity, retraining.

They live beside the server settings (``<home>/server.json``), not in ``config.json``:
they steer how a running server reacts to live traffic, not what ``fit`` learns.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class RealtimeSettings(BaseModel):
    """Defaults suit a small shop; every field can be set in server.json under "realtime"."""

    model_config = ConfigDict(extra="forbid")

    candidate_pool: int = Field(
        default=50, ge=10, le=5000, description="Candidates re-ranked by a live session."
    )
    session_gap_s: float = Field(
        default=1800.0, gt=0, description="A pause longer than this ends a session."
    )
    session_events: int = Field(
        default=30, ge=1, le=200, description="At most this many recent events form the intent."
    )
    session_weight: float = Field(
        default=1.0, ge=0, description="How strongly the live session re-orders (0 turns it off)."
    )
    dwell_reference_s: float = Field(
        default=30.0, gt=0, description="A view of this many seconds (event value) counts double."
    )
    explore_slots: int = Field(
        default=1, ge=0, le=20, description="Places per list reserved for new or uncertain items."
    )
    explore_cold_max_users: int = Field(
        default=2, ge=0, description="Items with at most this many users in the fit are uncertain."
    )
    explore_prior: tuple[float, float] = Field(
        default=(1.0, 10.0), description="Beta prior (successes, failures) of an unseen item."
    )
    reward_window_s: float = Field(
        default=3600.0, gt=0, description="A click this long after an exploration shows pays it."
    )
    popularity_half_life_s: float = Field(
        default=3600.0, gt=0, description="Live popularity counters halve over this time."
    )
    retrain_interval_s: float = Field(
        default=0.0, ge=0, description="Refit every platform this often in the background (0: off)."
    )
    seed: int | None = Field(default=None, description="Seed exploration draws (tests only).")
