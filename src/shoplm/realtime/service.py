"""The real-time layer of a running server: live items, live events, exploration, retrains.

It sits between the HTTP routes and the ``Engine``:

- **items**: an upserted item is encoded on arrival (a background applier thread) and laid
  over the fit (``overlay.compose``), so search, recommend and similar see it well within a
  second; a deleted item leaves search at once.
- **events**: the store holds them (the engine reads each user's history per request);
  here they also move live popularity counters and pay the exploration bandit.
- **recommend**: the engine's blended list, re-ordered by the live session intent (or, for
  a user with no history, by live popularity), with a few places for exploration.
- **retrain**: ``Engine.fit`` in a background thread; the new fit, with the overlay of what
  arrived meanwhile, replaces the old one in a single dict assignment, so no request fails
  or sees half a model set.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from shoplm.engine import BLEND, Engine, NotFittedError
from shoplm.fitted import POINTER, FittedPlatform
from shoplm.realtime.bandit import ThompsonBandit
from shoplm.realtime.overlay import OverlayEntry, PlatformOverlay, compose
from shoplm.realtime.popularity import DecayedCounters
from shoplm.realtime.ranking import exploration_arms, fuse, new_item_ids, place_explored
from shoplm.realtime.session import SessionIntent, session_intent
from shoplm.realtime.settings import RealtimeSettings
from shoplm.realtime.slots import FittedSlots
from shoplm.schema import EVENT_WEIGHTS, Event, Hit, Item

log = logging.getLogger("shoplm.realtime")

HISTORY_EVENTS = 200
RECENT_USERS = 200
BANDIT_SAVE_INTERVAL_S = 5.0


@dataclass
class RetrainStatus:
    """What the last background retrain of a platform did."""

    state: str = "idle"  # idle | running | done | failed
    started_at: float | None = None
    finished_at: float | None = None
    report: dict | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "report": self.report,
            "error": self.error,
        }


@dataclass
class _Upsert:
    platform: str
    items: list[Item]
    done: threading.Event = field(default_factory=threading.Event)


class Realtime:
    """Owns the live state of one engine; ``start()`` it, ``stop()`` it."""

    def __init__(self, engine: Engine, settings: RealtimeSettings | None = None) -> None:
        self.engine = engine
        self.settings = settings or RealtimeSettings()
        self.counters = DecayedCounters(self.settings.popularity_half_life_s)
        self.bandit = ThompsonBandit(
            bandit_path(engine.home),
            prior=self.settings.explore_prior,
            reward_window_s=self.settings.reward_window_s,
            seed=self.settings.seed,
        )
        self._lock = threading.RLock()
        self._overlays: dict[str, PlatformOverlay] = {}
        self._bases: dict[str, FittedPlatform] = {}
        self._pointers: dict[str, str] = {}
        self._arms: dict[str, tuple[FittedPlatform, list[str]]] = {}
        self._retrains: dict[str, RetrainStatus] = {}
        self._recent_users: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._users_lock = threading.Lock()
        self._queue: queue.Queue[_Upsert | None] = queue.Queue()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._last_retrain = time.time()
        self.slots = FittedSlots(self._install)
        engine.attach_fitted_slots(self.slots)

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        """Load every fitted platform (with its overlay) and start the background threads."""
        for platform in self.engine.store.platforms():
            with contextlib.suppress(NotFittedError):
                self.engine.fitted(platform)
        for target, name in ((self._apply_loop, "applier"), (self._maintain_loop, "maintain")):
            thread = threading.Thread(target=target, name=f"shoplm-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads.clear()
        self.bandit.save()

    # -- installing fits -------------------------------------------------------------------
    def _install(self, platform: str, fitted: FittedPlatform) -> None:
        """Called by the engine for each fit it installs: lay the overlay over it, store."""
        base = getattr(fitted, "live_base", fitted)
        from_store, deleted = self._changes_since_fit(base)
        vectors = self._encode(from_store)
        pointer = self._read_pointer(platform)
        with self._lock:
            old = self._overlays.get(platform, PlatformOverlay())
            status = self._retrains.get(platform)
            covered_before = (
                status.started_at
                if status is not None and status.state == "running" and status.started_at
                else base.fitted_at
            )
            entries = {
                item_id: entry
                for item_id, entry in old.entries.items()
                if item_id not in base.item_index or entry.arrived_at >= covered_before
            }
            now = time.time()
            for item, vector in zip(from_store, vectors, strict=True):
                entries.setdefault(item.item_id, OverlayEntry(item, vector, now))
            gone = (old.deleted | deleted) & base.item_index.keys()
            overlay = PlatformOverlay(entries, {i for i in gone if i not in entries})
            self._overlays[platform] = overlay
            self._bases[platform] = base
            if pointer is not None:
                self._pointers[platform] = pointer
            self.slots.put(platform, compose(base, overlay))

    def _changes_since_fit(self, base: FittedPlatform) -> tuple[list[Item], set[str]]:
        """Items stored after the fit (new or changed), and fitted items no longer stored."""
        fresh: list[Item] = []
        stored: set[str] = set()
        for item in self.engine.store.iter_items(base.platform):
            stored.add(item.item_id)
            if item.item_id not in base.item_index or (item.updated_at or 0) > base.fitted_at:
                fresh.append(item)
        return fresh, set(base.item_index) - stored

    def _encode(self, items: Sequence[Item]) -> np.ndarray:
        if not items:
            return np.zeros((0, 0), dtype=np.float32)
        vectors = np.asarray(
            self.engine.encoder.encode_cached([item.text() for item in items]), dtype=np.float32
        )
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)

    def _read_pointer(self, platform: str) -> str | None:
        path = self.engine.home / "platforms" / platform / POINTER
        try:
            return path.read_text().strip()
        except OSError:
            return None

    # -- items -----------------------------------------------------------------------------
    def items_upserted(self, platform: str, items: Sequence[Item], wait_s: float = 0.0) -> bool:
        """Queue stored items for encoding into the live catalog; True once live if waited."""
        job = _Upsert(platform, list(items))
        self._queue.put(job)
        return job.done.wait(wait_s) if wait_s > 0 else False

    def items_deleted(self, platform: str, item_ids: Iterable[str]) -> None:
        """Take deleted items out of the live catalog at once."""
        with self._lock:
            base = self._bases.get(platform)
            if base is None:
                return
            overlay = self._overlays.get(platform, PlatformOverlay()).copy()
            for item_id in item_ids:
                overlay.entries.pop(item_id, None)
                if item_id in base.item_index:
                    overlay.deleted.add(item_id)
            self._overlays[platform] = overlay
            self.slots.put(platform, compose(base, overlay))

    def _apply_loop(self) -> None:
        while not self._stop.is_set():
            job = self._queue.get()
            if job is None:
                return
            jobs = [job]
            while True:  # take everything queued: one snapshot build for a burst of upserts
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._stop.set()
                    break
                jobs.append(more)
            try:
                self._apply(jobs)
            except Exception:  # keep the applier alive; the next fit picks the items up
                log.exception("applying upserted items failed")
            finally:
                for done in jobs:
                    done.done.set()

    def _apply(self, jobs: list[_Upsert]) -> None:
        by_platform: dict[str, dict[str, Item]] = {}
        for job in jobs:
            for item in job.items:
                by_platform.setdefault(job.platform, {})[item.item_id] = item
        for platform, items_by_id in by_platform.items():
            if platform not in self._bases:
                with contextlib.suppress(NotFittedError):
                    self.engine.fitted(platform)  # loading installs it with the store's items
                continue
            items = list(items_by_id.values())
            vectors = self._encode(items)
            now = time.time()
            with self._lock:
                base = self._bases[platform]
                overlay = self._overlays.get(platform, PlatformOverlay()).copy()
                for item, vector in zip(items, vectors, strict=True):
                    overlay.entries.pop(item.item_id, None)  # a re-upsert moves to the end
                    overlay.entries[item.item_id] = OverlayEntry(item, vector, now)
                    overlay.deleted.discard(item.item_id)
                self._overlays[platform] = overlay
                self.slots.put(platform, compose(base, overlay))

    # -- events ----------------------------------------------------------------------------
    def events_added(self, events: Iterable[Event]) -> None:
        """Move live popularity and pay exploration for events the store accepted."""
        for event in events:
            with self._users_lock:
                key = (event.platform, event.user_id)
                self._recent_users.pop(key, None)
                self._recent_users[key] = None
                while len(self._recent_users) > RECENT_USERS:
                    self._recent_users.popitem(last=False)
            if event.item_id:
                self.counters.add(event.platform, event.item_id, event.type)
                self.bandit.observe(event.platform, event.user_id, event.item_id, event.type)

    def recent_users(self, platform: str) -> list[str]:
        """Users who sent events to this server lately, newest first."""
        with self._users_lock:
            keys = list(self._recent_users)
        return [user for (p, user) in reversed(keys) if p == platform]

    # -- recommend -------------------------------------------------------------------------
    def recommend(
        self,
        user_id: str,
        k: int = 10,
        platform: str | None = None,
        model: str = BLEND,
        exclude_seen: bool | None = None,
    ) -> list[Hit]:
        """The engine's recommendations, adjusted to the live session and explored.

        Only a list that will be re-ordered (a live session, or a shopper with no history
        while live counters run) asks the engine for a deeper candidate pool: building
        hits costs more than scoring, so the common case stays at ``k``.
        """
        fitted = self.engine.fitted(platform)
        settings = self.settings
        deleted = self._deleted_ids(fitted)
        if model != BLEND:
            hits = self.engine.recommend(
                user_id,
                k=k + len(deleted),
                platform=fitted.platform,
                model=model,
                exclude_seen=exclude_seen,
            )
            return hits[:k]
        store = self.engine.store
        recent = store.user_events(fitted.platform, user_id, limit=settings.session_events)
        intent = self.intent(fitted, recent) if settings.session_weight > 0 else None
        hidden: set[str] = set()
        if intent is not None and (
            self.engine.settings.recommend.exclude_seen if exclude_seen is None else exclude_seen
        ):
            history = store.user_events(fitted.platform, user_id, limit=HISTORY_EVENTS)
            hidden = {e.item_id for e in history if e.item_id and EVENT_WEIGHTS.get(e.type, 0) > 0}
        cold = len(recent) < settings.session_events and not any(
            e.item_id and EVENT_WEIGHTS.get(e.type, 0) > 0 for e in recent
        )
        trending = intent is None and cold and len(self.counters) > 0
        pool = max(settings.candidate_pool, 3 * k) if intent is not None or trending else k
        hits = self.engine.recommend(
            user_id,
            k=pool + len(deleted),
            platform=fitted.platform,
            model=model,
            exclude_seen=exclude_seen,
        )
        if intent is not None:
            hits = self._with_intent(fitted, hits, intent, hidden, pool)
        elif trending:
            hits = self._with_trending(fitted, hits, pool)
        hits = hits[:k]
        slots = min(settings.explore_slots, k // 2)
        if slots:
            touched = {e.item_id for e in recent if e.item_id}
            hits = self._explore(fitted, user_id, hits, k, slots, hidden | touched)
        return hits

    def intent(self, fitted: FittedPlatform, events: Sequence[Event]) -> SessionIntent | None:
        return session_intent(
            events,
            fitted.item_index,
            fitted.embeddings,
            gap_s=self.settings.session_gap_s,
            dwell_reference_s=self.settings.dwell_reference_s,
            max_events=self.settings.session_events,
        )

    def _deleted_ids(self, fitted: FittedPlatform) -> set[str]:
        overlay = self._overlays.get(fitted.platform)
        return overlay.deleted if overlay else set()  # replaced, never changed in place

    def _with_intent(
        self,
        fitted: FittedPlatform,
        hits: list[Hit],
        intent: SessionIntent,
        hidden: set[str],
        pool: int,
    ) -> list[Hit]:
        """Fuse the model ranking with a ranking by closeness to the session's intent."""
        scores, rows = fitted.vector_index.search(intent.vector[None, :], pool)
        blocked = hidden | self._deleted_ids(fitted)
        ids = fitted.catalog.item_ids
        close = [
            (ids[r], float(s))
            for r, s in zip(rows[0].tolist(), scores[0].tolist(), strict=True)
            if r >= 0 and ids[r] not in blocked
        ]
        weight = self.settings.session_weight * intent.strength
        session_ids = [ids[r] for r in intent.rows[:5]]
        titles = {
            i: item.title
            for i, item in self.engine.store.get_items(fitted.platform, session_ids).items()
        }

        def reason(item_id: str) -> str:
            row = fitted.item_index[item_id]
            nearest = int(np.argmax(fitted.embeddings[intent.rows[:5]] @ fitted.embeddings[row]))
            return f"matches what you are looking at now: {titles.get(session_ids[nearest], '?')}"

        return self._fuse(fitted, hits, close, "session", weight, reason)

    def _with_trending(self, fitted: FittedPlatform, hits: list[Hit], pool: int) -> list[Hit]:
        """For a user with no history: fitted popularity fused with live popularity."""
        deleted = self._deleted_ids(fitted)
        hot = [
            (item_id, score)
            for item_id, score in self.counters.top(fitted.platform, pool)
            if item_id in fitted.item_index and item_id not in deleted
        ]
        if not hot:
            return hits
        return self._fuse(fitted, hits, hot, "trending", 1.0, lambda _: "popular right now")

    def _fuse(
        self,
        fitted: FittedPlatform,
        hits: list[Hit],
        ranked: list[tuple[str, float]],
        source: str,
        weight: float,
        reason: Callable[[str], str],
    ) -> list[Hit]:
        have = {hit.item_id for hit in hits}
        missing = [item_id for item_id, _ in ranked if item_id not in have]
        items = self.engine.store.get_items(fitted.platform, missing) if missing else {}
        return fuse(hits, ranked, items, source, weight, reason)

    def _explore(
        self,
        fitted: FittedPlatform,
        user_id: str,
        hits: list[Hit],
        k: int,
        slots: int,
        hidden: set[str],
    ) -> list[Hit]:
        """Give the last ``slots`` places to new or uncertain items chosen by the bandit."""
        listed = {hit.item_id for hit in hits[: k - slots]}
        blocked = listed | hidden | self._deleted_ids(fitted)
        arms = [a for a in self.arms(fitted) if a not in blocked]
        picks = self.bandit.choose(fitted.platform, arms, slots)
        if not picks:
            return hits
        items = self.engine.store.get_items(fitted.platform, [item_id for item_id, _ in picks])
        placed_hits, placed = place_explored(hits, picks, items, set(new_item_ids(fitted)), k)
        self.bandit.shown(fitted.platform, user_id, placed)
        return placed_hits

    def arms(self, fitted: FittedPlatform) -> list[str]:
        """Exploration candidates of a snapshot (computed once per snapshot)."""
        cached = self._arms.get(fitted.platform)
        if cached is not None and cached[0] is fitted:
            return cached[1]
        arms = exploration_arms(fitted, self.settings.explore_cold_max_users)
        self._arms[fitted.platform] = (fitted, arms)
        return arms

    # -- retraining --------------------------------------------------------------------------
    def retrain(self, platform: str | None = None, wait: bool = False) -> RetrainStatus:
        """Start a full fit in the background (one per platform at a time)."""
        platform = self.engine.resolve_platform(platform)
        with self._lock:
            status = self._retrains.get(platform)
            if status is not None and status.state == "running":
                return status
            status = RetrainStatus(state="running", started_at=time.time())
            self._retrains[platform] = status
        thread = threading.Thread(
            target=self._run_retrain, args=(platform, status), name="shoplm-retrain", daemon=True
        )
        thread.start()
        if wait:
            thread.join()
        return status

    def _run_retrain(self, platform: str, status: RetrainStatus) -> None:
        try:
            report = self.engine.fit(platform)  # installs through the slots when done
            status.report = report
            status.state = "done"
        except Exception as error:  # the old fit keeps serving
            log.exception("background retrain of %s failed", platform)
            status.error = f"{type(error).__name__}: {error}"
            status.state = "failed"
        finally:
            status.finished_at = time.time()
            self._last_retrain = status.finished_at

    def retrain_status(self, platform: str | None = None) -> dict[str, Any]:
        platform = self.engine.resolve_platform(platform)
        status = self._retrains.get(platform, RetrainStatus())
        return {"platform": platform, **status.to_dict()}

    def _maintain_loop(self) -> None:
        """Save bandit beliefs, pick up fits made by other processes, run scheduled fits."""
        while not self._stop.wait(1.0):
            try:
                self.bandit.save(min_interval_s=BANDIT_SAVE_INTERVAL_S)
                self._reload_changed_fits()
                interval = self.settings.retrain_interval_s
                if interval and time.time() - self._last_retrain >= interval:
                    self._last_retrain = time.time()
                    for platform in self.engine.store.platforms():
                        self.retrain(platform, wait=True)
            except Exception:
                log.exception("real-time maintenance step failed")

    def _reload_changed_fits(self) -> None:
        for platform in list(self._bases):
            status = self._retrains.get(platform)
            if status is not None and status.state == "running":
                continue
            pointer = self._read_pointer(platform)
            if pointer is not None and pointer != self._pointers.get(platform):
                loaded = FittedPlatform.load(self.engine.home / "platforms" / platform)
                if loaded is not None:
                    log.info(
                        "platform %s was refitted elsewhere: swapping in %s", platform, pointer
                    )
                    self.slots[platform] = loaded

    # -- reporting -------------------------------------------------------------------------
    def overlay_size(self, platform: str) -> dict[str, int]:
        overlay = self._overlays.get(platform, PlatformOverlay())
        return {"items": len(overlay.entries), "deleted": len(overlay.deleted)}

    def status(self) -> dict[str, Any]:
        return {
            "platforms": {
                platform: {
                    "fitted_at": base.fitted_at,
                    "items": self.slots[platform].n_items if platform in self.slots else None,
                    "overlay": self.overlay_size(platform),
                    "retrain": self._retrains.get(platform, RetrainStatus()).to_dict(),
                }
                for platform, base in list(self._bases.items())
            },
            "pending_upserts": self._queue.qsize(),
            "bandit_arms": len(self.bandit),
            "live_counters": len(self.counters),
        }


def bandit_path(home: Path) -> Path:
    return home / "realtime" / "bandit.json"
