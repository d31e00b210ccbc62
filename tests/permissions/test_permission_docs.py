"""docs/permissions.md and the roles of docs/roles/ say exactly what the code's tables say vmshift needs: the
role a security team imports is the one the lab enforces, and the one vmshift checks for."""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass
from pathlib import Path

from vmshift.azure import permissions
from vmshift.azure.permissions import OPERATOR_ROLE, REQUIRED_ACTIONS, SUBSCRIPTION_ROLE, Scope, role_actions
from vmshift.lab.arm.authorization.models import absolute_scope, covers
from vmshift.lab.spec import DEFAULT_SPEC, DOCUMENTED_VCENTER_ROLE, load_spec
from vmshift.migration.access import TargetPlace, azure_scopes
from vmshift.migration.appliance import Appliance
from vmshift.steps import MigrationStep
from vmshift.vsphere.privileges import REQUIRED_PRIVILEGES, ROLE_FILE, ROLE_NAME, role_privileges

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "permissions.md"
# Azure Migrate's published roles and vCenter privileges, the reference the docs compare vmshift with.
AZURE_MIGRATE = json.loads((Path(__file__).with_name("azure_migrate_reference.json")).read_text())


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


def test_the_lab_specs_give_vmshifts_app_the_documented_azure_roles_at_their_scopes_and_nothing_more() -> None:
    """The subscription reader at each subscription of the spec, the operator on each of its resource groups;
    with them the app reaches each scope of docs/permissions.md that a plan on the lab's groups and VNets
    names, the subscription through the reader alone."""
    documented = [json.loads(path.read_text()) for path in sorted((ROOT / "docs" / "roles").glob("azure-*.json"))]
    for path in (DEFAULT_SPEC, ROOT / "tests" / "lab-spec.json"):
        written = json.loads(path.read_text())["azure"]
        subscriptions = [written, *written.get("subscriptions", [])]
        expected = sorted([(SUBSCRIPTION_ROLE.name, f"/subscriptions/{s['subscription_id']}") for s in subscriptions]
                          + [(OPERATOR_ROLE.name, f"/subscriptions/{s['subscription_id']}/resourceGroups/{g['name']}")
                             for s in subscriptions for g in s.get("resource_groups", [])])
        spec = load_spec(path).azure
        granted = sorted((a.role, absolute_scope(spec.subscription_id, a.scope))
                         for a in spec.vmshift_role_assignments())
        assert granted == expected, path
        assert spec.custom_roles == documented, f"{path}: the roles it names are not those of docs/roles/"

        spoke = written["subscriptions"][0]["subscription_id"]
        scopes = azure_scopes(Appliance(), spec.subscription_id, [TargetPlace.of(row) for row in (
            {"target_subscription": spec.subscription_id, "resource_group": "rg-target",
             "target_vnet": "vnet-target", "test_vnet": "vnet-test"},
            {"target_subscription": spoke, "resource_group": "rg-spoke",
             "target_vnet": "vnet-spoke", "test_vnet": "vnet-spoke-test"})])
        assert scopes[Scope.SUBSCRIPTION] == sorted(f"/subscriptions/{s['subscription_id']}" for s in subscriptions)
        for kind, ids in scopes.items():
            for scope_id in ids:
                reaching = {role for role, at in granted if covers(at, scope_id)}
                assert reaching == ({SUBSCRIPTION_ROLE.name} if kind == Scope.SUBSCRIPTION else
                                    {SUBSCRIPTION_ROLE.name, OPERATOR_ROLE.name}), f"{path}: {kind} {scope_id}"


@dataclass(frozen=True)
class ComparisonRow:
    names: tuple[str, ...]  # the actions or privileges of the row, as its first cell writes them in backticks
    azure_migrate: str
    vmshift: str


def comparison(side: str) -> list[ComparisonRow]:
    """The rows of the table under '## {side}' > '### Compared with Azure Migrate'."""
    section = DOC.read_text().split(f"\n## {side}\n", 1)[1].split("\n## ", 1)[0]
    after = section.split("### Compared with Azure Migrate\n", 1)[1]
    lines = after[after.index("\n|") + 1:].split("\n\n", 1)[0].splitlines()[2:]  # past the header
    rows = []
    for line in lines:
        first, azure_migrate, vmshift, *_ = (cell.strip() for cell in line.strip().strip("|").split("|"))
        rows.append(ComparisonRow(tuple(re.findall(r"`([^`]+)`", first)), azure_migrate, vmshift))
    assert rows and all(r.names and r.vmshift in ("yes", "no") for r in rows), \
        f"each row of the {side} comparison names its actions in backticks and says yes or no for vmshift"
    return rows


def documented_azure_actions() -> set[str]:
    return {action for path in (ROOT / "docs" / "roles").glob("azure-*.json")
            for action in json.loads(path.read_text())["Actions"]}


def azure_migrate_roles() -> dict[str, list[permissions.Grant]]:
    return {name: [permissions.Grant(tuple(p["actions"]), tuple(p["notActions"])) for p in role["permissions"]]
            for name, role in AZURE_MIGRATE["azure_roles"].items()}


def test_every_action_of_the_azure_roles_has_a_row_in_the_azure_migrate_comparison() -> None:
    rows = comparison("Azure")
    held = {name for row in rows if row.vmshift == "yes" for name in row.names}
    not_held = {name for row in rows if row.vmshift == "no" for name in row.names}
    documented = documented_azure_actions()
    assert sorted(documented - held) == [], "actions of docs/roles/ without a row in the comparison"
    assert sorted(held - documented) == [], "rows say vmshift holds actions that docs/roles/ does not"
    assert sorted(not_held & documented) == [], "rows say vmshift does without actions docs/roles/ holds"


def test_the_azure_comparison_names_the_azure_migrate_roles_that_hold_each_action_and_notes_all_of_execute_expert(
) -> None:
    roles = azure_migrate_roles()
    rows = comparison("Azure")
    for row in rows:
        said = {name for name in roles if name in row.azure_migrate}
        assert said or row.azure_migrate == "no", row
        for name in row.names:
            assert said == {role for role, grants in roles.items() if permissions.allows(grants, name)}, \
                f"`{name}`: the comparison says {row.azure_migrate!r}"
    ours = documented_azure_actions()
    noted = {name for row in rows if row.vmshift == "no" for name in row.names}
    unnoted = [action for permission in AZURE_MIGRATE["azure_roles"]["Execute Expert"]["permissions"]
               for action in permission["actions"]
               if action not in noted and not any(permissions.action_matches(action, our) for our in ours)]
    assert unnoted == [], "actions of Execute Expert that vmshift does without, with no row saying why"


def test_every_vcenter_privilege_has_a_row_in_the_azure_migrate_comparison_that_says_what_azure_migrate_asks(
) -> None:
    rows = comparison("vCenter")
    held = {name for row in rows if row.vmshift == "yes" for name in row.names}
    not_held = {name for row in rows if row.vmshift == "no" for name in row.names}
    assert sorted(set(role_privileges()) ^ held) == [], "the comparison's vmshift privileges are not the role's"
    assert sorted(not_held & set(role_privileges())) == []
    published = AZURE_MIGRATE["vcenter_privileges"]
    for row in rows:
        for name in row.names:
            asked = any(fnmatch.fnmatchcase(name, privilege) for privilege in published)
            assert row.azure_migrate.startswith("yes" if asked else "no"), \
                f"`{name}`: the comparison says {row.azure_migrate!r}"
    named = {name for row in rows for name in row.names}
    assert [p for p in published if p not in named and not any(fnmatch.fnmatchcase(n, p) for n in held)] == []
