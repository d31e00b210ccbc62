"""A plan row naming its appliance (issue 16): checked against the appliances the Prefect server knows, each with
the vCenters it serves, when they are known (`vmshift plan upload`); a row-level error names the row, the VM and
the appliance."""

from __future__ import annotations

KNOWN = {"appliance-a": {"vcenter-a.lab.local"}, "appliance-b": {"vcenter-b.lab.local"}}


def test_a_row_naming_an_appliance_of_its_vcenter_is_valid(validate_example):
    result = validate_example({3: {"vcenter": "vcenter-a.lab.local", "appliance": "appliance-a"}}, appliances=KNOWN)

    assert result.ok, result.errors
    vm = next(vm for wave in result.plan.waves for vm in wave.vms if vm.row == 3)
    assert (vm.source_vm, vm.appliance) == ("web-rhel-02", "appliance-a")


def test_a_row_naming_an_appliance_no_server_knows_is_refused_naming_row_vm_and_appliance(validate_example):
    result = validate_example({3: {"appliance": "appliance-z"}}, appliances=KNOWN)

    assert [(error.row, error.column) for error in result.errors] == [(3, "appliance")]
    message = result.errors[0].message
    assert "web-rhel-02" in message and "'appliance-z'" in message and "appliance-a, appliance-b" in message


def test_a_row_naming_an_appliance_of_another_vcenter_is_refused(validate_example):
    result = validate_example({3: {"vcenter": "vcenter-a.lab.local", "appliance": "appliance-b"}}, appliances=KNOWN)

    assert [(error.row, error.column) for error in result.errors] == [(3, "appliance")]
    assert "web-rhel-02" in result.errors[0].message and "does not serve its vCenter vcenter-a.lab.local" in \
        result.errors[0].message


def test_without_known_appliances_only_the_name_is_checked(validate_example):
    assert validate_example({3: {"appliance": "appliance-z"}}).ok
