"""Builds the lab's vCenter (govmomi's simulator + our extension) once per source change.

Debian ships govmomi 0.24 as Go source under /usr/share/gocode; it builds in GOPATH
mode, so the binary is keyed by a hash of our Go sources and the Go version and kept
in the cache folder: `make test` on an unchanged tree does not compile again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SOURCE_DIR = Path(__file__).parent / "vcsim"
SYSTEM_GOPATH = Path("/usr/share/gocode")
BINARY_NAME = "vcsim-vmshift"
DEFAULT_CACHE = Path(__file__).resolve().parents[2] / ".cache"


class VcsimBuildError(RuntimeError):
    """The lab's vCenter could not be built; the message carries what the Go toolchain said."""


class VcsimStartFailed(RuntimeError):
    """The lab's vCenter exited or wrote no ready file; the message carries its log's last lines."""


def build_vcsim(cache_dir: Path) -> Path:
    """Return the path of the vcsim binary for the current sources, compiling it only if missing."""
    go = shutil.which("go")
    if go is None:
        raise VcsimBuildError("the Go compiler is missing: install golang-go (make setup does it)")
    if not (SYSTEM_GOPATH / "src/github.com/vmware/govmomi/simulator").is_dir():
        raise VcsimBuildError(
            f"govmomi sources are missing under {SYSTEM_GOPATH}: install golang-github-vmware-govmomi-dev"
        )
    version = subprocess.run([go, "version"], capture_output=True, text=True, check=True).stdout.strip()
    target = cache_dir / "vcsim" / _source_hash(version) / BINARY_NAME
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{BINARY_NAME}.{os.getpid()}.partial")
    result = subprocess.run(
        [go, "build", "-o", str(partial), "."], cwd=SOURCE_DIR, env=go_environment(cache_dir), capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        raise VcsimBuildError(f"go build of {SOURCE_DIR} failed ({version}):\n{result.stdout}{result.stderr}")
    partial.replace(target)  # atomic: a concurrent build never sees half a binary
    return target


def go_environment(cache_dir: Path) -> dict[str, str]:
    """How the extension builds (and its Go tests run): GOPATH mode over Debian's govmomi source."""
    return {
        **os.environ,
        "GO111MODULE": "off",
        "GOPATH": f"{cache_dir / 'gopath'}:{SYSTEM_GOPATH}",
        "GOCACHE": str(cache_dir / "gocache"),
        "GOFLAGS": "",
    }


@contextmanager
def running_vcsim(binary: Path, spec_file: Path, cert_file: Path, key_file: Path, state_dir: Path,
                  password: str, timeout_s: float = 60) -> Iterator[dict]:
    """Run one vcsim in the foreground of a with-block and yield its ready-file JSON: for tests that need a
    vCenter of their own (to restart it, say). The lab launcher runs the shared one in the background."""
    state_dir.mkdir(parents=True, exist_ok=True)
    ready_file = state_dir / "ready.json"
    ready_file.unlink(missing_ok=True)
    log_file = state_dir / "vcsim.log"
    with log_file.open("ab") as log:
        process = subprocess.Popen(
            [str(binary), "-spec", str(spec_file), "-listen", "127.0.0.1:0", "-tls-cert", str(cert_file),
             "-tls-key", str(key_file), "-state-dir", str(state_dir), "-ready-file", str(ready_file)],
            env={**os.environ, "VMSHIFT_VCSIM_PASSWORD": password}, stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + timeout_s
        while not ready_file.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log_file.read_text(errors="replace").splitlines()[-15:]
                raise VcsimStartFailed("vcsim did not come up:\n" + "\n".join(tail))
            time.sleep(0.1)
        yield json.loads(ready_file.read_text())
    finally:
        process.terminate()
        process.wait(timeout=30)


def _source_hash(go_version: str) -> str:
    digest = hashlib.sha256(go_version.encode())
    # Go tests are not in the binary: changing one builds nothing again.
    for source in sorted(p for p in SOURCE_DIR.glob("*.go") if not p.name.endswith("_test.go")):
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    return digest.hexdigest()[:16]


def main() -> None:
    """`python -m vmshift.lab.vcsim_build [CACHE_DIR]` prints the binary's path."""
    cache_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_CACHE
    try:
        print(build_vcsim(cache_dir))
    except VcsimBuildError as error:
        sys.exit(str(error))


if __name__ == "__main__":
    main()
