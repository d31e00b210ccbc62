"""Background processes of the lab: started detached, tracked by PID file, stopped by PID."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


class PartFailed(RuntimeError):
    """A lab part did not come up; the message names it and quotes its log."""


@dataclass(frozen=True)
class PartProcess:
    name: str
    pid_file: Path
    log_file: Path

    def pid(self) -> int | None:
        """The PID if its process still runs the command we started; stale PID files are removed."""
        try:
            recorded = json.loads(self.pid_file.read_text())
        except (FileNotFoundError, ValueError):
            return None
        pid = recorded.get("pid")
        if isinstance(pid, int) and _alive(pid) and _start_time(pid) == recorded.get("start_time"):
            return pid
        self.pid_file.unlink(missing_ok=True)
        return None

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log written)"
        return "\n".join(text.splitlines()[-lines:])


def start(
    part: PartProcess, argv: Sequence[str], env: Mapping[str, str], cwd: Path | None = None
) -> int:
    """Start `argv` in its own session so that it outlives the command that started the lab."""
    part.log_file.parent.mkdir(parents=True, exist_ok=True)
    part.pid_file.parent.mkdir(parents=True, exist_ok=True)
    with part.log_file.open("ab") as log:
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
            cwd=cwd,
            start_new_session=True,
        )
    # The start time tells our process from a later one that reuses its PID.
    part.pid_file.write_text(json.dumps({"pid": process.pid, "start_time": _start_time(process.pid)}))
    return process.pid


def stop(part: PartProcess, grace_s: float = 5.0) -> bool:
    """Stop the part's process group; True if something was running."""
    pid = part.pid()
    if pid is None:
        return False
    _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.1)
    if _alive(pid):
        _signal_group(pid, signal.SIGKILL)
    part.pid_file.unlink(missing_ok=True)
    return True


def interrupt(child: subprocess.Popen, grace_s: float) -> None:
    """Stop a child started in a session of its own as Ctrl-C would (SIGINT to its process group), killing the
    group if it has not ended after `grace_s`: a worker or an appliance, which finish their runs' bookkeeping."""
    if child.poll() is not None:
        return
    _signal_group(child.pid, signal.SIGINT)
    try:
        child.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        _signal_group(child.pid, signal.SIGKILL)
        child.wait()


def wait_ready_file(part: PartProcess, ready_file: Path, timeout_s: float) -> dict:
    """Wait until the part writes its ready file; fail with its log if it dies or takes too long."""
    wait_until(part, ready_file.exists, timeout_s)
    return json.loads(ready_file.read_text())


def wait_until(part: PartProcess, ready: Callable[[], bool], timeout_s: float) -> None:
    """Wait until `ready()`; a part that exits or takes too long is named with the last lines of its log."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        if part.pid() is None:
            raise PartFailed(f"lab part {part.name} exited while starting; last lines of {part.log_file}:\n"
                             f"{part.log_tail()}")
        if time.monotonic() > deadline:
            raise PartFailed(f"lab part {part.name} was not ready after {timeout_s:.0f} s; last lines of "
                             f"{part.log_file}:\n{part.log_tail()}")
        time.sleep(0.1)


def _start_time(pid: int) -> int | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, IndexError):
        return None
    return int(fields[19])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


def port_free(port: int) -> bool:
    """Nothing listens on this loopback port now (one a server just left in TIME_WAIT counts as free: servers
    such as PostgreSQL bind with SO_REUSEADDR)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port() -> int:
    """A loopback port free now, for a part to listen on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def kept_secret(path: Path, prefix: str = "") -> str:
    """A random secret made once per lab folder (so that restarted parts keep accepting it), readable by its
    owner only from the moment it exists."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
            file.write(prefix + secrets.token_urlsafe(24))
    return path.read_text().strip()
