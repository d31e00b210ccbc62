"""The layers' rules hold on the tree, and each breaks, by name, on the wrong import it forbids."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
PACKAGES = ("vmshift", "flows", "tasks", "deployments", "cli")
LINT_IMPORTS = str(Path(sys.executable).parent / "lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    """`lint-imports` on the packages under `root`, with its pyproject.toml's contracts."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([LINT_IMPORTS, "--no-cache", str(root / "pyproject.toml")], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)


def test_the_tree_keeps_every_import_rule() -> None:
    done = lint_imports(PROJECT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


LIBRARY_ALONE = "vmshift/ imports neither Prefect nor flows, tasks, deployments or cli"
LAYERS = "cli → flows → tasks → vmshift: nothing imports a layer above it"
MIGRATION_ON_TOP = "vmshift.migration joins source and target: nothing else in the library imports it"
SIDES_APART = "vmshift.azure and vmshift.vsphere never import each other"
SIDES_WITHOUT_CYCLE = "vmshift.azure and vmshift.vsphere never import replication's cycle"
LAB_APART = "the library does not import the lab (only cli, tests and benches do)"


@pytest.mark.parametrize(("module", "wrong_import", "broken"), [
    ("vmshift/state/store.py", "import prefect", LIBRARY_ALONE),
    ("vmshift/migration/cutover.py", "import flows.cutover", LIBRARY_ALONE),
    ("vmshift/plan/schema.py", "import tasks.retry", LIBRARY_ALONE),
    ("vmshift/replication/mover.py", "import deployments.upload", LIBRARY_ALONE),
    ("vmshift/migration/target.py", "import cli.command", LIBRARY_ALONE),
    ("tasks/hooks.py", "import flows.cutover", LAYERS),
    ("vmshift/plan/validation.py", "import vmshift.migration.target", MIGRATION_ON_TOP),
    ("vmshift/preparation/prepare.py", "import vmshift.migration.cutover", MIGRATION_ON_TOP),
    ("vmshift/azure/disks.py", "import vmshift.vsphere.power", SIDES_APART),
    ("vmshift/vsphere/power.py", "import vmshift.azure.tags", SIDES_APART),
    ("vmshift/azure/vms.py", "import vmshift.replication.cycle", SIDES_WITHOUT_CYCLE),
    ("vmshift/replication/verify.py", "import vmshift.lab.guest", LAB_APART),
])
def test_a_wrong_import_breaks_the_rule_that_forbids_it(tmp_path: Path, module: str, wrong_import: str,
                                                        broken: str) -> None:
    for package in PACKAGES:
        shutil.copytree(PROJECT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__", "*.go"))
    shutil.copy(PROJECT / "pyproject.toml", tmp_path)
    target = tmp_path / module
    target.write_text(target.read_text() + f"\n{wrong_import}  # deliberately wrong\n")

    done = lint_imports(tmp_path)

    report = " ".join(done.stdout.split())  # long contract names are wrapped
    assert done.returncode == 1, report + done.stderr
    assert f"{broken} BROKEN" in report, report
