"""The vcsim extension's own Go tests (vmshift/lab/vcsim/*_test.go), run as the extension is built:
GOPATH mode over Debian's govmomi source, with the build cache of the lab's vCenter."""

from __future__ import annotations

import shutil
import subprocess

from vmshift.lab import vcsim_build


def test_the_vcsim_extensions_go_tests_pass():
    go = shutil.which("go")
    assert go, "the Go compiler is missing: install golang-go (make setup does it)"
    result = subprocess.run([go, "test", "-count=1", "."], cwd=vcsim_build.SOURCE_DIR,
                            env=vcsim_build.go_environment(vcsim_build.DEFAULT_CACHE),
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"go test in {vcsim_build.SOURCE_DIR} failed:\n{result.stdout}{result.stderr}"
