"""Real time: live items over the fit, session intent, live popularity, exploration, retrains.

``Realtime(engine, settings)`` wraps an ``Engine`` for a long-running server; the pieces
(overlay, session, bandit, popularity) are plain classes and functions tested on their own.
"""

from shoplm.realtime.bandit import ThompsonBandit
from shoplm.realtime.overlay import OverlayEntry, PlatformOverlay, compose
from shoplm.realtime.popularity import DecayedCounters
from shoplm.realtime.service import Realtime, RetrainStatus
from shoplm.realtime.session import SessionIntent, current_session, session_intent
from shoplm.realtime.settings import RealtimeSettings

__all__ = [
    "DecayedCounters",
    "OverlayEntry",
    "PlatformOverlay",
    "Realtime",
    "RealtimeSettings",
    "RetrainStatus",
    "SessionIntent",
    "ThompsonBandit",
    "compose",
    "current_session",
    "session_intent",
]
