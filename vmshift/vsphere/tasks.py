"""Waiting on vCenter tasks."""

from __future__ import annotations

from pyVim.task import WaitForTask
from pyVmomi import vim, vmodl

from vmshift.vsphere.connection import VSphereSession


def wait_for_task(session: VSphereSession, task: vim.Task) -> object:
    """Block until the task ends; its vSphere fault is raised as pyvmomi raises it."""
    WaitForTask(task, si=session.service_instance)
    return task.info.result


def fault_text(fault: vmodl.MethodFault) -> str:
    """A fault's message, or its type when vCenter sent none."""
    return getattr(fault, "msg", None) or type(fault).__name__
