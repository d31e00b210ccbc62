"""Waiting on vCenter tasks."""

from __future__ import annotations

from pyVim.task import WaitForTask
from pyVmomi import vim, vmodl

from vmshift.vsphere.connection import VSphereSession
from vmshift.vsphere.privileges import ROLE_FILE, ROLE_NAME


def wait_for_task(session: VSphereSession, task: vim.Task) -> object:
    """Block until the task ends; its vSphere fault is raised as pyvmomi raises it."""
    WaitForTask(task, si=session.service_instance)
    return task.info.result


def fault_text(fault: vmodl.MethodFault) -> str:
    """A fault's message, or its type when vCenter sent none; a NoPermission names the privilege, the object
    and the role that grants it, which vCenter's own message does not."""
    text = getattr(fault, "msg", None) or type(fault).__name__
    if isinstance(fault, vim.fault.NoPermission):
        target = fault.object
        where = f" on {type(target).__name__.rsplit('.', 1)[-1]} {target._moId}" if target is not None else ""
        text = (f"{text} The user lacks privilege {fault.privilegeId}{where}; the vCenter role '{ROLE_NAME}' "
                f"({ROLE_FILE}) grants it")
    return text
