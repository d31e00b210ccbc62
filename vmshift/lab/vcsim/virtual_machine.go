package main

import (
	"fmt"
	"log"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

const (
	// maxChangedExtents and maxChangedSpan bound one QueryChangedDiskAreas
	// answer, so callers must page with startOffset as they must on vCenter,
	// which also answers long disks in several DiskChangeInfo pieces.
	maxChangedExtents = 1000
	maxChangedSpan    = 16 << 20

	// guestShutdownDelay is how long a guest OS takes to shut down after
	// ShutdownGuest, which returns at once on vSphere.
	guestShutdownDelay = 1500 * time.Millisecond
)

// VM wraps the simulator's VirtualMachine with disks that hold data, redo
// logs and Changed Block Tracking; methods are named after the SOAP methods.
// The simulator is embedded by value: its property collector finds the
// managed object by walking first fields, which must be structs.
type VM struct {
	simulator.VirtualMachine
	lab   *Lab
	state *VMState
	// powerOps counts power operations, so that a guest shutdown overtaken
	// by a hard power off (and maybe on again) does not switch the VM off later.
	powerOps int
}

func (vm *VM) configDisks() map[int32]*types.VirtualDisk {
	disks := map[int32]*types.VirtualDisk{}
	for _, dev := range vm.Config.Hardware.Device {
		if d, ok := dev.(*types.VirtualDisk); ok {
			disks[d.Key] = d
		}
	}
	return disks
}

func diskBacking(d *types.VirtualDisk) *types.VirtualDiskFlatVer2BackingInfo {
	return d.Backing.(*types.VirtualDiskFlatVer2BackingInfo)
}

// activatePendingTracking switches CBT on for disks of a running VM. On ESXi
// (VMware KB 1031873) a reconfigure of a powered-on VM only records the wish:
// the disks are open without a change tracking file until the next stun/unstun
// (snapshot create or remove, power cycle, vMotion), which is why backup tools
// take and remove a snapshot right after enabling CBT.
func (vm *VM) activatePendingTracking() {
	for _, d := range vm.state.Disks {
		if d.CBT.Pending {
			d.StartTracking()
		}
	}
	vm.publishTracking()
}

// publishTracking shows each disk's tracking on the VM's own disk backings:
// a changeId (that of the latest point, "changes since then") once the disk
// tracks, none while CBT is off or waits for a stun. It is how a client tells,
// disk by disk, whether the next snapshot will carry a changeId.
func (vm *VM) publishTracking() {
	for key, device := range vm.configDisks() {
		changeID := ""
		if d := vm.state.disk(key); d != nil && d.CBT.Active {
			changeID = d.ChangeID(d.Epoch - 1)
		}
		diskBacking(device).ChangeId = changeID
	}
}

// ReconfigVMTask adds to the simulator's reconfigure: CBT on/off and disk
// growth (a device edit with a larger capacity), which extends the flat file.
func (vm *VM) ReconfigVMTask(ctx *simulator.Context, req *types.ReconfigVM_Task) soap.HasFault {
	task := simulator.CreateTask(vm, "reconfigVm", func(t *simulator.Task) (types.AnyType, types.BaseMethodFault) {
		vm.lab.mu.Lock()
		defer vm.lab.mu.Unlock()

		growth, rest, fault := vm.diskGrowth(req.Spec.DeviceChange)
		if fault != nil {
			return nil, fault
		}
		spec := req.Spec
		spec.DeviceChange = rest
		inner := vm.VirtualMachine.ReconfigVMTask(ctx, &types.ReconfigVM_Task{This: vm.Self, Spec: spec})
		ref := inner.(*methods.ReconfigVM_TaskBody).Res.Returnval
		if info := simulator.Map.Get(ref).(*simulator.Task).Info; info.Error != nil {
			return nil, info.Error.Fault
		}

		devices := vm.configDisks()
		for key, capacity := range growth {
			if err := vm.state.disk(key).Grow(capacity); err != nil {
				return nil, &types.FileFault{File: vm.state.disk(key).DatastorePath(0)}
			}
			devices[key].CapacityInBytes = capacity
			devices[key].CapacityInKB = capacity / 1024
		}
		if on := req.Spec.ChangeTrackingEnabled; on != nil {
			vm.state.CBT = *on
			for _, d := range vm.state.Disks {
				switch {
				case !*on:
					d.StopTracking()
				case d.CBT.Active || d.CBT.Pending:
				case vm.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn:
					d.CBT.Pending = true
				default:
					d.StartTracking()
				}
			}
		}
		vm.publishTracking()
		return nil, vm.save()
	})
	return &methods.ReconfigVM_TaskBody{Res: &types.ReconfigVM_TaskResponse{Returnval: task.Run()}}
}

// diskGrowth takes the disk edits out of a device change list. vSphere extends
// a disk by an edit with a larger capacity; it refuses to shrink one and to
// extend one that has snapshots.
func (vm *VM) diskGrowth(changes []types.BaseVirtualDeviceConfigSpec) (map[int32]int64, []types.BaseVirtualDeviceConfigSpec, types.BaseMethodFault) {
	growth := map[int32]int64{}
	var rest []types.BaseVirtualDeviceConfigSpec
	for i, change := range changes {
		spec := change.GetVirtualDeviceConfigSpec()
		disk, ok := spec.Device.(*types.VirtualDisk)
		if !ok || spec.Operation != types.VirtualDeviceConfigSpecOperationEdit {
			rest = append(rest, change)
			continue
		}
		state := vm.state.disk(disk.Key)
		if state == nil {
			return nil, nil, &types.InvalidDeviceSpec{InvalidVmConfig: types.InvalidVmConfig{Property: "deviceChange"}, DeviceIndex: int32(i)}
		}
		capacity := disk.CapacityInBytes
		if capacity == 0 {
			capacity = disk.CapacityInKB * 1024
		}
		switch {
		case capacity < state.Capacity:
			return nil, nil, &types.InvalidDeviceSpec{InvalidVmConfig: types.InvalidVmConfig{Property: "capacityInKB"}, DeviceIndex: int32(i)}
		case capacity > state.Capacity && state.Top() > 0:
			return nil, nil, &types.InvalidState{}
		case capacity > state.Capacity:
			growth[disk.Key] = capacity
		}
	}
	return growth, rest, nil
}

// CreateSnapshotTask freezes every disk: the snapshot keeps the base file
// names and their changeIds, the VM's disks move to new redo logs. The stun
// starts pending change tracking only after the disks are frozen: the frozen
// disks were open without a tracking file, so this snapshot has no changeId.
func (vm *VM) CreateSnapshotTask(ctx *simulator.Context, req *types.CreateSnapshot_Task) soap.HasFault {
	task := simulator.CreateTask(vm, "createSnapshot", func(t *simulator.Task) (types.AnyType, types.BaseMethodFault) {
		vm.lab.mu.Lock()
		defer vm.lab.mu.Unlock()

		snap := &Snapshot{vm: vm, disks: map[int32]snapshotDisk{}}
		snap.Vm = vm.Self
		snap.Config = *vm.Config
		snap.Config.Hardware.Device = copyDevices(vm.Config.Hardware.Device)
		frozenDisks := map[int32]*types.VirtualDisk{}
		for _, dev := range snap.Config.Hardware.Device {
			if d, ok := dev.(*types.VirtualDisk); ok {
				frozenDisks[d.Key] = d
			}
		}
		current := vm.configDisks()
		for _, d := range vm.state.Disks {
			layer, changeID, err := d.Snapshot()
			if err != nil {
				log.Printf("snapshot of disk %d of %s: %s", d.Key, vm.Name, err)
				return nil, &types.FileFault{File: d.DatastorePath(d.Top())}
			}
			snap.disks[d.Key] = snapshotDisk{layer: layer, epoch: d.Epoch - 1, cbt: d.CBT, capacity: d.Capacity}
			diskBacking(frozenDisks[d.Key]).FileName = d.DatastorePath(layer)
			diskBacking(frozenDisks[d.Key]).ChangeId = changeID
			diskBacking(current[d.Key]).FileName = d.DatastorePath(d.Top())
		}
		vm.activatePendingTracking()

		// The registry names a new object after its Go type: give the wrapper
		// the reference of the simulator type it wraps.
		placeholder := &simulator.VirtualMachineSnapshot{}
		simulator.Map.Put(placeholder)
		snap.Self = placeholder.Self
		simulator.Map.Put(snap)
		snap.tree = types.VirtualMachineSnapshotTree{
			Snapshot: snap.Self, Vm: vm.Self, Name: req.Name, Description: req.Description,
			Id: vm.state.lastSnapshotID + 1, CreateTime: time.Now(), State: vm.Runtime.PowerState,
			// vSphere ignores quiesce for a powered-off VM: there is no guest to quiesce.
			Quiesced:        req.Quiesce && vm.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn,
			ReplaySupported: types.NewBool(false),
		}
		vm.state.lastSnapshotID++
		vm.state.snapshots = append(vm.state.snapshots, snap)
		vm.publishSnapshots()
		return snap.Self, vm.save()
	})
	return &methods.CreateSnapshot_TaskBody{Res: &types.CreateSnapshot_TaskResponse{Returnval: task.Run()}}
}

// RemoveAllSnapshotsTask consolidates every redo log into the base disks.
func (vm *VM) RemoveAllSnapshotsTask(ctx *simulator.Context, req *types.RemoveAllSnapshots_Task) soap.HasFault {
	task := simulator.CreateTask(vm, "removeAllSnapshots", func(t *simulator.Task) (types.AnyType, types.BaseMethodFault) {
		vm.lab.mu.Lock()
		defer vm.lab.mu.Unlock()
		for len(vm.state.snapshots) > 0 {
			if fault := vm.removeSnapshot(len(vm.state.snapshots) - 1); fault != nil {
				return nil, fault
			}
		}
		return nil, vm.save()
	})
	return &methods.RemoveAllSnapshots_TaskBody{Res: &types.RemoveAllSnapshots_TaskResponse{Returnval: task.Run()}}
}

// RevertToCurrentSnapshotTask is refused: the lab keeps one linear chain of
// redo logs, and vmshift never reverts a source VM.
func (vm *VM) RevertToCurrentSnapshotTask(req *types.RevertToCurrentSnapshot_Task) soap.HasFault {
	return &methods.RevertToCurrentSnapshot_TaskBody{Fault_: simulator.Fault("revert is not supported by the vmshift lab", &types.NotSupported{})}
}

// removeSnapshot consolidates the redo log started by snapshot i into the
// layer it froze; later snapshots now freeze that merged layer.
func (vm *VM) removeSnapshot(i int) types.BaseMethodFault {
	vm.activatePendingTracking()
	snap := vm.state.snapshots[i]
	current := vm.configDisks()
	for _, d := range vm.state.Disks {
		layer := snap.disks[d.Key].layer
		if err := d.Consolidate(layer); err != nil {
			log.Printf("consolidate disk %d of %s: %s", d.Key, vm.Name, err)
			return &types.FileFault{File: d.DatastorePath(layer)}
		}
		for _, later := range vm.state.snapshots[i+1:] {
			sd := later.disks[d.Key]
			sd.layer--
			later.disks[d.Key] = sd
			for _, dev := range later.Config.Hardware.Device {
				if disk, ok := dev.(*types.VirtualDisk); ok && disk.Key == d.Key {
					diskBacking(disk).FileName = d.DatastorePath(sd.layer)
				}
			}
		}
		diskBacking(current[d.Key]).FileName = d.DatastorePath(d.Top())
	}
	vm.state.snapshots = append(vm.state.snapshots[:i], vm.state.snapshots[i+1:]...)
	simulator.Map.Remove(snap.Self)
	vm.publishSnapshots()
	return nil
}

// setConsolidationNeeded records and publishes runtime.consolidationNeeded,
// which vSphere sets after a snapshot removal that left redo logs behind. The
// caller holds the VM's registry lock and the lab's lock, in that order.
func (vm *VM) setConsolidationNeeded(needed bool) {
	vm.state.ConsolidationNeeded = needed
	simulator.Map.Update(vm, []types.PropertyChange{
		{Name: "runtime.consolidationNeeded", Val: needed},
		{Name: "summary.runtime.consolidationNeeded", Val: needed},
	})
}

// ConsolidateVMDisksTask clears runtime.consolidationNeeded. vCenter merges
// there the redo logs that no snapshot refers to any more (left by a failed
// snapshot removal); in the lab every redo log belongs to a snapshot, so there
// is nothing to merge and only the flag goes. Powered on or off, as on vSphere.
func (vm *VM) ConsolidateVMDisksTask(ctx *simulator.Context, req *types.ConsolidateVMDisks_Task) soap.HasFault {
	task := simulator.CreateTask(vm, "consolidateDisks", func(t *simulator.Task) (types.AnyType, types.BaseMethodFault) {
		vm.lab.mu.Lock()
		defer vm.lab.mu.Unlock()
		vm.setConsolidationNeeded(false)
		return nil, vm.save()
	})
	return &methods.ConsolidateVMDisks_TaskBody{Res: &types.ConsolidateVMDisks_TaskResponse{Returnval: task.Run()}}
}

// publishSnapshots rebuilds the VM's snapshot property from the chain.
func (vm *VM) publishSnapshots() {
	chain := vm.state.snapshots
	if len(chain) == 0 {
		simulator.Map.Update(vm, []types.PropertyChange{{Name: "snapshot", Val: nil}})
		return
	}
	var tree *types.VirtualMachineSnapshotTree
	var child []types.ManagedObjectReference
	for i := len(chain) - 1; i >= 0; i-- {
		item := chain[i].tree
		if tree != nil {
			item.ChildSnapshotList = []types.VirtualMachineSnapshotTree{*tree}
		}
		chain[i].ChildSnapshot = child
		child = []types.ManagedObjectReference{chain[i].Self}
		tree = &item
	}
	current := chain[len(chain)-1].Self
	simulator.Map.Update(vm, []types.PropertyChange{{Name: "snapshot", Val: &types.VirtualMachineSnapshotInfo{
		CurrentSnapshot: &current, RootSnapshotList: []types.VirtualMachineSnapshotTree{*tree},
	}}})
}

// QueryChangedDiskAreas answers from the disk's change history. Faults, as
// vCenter raises them for this method (the API reference declares FileFault and
// NotFound, and InvalidArgument for a bad deviceKey, startOffset or changeId):
//   - FileFault "Error caused by file <vmdk>" when hostd cannot answer from the
//     disk's change tracking file: CBT off, not yet active when the snapshot was
//     taken, a changeId of another tracking identity (CBT switched off and on,
//     disk resized: the ctk file has a new UUID); and for a powered-on VM asked
//     without a snapshot ("current" works only powered off: the running VM holds
//     its disk open);
//   - NotFound for a snapshot that does not exist or is another VM's;
//   - InvalidArgument (invalidProperty deviceKey/startOffset/changeId, "A
//     specified parameter was not correct") for a device key that is no virtual
//     disk, an offset past the end, a changeId that does not parse or that the
//     disk never issued up to the snapshot.
func (vm *VM) QueryChangedDiskAreas(req *types.QueryChangedDiskAreas) soap.HasFault {
	body := &methods.QueryChangedDiskAreasBody{}
	vm.lab.mu.Lock()
	defer vm.lab.mu.Unlock()
	info, msg, fault := vm.changedAreas(req)
	if fault != nil {
		body.Fault_ = simulator.Fault(msg, fault)
		return body
	}
	body.Res = &types.QueryChangedDiskAreasResponse{Returnval: *info}
	return body
}

func invalidArgument(property string) (*types.DiskChangeInfo, string, types.BaseMethodFault) {
	return nil, "A specified parameter was not correct: " + property, &types.InvalidArgument{InvalidProperty: property}
}

// fileFault is how hostd reports a disk it cannot answer for, naming the
// layer's descriptor by its path on the host.
func fileFault(d *Disk, layer int) (*types.DiskChangeInfo, string, types.BaseMethodFault) {
	file := fmt.Sprintf("/vmfs/volumes/%s/%s", d.Datastore, d.Layers[layer].Descriptor)
	return nil, "Error caused by file " + file, &types.FileFault{File: file}
}

func (vm *VM) changedAreas(req *types.QueryChangedDiskAreas) (*types.DiskChangeInfo, string, types.BaseMethodFault) {
	d := vm.state.disk(req.DeviceKey)
	if d == nil {
		return invalidArgument("deviceKey")
	}
	var point snapshotDisk
	switch {
	case req.Snapshot == nil && vm.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOff:
		return fileFault(d, d.Top())
	case req.Snapshot == nil:
		point = snapshotDisk{layer: d.Top(), epoch: d.Epoch, cbt: d.CBT, capacity: d.Capacity}
	default:
		snap, ok := simulator.Map.Get(*req.Snapshot).(*Snapshot)
		if !ok || snap.vm != vm {
			return nil, fmt.Sprintf("snapshot %s of %s not found", req.Snapshot.Value, vm.Name), &types.NotFound{}
		}
		point = snap.disks[d.Key]
	}
	if vm.Config.ChangeTrackingEnabled == nil || !*vm.Config.ChangeTrackingEnabled || !d.CBT.Active || !point.cbt.Active {
		return fileFault(d, point.layer)
	}
	if req.StartOffset < 0 || req.StartOffset >= point.capacity {
		return invalidArgument("startOffset")
	}
	var blocks BlockSet
	if req.ChangeId == "*" {
		blocks = d.Changed(0, point.epoch)
	} else {
		id, epoch, ok := ParseChangeID(req.ChangeId)
		switch {
		case !ok:
			return invalidArgument("changeId")
		case id != point.cbt.ID:
			return fileFault(d, point.layer)
		// Since-1 is the changeId the disk's backing shows from the moment
		// tracking starts: every change from then on.
		case epoch < point.cbt.Since-1 || epoch > point.epoch:
			return invalidArgument("changeId")
		}
		blocks = d.Changed(epoch, point.epoch)
	}
	return pageExtents(blocks, req.StartOffset, point.capacity), "", nil
}

// pageExtents coalesces blocks into extents from start, up to the page limits.
func pageExtents(blocks BlockSet, start, capacity int64) *types.DiskChangeInfo {
	end := minInt64(capacity, start+maxChangedSpan)
	var extents []types.DiskChangeExtent
	for _, b := range blocks.sorted() {
		s, e := b*BlockSize, minInt64((b+1)*BlockSize, end)
		if s < start {
			s = start
		}
		if s >= e {
			continue
		}
		if n := len(extents); n > 0 && extents[n-1].Start+extents[n-1].Length == s {
			extents[n-1].Length = e - extents[n-1].Start
			continue
		}
		if len(extents) == maxChangedExtents {
			last := extents[len(extents)-1]
			end = last.Start + last.Length
			break
		}
		extents = append(extents, types.DiskChangeExtent{Start: s, Length: e - s})
	}
	return &types.DiskChangeInfo{StartOffset: start, Length: end - start, ChangedArea: extents}
}

// PowerOnVMTask starts the VM; a power on is a stun point for pending CBT.
func (vm *VM) PowerOnVMTask(ctx *simulator.Context, req *types.PowerOnVM_Task) soap.HasFault {
	vm.lab.mu.Lock()
	vm.activatePendingTracking()
	vm.lab.mu.Unlock()
	vm.powerOps++
	res := vm.VirtualMachine.PowerOnVMTask(ctx, req)
	vm.recordPowerState()
	return res
}

// PowerOffVMTask is the simulator's, with the power state kept across restarts.
func (vm *VM) PowerOffVMTask(ctx *simulator.Context, req *types.PowerOffVM_Task) soap.HasFault {
	vm.powerOps++
	res := vm.VirtualMachine.PowerOffVMTask(ctx, req)
	vm.recordPowerState()
	return res
}

// GuestShutdown is how a VM's guest answers ShutdownGuest; the lab endpoint
// sets it, so that cutover's timeout and no-tools paths can be exercised.
type GuestShutdown string

const (
	// guestShutsDown: VMware Tools run and the guest OS is off
	// guestShutdownDelay after the request. A state file without the
	// field ("") means the same.
	guestShutsDown GuestShutdown = "normal"
	// guestIgnores: Tools run and take the request, but the guest never
	// stops (a hung OS, an application blocking the shutdown).
	guestIgnores GuestShutdown = "ignore"
	// guestNoTools: no VMware Tools in the guest, so vCenter refuses
	// ShutdownGuest with ToolsUnavailable.
	guestNoTools GuestShutdown = "no-tools"
)

func parseGuestShutdown(value string) (GuestShutdown, error) {
	switch behaviour := GuestShutdown(value); behaviour {
	case guestShutsDown, guestIgnores, guestNoTools:
		return behaviour, nil
	}
	return "", fmt.Errorf("value must be %s, %s or %s, got %q", guestShutsDown, guestIgnores, guestNoTools, value)
}

// setGuestShutdown records how the guest answers ShutdownGuest and what
// vCenter shows of its VMware Tools. The caller holds the VM's registry lock
// and the lab's lock, in that order.
func (vm *VM) setGuestShutdown(behaviour GuestShutdown) {
	vm.state.GuestShutdown = behaviour
	vm.publishTools()
}

// publishTools shows VMware Tools as vCenter does: running in a powered-on
// guest that has them, not running while the VM is off, not installed in a
// guest without them. The simulator reports them not installed on every VM
// although its ShutdownGuest works, which no vCenter does.
func (vm *VM) publishTools() {
	status, running := types.VirtualMachineToolsStatusToolsOk, types.VirtualMachineToolsRunningStatusGuestToolsRunning
	switch {
	case vm.state.GuestShutdown == guestNoTools:
		status, running = types.VirtualMachineToolsStatusToolsNotInstalled, types.VirtualMachineToolsRunningStatusGuestToolsNotRunning
	case vm.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOn:
		status, running = types.VirtualMachineToolsStatusToolsNotRunning, types.VirtualMachineToolsRunningStatusGuestToolsNotRunning
	}
	simulator.Map.Update(vm, []types.PropertyChange{
		{Name: "guest.toolsStatus", Val: status},
		{Name: "guest.toolsRunningStatus", Val: string(running)},
		{Name: "summary.guest.toolsStatus", Val: status},
		{Name: "summary.guest.toolsRunningStatus", Val: string(running)},
	})
}

// ShutdownGuest asks the guest OS to shut down. As on vSphere the call returns
// at once and the VM reaches poweredOff a moment later; a guest that ignores
// the request stays on, and without VMware Tools vCenter refuses the call
// with ToolsUnavailable.
func (vm *VM) ShutdownGuest(ctx *simulator.Context, req *types.ShutdownGuest) soap.HasFault {
	body := &methods.ShutdownGuestBody{}
	if vm.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOn {
		body.Fault_ = simulator.Fault("", &types.InvalidPowerState{
			RequestedState: types.VirtualMachinePowerStatePoweredOn, ExistingState: vm.Runtime.PowerState,
		})
		return body
	}
	vm.lab.mu.Lock()
	behaviour := vm.state.GuestShutdown
	vm.lab.mu.Unlock()
	switch behaviour {
	case guestNoTools:
		body.Fault_ = simulator.Fault("Cannot complete operation because VMware Tools is not running in this virtual machine.",
			&types.ToolsUnavailable{})
		return body
	case guestIgnores:
		body.Res = &types.ShutdownGuestResponse{}
		return body
	}
	asked := vm.powerOps
	go func() {
		time.Sleep(guestShutdownDelay)
		simulator.Map.WithLock(vm, func() {
			if vm.powerOps != asked || vm.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOn {
				return
			}
			off := types.VirtualMachinePowerStatePoweredOff
			simulator.Map.Update(vm, []types.PropertyChange{
				{Name: "runtime.powerState", Val: off},
				{Name: "summary.runtime.powerState", Val: off},
			})
			vm.recordPowerState()
		})
	}()
	body.Res = &types.ShutdownGuestResponse{}
	return body
}

// recordPowerState keeps the power state across restarts and shows whether
// VMware Tools run. Powered off, the disks are closed: a CBT switch waiting
// for a stun applies now.
func (vm *VM) recordPowerState() {
	vm.lab.mu.Lock()
	defer vm.lab.mu.Unlock()
	vm.state.PowerState = string(vm.Runtime.PowerState)
	vm.publishTools()
	if vm.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOff {
		vm.activatePendingTracking()
	}
	if err := vm.lab.save(); err != nil {
		log.Printf("saving state: %s", err)
	}
}

func (vm *VM) save() types.BaseMethodFault {
	if err := vm.lab.save(); err != nil {
		log.Printf("saving state: %s", err)
		return &types.FileFault{File: vm.lab.file}
	}
	return nil
}

// copyDevices copies the disks so that a snapshot's config keeps its own
// backings while the VM's move on to redo logs.
func copyDevices(devices []types.BaseVirtualDevice) []types.BaseVirtualDevice {
	out := make([]types.BaseVirtualDevice, len(devices))
	for i, dev := range devices {
		if d, ok := dev.(*types.VirtualDisk); ok {
			disk := *d
			backing := *diskBacking(d)
			disk.Backing = &backing
			out[i] = &disk
			continue
		}
		out[i] = dev
	}
	return out
}
