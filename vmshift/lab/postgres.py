"""The database of the lab's Prefect server: PostgreSQL from Debian's package, a cluster of its own in the lab folder.

Not SQLite: it takes one writer at a time, and a wave's per-VM subflows write at once. Measured here, 200
concurrent subflows on SQLite fail with 503 (`database is locked`); on PostgreSQL they cost ~0.08 s a VM.
Prefect recommends PostgreSQL for any server that runs real work, so the lab runs what a team would.

PostgreSQL refuses to run as root. As root, the server runs in a user namespace that maps root to an
unprivileged id: it then owns the lab folder as root does, wherever that folder is.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from pathlib import Path

import asyncpg

from vmshift.lab import process
from vmshift.lab.process import PartFailed, PartProcess

DATABASE = "prefect"
USER = "prefect"
READY_TIMEOUT_S = 60.0
UNPRIVILEGED_ID = "1000"


def start_postgres(folder: Path, part: PartProcess) -> dict:
    """Create the cluster once, start it (if it is not running), create Prefect's database; the lab.json entry.

    The password stays in the lab folder: only the Prefect server needs it (`database_url`).
    """
    home = folder / "postgres"
    home.mkdir(parents=True, exist_ok=True)
    password = _password(home)
    port_file = home / "port"
    if part.pid() is None:
        data = home / "data"
        if not (data / "PG_VERSION").exists():
            _initdb(data, home / "password", part)
        # A restart keeps its port while it is free: the running Prefect server's database URL names it.
        port = int(port_file.read_text()) if port_file.exists() else 0
        if not port or not process.port_free(port):
            port = process.free_port()
        port_file.write_text(str(port))
        process.start(
            part,
            [*_as_unprivileged(), str(_binary("postgres")), "-D", str(data), "-p", str(port),
             "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c", "max_connections=200"],
            {},
        )
    entry = {"host": "127.0.0.1", "port": int(port_file.read_text()), "database": DATABASE, "user": USER}
    process.wait_until(part, lambda: _create_database(entry, password), READY_TIMEOUT_S)
    return entry | {"healthy": True}


def database_url(folder: Path, entry: dict) -> str:
    """The SQLAlchemy URL the Prefect server connects with (it carries the password: environment only)."""
    password = _password(folder / "postgres")
    return f"postgresql+asyncpg://{entry['user']}:{password}@{entry['host']}:{entry['port']}/{entry['database']}"


def postgres_healthy(folder: Path, entry: dict) -> bool:
    return asyncio.run(_answers(entry, _password(folder / "postgres"), entry["database"]))


def _initdb(data: Path, password_file: Path, part: PartProcess) -> None:
    shutil.rmtree(data, ignore_errors=True)  # a cluster a killed initdb left half-made
    done = subprocess.run(
        [*_as_unprivileged(), str(_binary("initdb")), "-D", str(data), "-U", USER, "--auth=scram-sha-256",
         f"--pwfile={password_file}", "--encoding=UTF8", "--no-instructions"],
        capture_output=True, text=True, check=False,
    )
    if done.returncode:
        raise PartFailed(f"lab part {part.name}: initdb of {data} failed:\n{(done.stdout + done.stderr)[-2000:]}")


def _create_database(entry: dict, password: str) -> bool:
    """True once the server answers and Prefect's database exists."""
    return asyncio.run(_answers(entry, password, "postgres", create=entry["database"]))


async def _answers(entry: dict, password: str, database: str, create: str | None = None) -> bool:
    try:
        connection = await asyncpg.connect(host=entry["host"], port=entry["port"], user=entry["user"],
                                           password=password, database=database, timeout=5)
    except (TimeoutError, OSError, asyncpg.PostgresError):
        return False
    try:
        if create and not await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", create):
            await connection.execute(f'CREATE DATABASE "{create}"')
        return True
    finally:
        await connection.close()


def _as_unprivileged() -> list[str]:
    """The prefix that runs PostgreSQL as an unprivileged id when we are root (it refuses root)."""
    if os.geteuid() != 0:
        return []
    unshare = shutil.which("unshare")
    if unshare is None:
        raise PartFailed("lab part postgres: PostgreSQL refuses to run as root and `unshare` (util-linux) is "
                         "missing; install util-linux or run the lab as an unprivileged user")
    return [unshare, "--user", f"--map-user={UNPRIVILEGED_ID}", f"--map-group={UNPRIVILEGED_ID}"]


def _binary(name: str) -> Path:
    """The newest PostgreSQL of Debian's packages (`/usr/lib/postgresql/<major>/bin`)."""
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), key=lambda p: int(p.parts[-3]))
    if not found:
        raise PartFailed(f"lab part postgres: no {name} under /usr/lib/postgresql; install Debian's package "
                         "`postgresql` (`make setup` does)")
    return found[-1]


def _password(home: Path) -> str:
    return process.kept_secret(home / "password")
