package main

import (
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// snapshotDisk is what a snapshot froze of one disk: the layer its backing
// names, the CBT epoch and identity of its changeId, and the disk's size.
type snapshotDisk struct {
	layer    int
	epoch    int64
	cbt      CBT
	capacity int64
}

// Snapshot wraps the simulator's VirtualMachineSnapshot; removing it
// consolidates the redo logs it started.
type Snapshot struct {
	simulator.VirtualMachineSnapshot
	vm    *VM
	tree  types.VirtualMachineSnapshotTree
	disks map[int32]snapshotDisk
}

// RemoveSnapshotTask consolidates this snapshot (and, with removeChildren,
// the ones after it) into the layers below.
func (s *Snapshot) RemoveSnapshotTask(ctx *simulator.Context, req *types.RemoveSnapshot_Task) soap.HasFault {
	vm := s.vm
	// The task's entity is the VM, as on vCenter (TaskInfo.entity must be a
	// ManagedEntity, which a snapshot is not; pyvmomi refuses it otherwise).
	task := simulator.CreateTask(vm, "removeSnapshot", func(t *simulator.Task) (types.AnyType, types.BaseMethodFault) {
		var fault types.BaseMethodFault
		simulator.Map.WithLock(vm, func() {
			vm.lab.mu.Lock()
			defer vm.lab.mu.Unlock()
			index := -1
			for i, snap := range vm.state.snapshots {
				if snap == s {
					index = i
				}
			}
			if index < 0 {
				fault = &types.ManagedObjectNotFound{Obj: s.Self}
				return
			}
			if req.RemoveChildren {
				for len(vm.state.snapshots) > index+1 && fault == nil {
					fault = vm.removeSnapshot(len(vm.state.snapshots) - 1)
				}
			}
			if fault == nil {
				fault = vm.removeSnapshot(index)
			}
			if fault == nil {
				fault = vm.save()
			}
		})
		return nil, fault
	})
	return &methods.RemoveSnapshot_TaskBody{Res: &types.RemoveSnapshot_TaskResponse{Returnval: task.Run()}}
}

// RevertToSnapshotTask is refused: the lab keeps one linear chain of redo
// logs, and vmshift never reverts a source VM.
func (s *Snapshot) RevertToSnapshotTask(req *types.RevertToSnapshot_Task) soap.HasFault {
	return &methods.RevertToSnapshot_TaskBody{Fault_: simulator.Fault("revert is not supported by the vmshift lab", &types.NotSupported{})}
}
