"""docs/permissions.md and the roles of docs/roles/ say exactly what the code's tables say vmshift needs: the
role a security team imports is the one the lab enforces, and the one vmshift checks for."""

from __future__ import annotations

import json
import re
from pathlib import Path

from vmshift.azure.permissions import OPERATOR_ROLE, REQUIRED_ACTIONS, SUBSCRIPTION_ROLE, Scope, role_actions
from vmshift.lab.spec import DOCUMENTED_VCENTER_ROLE, load_spec
from vmshift.steps import MigrationStep
from vmshift.vsphere.privileges import REQUIRED_PRIVILEGES, ROLE_FILE, ROLE_NAME, role_privileges

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "permissions.md"


def _steps(steps: frozenset[MigrationStep]) -> str:
    return ", ".join(step for step in MigrationStep if step in steps)


def vcenter_table() -> str:
    rows = ["| Privilege | Checked on | Steps | What vmshift calls |", "| --- | --- | --- | --- |"]
    rows += [f"| `{r.privilege}` | each {r.on} | {_steps(r.steps)} | {r.calls} |" for r in REQUIRED_PRIVILEGES]
    return "\n".join(rows)


def azure_table() -> str:
    rows = ["| Action | Scope | Steps | What vmshift calls |", "| --- | --- | --- | --- |"]
    order = list(Scope)
    for r in sorted(REQUIRED_ACTIONS, key=lambda r: (order.index(r.scope), r.action)):
        when = f" (only when the plan names a{'n' if r.only_when[0] in 'aeiou' else ''} {r.only_when})" \
            if r.only_when else ""
        rows.append(f"| `{r.action}` | {r.scope} | {_steps(r.steps)} | {r.calls}{when} |")
    return "\n".join(rows)


def generated(name: str) -> str:
    found = re.search(rf"<!-- generated: {name} -->\n(.*?)\n<!-- end: {name} -->", DOC.read_text(), re.S)
    assert found, f"docs/permissions.md has no '<!-- generated: {name} -->' ... '<!-- end: {name} -->' block"
    return found.group(1)


def test_the_docs_vcenter_table_is_the_code_table() -> None:
    assert generated("vcenter-privileges") == vcenter_table(), "paste this table into docs/permissions.md:\n" + \
        vcenter_table()


def test_the_docs_azure_table_is_the_code_table() -> None:
    assert generated("azure-actions") == azure_table(), "paste this table into docs/permissions.md:\n" + \
        azure_table()


def test_the_vcenter_role_file_holds_every_privilege_of_the_table_and_nothing_more() -> None:
    role = json.loads((ROOT / ROLE_FILE).read_text())
    assert role["name"] == ROLE_NAME
    assert role["privileges"] == role_privileges()
    assert DOCUMENTED_VCENTER_ROLE == ROOT / ROLE_FILE


def test_each_azure_role_file_holds_the_actions_of_its_scopes_and_nothing_more() -> None:
    for role in (OPERATOR_ROLE, SUBSCRIPTION_ROLE):
        definition = json.loads((ROOT / role.file).read_text())
        assert definition["Name"] == role.name and definition["IsCustom"] is True
        assert definition["Actions"] == role_actions(role)
        assert definition["NotActions"] == definition["DataActions"] == definition["NotDataActions"] == []
        assert definition["AssignableScopes"], "az role definition create needs at least one assignable scope"
    assert {r.action for r in REQUIRED_ACTIONS} == set(role_actions(OPERATOR_ROLE)) | set(
        role_actions(SUBSCRIPTION_ROLE))


def test_the_lab_vcenter_user_holds_the_documented_role_unless_the_spec_says_otherwise() -> None:
    for spec in (load_spec(), load_spec(ROOT / "tests" / "lab-spec.json")):
        assert spec.vcenter.role.name == ROLE_NAME
        assert spec.vcenter.role.privileges == role_privileges()
