"""API keys: minted once, stored only as hashes, checked per request.

A key looks like ``slm_<id>_<secret>``.  The home's ``api_keys.json`` keeps the id, a name,
a scope and ``sha256(salt + secret)``; the secret itself is shown once, at creation, and
never stored or logged.  The secret is 256 random bits, so a fast hash is enough (a slow
password hash guards guessable secrets, which these are not) and checking stays cheap.

Scopes nest: ``read`` < ``write`` (items, events) < ``admin`` (retrain, metrics if keyed).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from shoplm.folders import write_text_whole

KEYS_FILE = "api_keys.json"
SCOPES = ("read", "write", "admin")
PREFIX = "slm"
FORMAT = 1


@dataclass(frozen=True)
class ApiKey:
    """One stored key, without its secret."""

    id: str
    name: str
    scope: str
    salt: str
    hash: str
    created_at: float

    def allows(self, scope: str) -> bool:
        return SCOPES.index(self.scope) >= SCOPES.index(scope)

    def public(self) -> dict:
        return {
            "id": self.id,
            "name": self.name,
            "scope": self.scope,
            "created_at": self.created_at,
        }


def _digest(salt: str, secret: str) -> str:
    return hashlib.sha256(f"{salt}{secret}".encode()).hexdigest()


class KeyStore:
    """The keys of one home; re-reads the file when it changes (keys made while serving)."""

    def __init__(self, home: Path) -> None:
        self.path = Path(home) / KEYS_FILE
        self._keys: dict[str, ApiKey] = {}
        self._mtime: float | None = None
        self._lock = threading.Lock()
        self._reload(force=True)

    def _reload(self, force: bool = False) -> None:
        """Re-read the file if it changed (a stat per call: microseconds)."""
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            self._keys, self._mtime = {}, None
            return
        if mtime == self._mtime and not force:
            return
        try:
            data = json.loads(self.path.read_text())
            keys = {row["id"]: ApiKey(**row) for row in data["keys"]}
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise ValueError(f"{self.path} is not a valid API key file: {error}") from None
        self._keys, self._mtime = keys, mtime

    def _write(self) -> None:
        payload = {"format": FORMAT, "keys": [asdict(k) for k in self._keys.values()]}
        write_text_whole(self.path, json.dumps(payload, indent=2), mode=0o600)
        self._mtime = self.path.stat().st_mtime

    def create(self, name: str, scope: str = "write") -> tuple[str, ApiKey]:
        """Mint a key; returns the full key (show it once) and its stored record."""
        if scope not in SCOPES:
            raise ValueError(f"scope must be one of {SCOPES}, got {scope!r}")
        with self._lock:
            self._reload(force=True)
            key_id = secrets.token_hex(4)
            while key_id in self._keys:
                key_id = secrets.token_hex(4)
            secret = secrets.token_urlsafe(32)
            salt = secrets.token_hex(8)
            record = ApiKey(key_id, name, scope, salt, _digest(salt, secret), time.time())
            self._keys[key_id] = record
            self._write()
        return f"{PREFIX}_{key_id}_{secret}", record

    def revoke(self, key_id: str) -> bool:
        with self._lock:
            self._reload(force=True)
            if self._keys.pop(key_id, None) is None:
                return False
            self._write()
            return True

    def list(self) -> list[ApiKey]:
        with self._lock:
            self._reload(force=True)
            return sorted(self._keys.values(), key=lambda k: k.created_at)

    def verify(self, key: str) -> ApiKey | None:
        """The stored record of a presented key, or None if it is not a valid key."""
        prefix, _, rest = key.partition("_")
        key_id, _, secret = rest.partition("_")
        if prefix != PREFIX or not key_id or not secret:
            return None
        with self._lock:
            self._reload()
            record = self._keys.get(key_id)
        if record is None:
            return None
        return record if hmac.compare_digest(record.hash, _digest(record.salt, secret)) else None
