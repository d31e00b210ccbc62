"""The Linux rules' pure parts: the kernel command line Azure wants per family, DHCP for ifupdown, the rule table."""

from __future__ import annotations

import pytest

from vmshift.preparation.linux_rules import azure_command_line, dhcp_interfaces
from vmshift.preparation.rules import RULES, rules_for


def test_the_command_line_gets_the_serial_console_and_loses_the_graphical_quiet_boot() -> None:
    line = azure_command_line("root=UUID=abc ro crashkernel=auto rhgb quiet console=tty0", "debian")
    assert line == "root=UUID=abc ro console=tty1 console=ttyS0,115200n8 earlyprintk=ttyS0,115200"


def test_rootdelay_is_added_for_dracut_guests_only_and_never_twice() -> None:
    assert azure_command_line("ro rootdelay=30", "redhat").split().count("rootdelay=300") == 1
    assert "rootdelay" not in azure_command_line("ro rootdelay=30", "debian")


def test_ifupdown_interfaces_keep_loopback_and_get_eth0_by_dhcp() -> None:
    text = ("source /etc/network/interfaces.d/*\n\nauto lo\niface lo inet loopback\n\nallow-hotplug ens192\n"
            "iface ens192 inet static\n    address 10.0.12.41/24\n    gateway 10.0.12.1\n")
    assert dhcp_interfaces(text) == ("source /etc/network/interfaces.d/*\n\nauto lo\niface lo inet loopback\n\n"
                                     "allow-hotplug eth0\niface eth0 inet dhcp\n")


def test_rules_are_named_once_per_os_and_a_skip_of_an_unknown_rule_is_refused() -> None:
    for os_type in ("linux", "windows"):
        names = [r.name for r in rules_for(os_type)]
        assert len(names) == len(set(names)) and names
    assert all(rule.anchors for rule in RULES)
    assert "fstab-by-uuid" not in [r.name for r in rules_for("linux", frozenset({"fstab-by-uuid"}))]
    with pytest.raises(ValueError, match="unknown preparation rules \\['fstab'\\]"):
        rules_for("linux", frozenset({"fstab"}))
