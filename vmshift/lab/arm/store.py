"""ARM state in SQLite in the lab folder, so a restarted simulator forgets nothing.

Resources are kept as the JSON Azure returns, keyed by their lower-cased ID because ARM
matches IDs case-insensitively; operations and disk access grants live beside them.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

RESOURCE = "resource"
OPERATION = "operation"
GRANT = "grant"


class Store:
    """JSON documents by kind and key; one connection shared by the HTTP loop and the DNS threads."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS documents ("
            " kind TEXT NOT NULL, key TEXT NOT NULL, type TEXT NOT NULL DEFAULT '', body TEXT NOT NULL,"
            " PRIMARY KEY (kind, key))"
        )

    def get(self, resource_id: str, kind: str = RESOURCE) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT body FROM documents WHERE kind = ? AND key = ?", (kind, resource_id.lower())
            ).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, resource_id: str, body: dict[str, Any], kind: str = RESOURCE) -> None:
        resource_type = str(body.get("type", "")).lower()
        with self._lock:
            self._db.execute(
                "INSERT INTO documents (kind, key, type, body) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (kind, key) DO UPDATE SET type = excluded.type, body = excluded.body",
                (kind, resource_id.lower(), resource_type, json.dumps(body)),
            )

    def delete(self, resource_id: str, kind: str = RESOURCE) -> bool:
        with self._lock:
            cursor = self._db.execute(
                "DELETE FROM documents WHERE kind = ? AND key = ?", (kind, resource_id.lower())
            )
        return cursor.rowcount > 0

    def delete_under(self, scope: str) -> None:
        """Remove every resource inside a scope (a resource group being deleted)."""
        prefix = scope.lower().rstrip("/") + "/"
        with self._lock:
            self._db.execute(
                "DELETE FROM documents WHERE kind = ? AND substr(key, 1, ?) = ?",
                (RESOURCE, len(prefix), prefix),
            )

    def tracked(self, scope: str) -> list[dict[str, Any]]:
        """Every resource inside a scope that has a location, in creation order: ARM's tracked resources, child
        ones too (a private DNS zone's virtual network links); proxy resources (subnets, record sets, zone groups,
        role assignments) have none."""
        prefix = scope.lower().rstrip("/") + "/"
        with self._lock:
            rows = self._db.execute(
                "SELECT body FROM documents WHERE kind = ? AND substr(key, 1, ?) = ? ORDER BY rowid",
                (RESOURCE, len(prefix), prefix),
            ).fetchall()
        return [body for body in (json.loads(r[0]) for r in rows) if body.get("location")]

    def list(self, resource_type: str, scope: str = "/") -> list[dict[str, Any]]:
        """Resources of one type whose ID starts with scope, in creation order."""
        prefix = scope.lower().rstrip("/") + "/"
        with self._lock:
            rows = self._db.execute(
                "SELECT body FROM documents WHERE kind = ? AND type = ? AND substr(key, 1, ?) = ?"
                " ORDER BY rowid",
                (RESOURCE, resource_type.lower(), len(prefix), prefix),
            ).fetchall()
        return [json.loads(r[0]) for r in rows]
