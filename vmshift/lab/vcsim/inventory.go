package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// buildInventory creates the spec's inventory through the vSphere API, in the
// spec's order, so that morefs are the same on every start of the lab.
func buildInventory(ctx context.Context, c *vim25.Client, spec *Spec, lab *Lab) error {
	dc, err := object.NewRootFolder(c).CreateDatacenter(ctx, spec.Datacenter)
	if err != nil {
		return err
	}
	folders, err := dc.Folders(ctx)
	if err != nil {
		return err
	}
	hosts := map[string]*object.HostSystem{}
	pools := map[string]*object.ResourcePool{}
	var hostOrder []*object.HostSystem
	for _, cl := range spec.Clusters {
		cluster, err := folders.HostFolder.CreateCluster(ctx, cl.Name, types.ClusterConfigSpecEx{})
		if err != nil {
			return err
		}
		pool, err := cluster.ResourcePool(ctx)
		if err != nil {
			return err
		}
		for _, name := range cl.Hosts {
			task, err := cluster.AddHost(ctx, types.HostConnectSpec{HostName: name}, true, nil, nil)
			if err != nil {
				return err
			}
			info, err := task.WaitForResult(ctx, nil)
			if err != nil {
				return fmt.Errorf("adding host %s: %w", name, err)
			}
			host := object.NewHostSystem(c, info.Result.(types.ManagedObjectReference))
			hosts[name], pools[name] = host, pool
			hostOrder = append(hostOrder, host)
		}
	}

	datastores := map[string]types.ManagedObjectReference{}
	for _, ds := range spec.Datastores {
		for _, host := range hostOrder {
			dss, err := host.ConfigManager().DatastoreSystem(ctx)
			if err != nil {
				return err
			}
			created, err := dss.CreateLocalDatastore(ctx, ds.Name, lab.dsDirs[ds.Name])
			if err != nil {
				return fmt.Errorf("datastore %s: %w", ds.Name, err)
			}
			datastores[ds.Name] = created.Reference()
		}
		if sim, ok := simulator.Map.Get(datastores[ds.Name]).(*simulator.Datastore); ok {
			capacity := ds.CapacityGiB << 30
			sim.Summary.Capacity, sim.Summary.FreeSpace = capacity, capacity
			sim.Info.GetDatastoreInfo().FreeSpace = capacity
		}
	}

	for _, name := range spec.Networks {
		if name == "VM Network" {
			continue // every simulated host has it
		}
		for i, host := range hostOrder {
			ns, err := host.ConfigManager().NetworkSystem(ctx)
			if err != nil {
				return err
			}
			err = ns.AddPortGroup(ctx, types.HostPortGroupSpec{Name: name, VswitchName: "vSwitch0"})
			if err != nil && !(i > 0 && isDuplicateName(err)) {
				return fmt.Errorf("network %s: %w", name, err)
			}
		}
	}

	for _, vmSpec := range spec.VMs {
		if hosts[vmSpec.Host] == nil {
			return fmt.Errorf("VM %s: host %q is in no cluster of the spec", vmSpec.Name, vmSpec.Host)
		}
		if _, ok := datastores[vmSpec.Datastore]; !ok {
			return fmt.Errorf("VM %s: datastore %q is not in the spec", vmSpec.Name, vmSpec.Datastore)
		}
		if err := createVM(ctx, c, folders, lab, vmSpec, hosts[vmSpec.Host], pools[vmSpec.Host], datastores[vmSpec.Datastore]); err != nil {
			return fmt.Errorf("VM %s: %w", vmSpec.Name, err)
		}
	}
	return nil
}

func isDuplicateName(err error) bool {
	if soap.IsSoapFault(err) {
		_, ok := soap.ToSoapFault(err).VimFault().(*types.DuplicateName)
		return ok
	}
	return false
}

// createVM registers a VM whose disks exist in the lab state (from an
// earlier run) or are created now as sparse flat files.
func createVM(ctx context.Context, c *vim25.Client, folders *object.DatacenterFolders, lab *Lab, spec VMSpec,
	host *object.HostSystem, pool *object.ResourcePool, ds types.ManagedObjectReference) error {
	dir := lab.dsDirs[spec.Datastore]
	state := lab.VMs[spec.Name]
	if state == nil {
		state = &VMState{Name: spec.Name, PowerState: spec.PowerState}
		for i, disk := range spec.Disks {
			base := fmt.Sprintf("%s/%s", spec.Name, spec.Name)
			if i > 0 {
				base = fmt.Sprintf("%s/%s_%d", spec.Name, spec.Name, i)
			}
			d, err := newDisk(int32(2000+i), spec.Datastore, dir, base, disk.CapacityMiB<<20)
			if err != nil {
				return err
			}
			if disk.ImageFile != "" {
				if err := d.Install(disk.ImageFile); err != nil {
					return fmt.Errorf("disk %d: %w", i, err)
				}
			}
			state.Disks = append(state.Disks, d)
		}
		lab.VMs[spec.Name] = state
	}
	// The VM's own files are recreated on each start; its disks are kept.
	for _, file := range []string{spec.Name + ".vmx", spec.Name + ".nvram", "vmware.log"} {
		_ = os.Remove(filepath.Join(dir, spec.Name, file))
	}

	config := types.VirtualMachineConfigSpec{
		Name: spec.Name, GuestId: spec.GuestID, Firmware: spec.Firmware,
		NumCPUs: spec.CPUs, MemoryMB: spec.MemoryMiB,
		ChangeTrackingEnabled: types.NewBool(state.CBT),
		Files:                 &types.VirtualMachineFileInfo{VmPathName: fmt.Sprintf("[%s] %s/%s.vmx", spec.Datastore, spec.Name, spec.Name)},
	}
	var devices object.VirtualDeviceList
	scsi, err := devices.CreateSCSIController("pvscsi")
	if err != nil {
		return err
	}
	devices = append(devices, scsi)
	for i, d := range state.Disks {
		disk := devices.CreateDisk(scsi.(types.BaseVirtualController), ds, d.DatastorePath(0))
		disk.Key = d.Key
		disk.DeviceInfo = &types.Description{Label: fmt.Sprintf("Hard disk %d", i+1)}
		disk.CapacityInBytes, disk.CapacityInKB = d.Capacity, d.Capacity/1024
		devices = append(devices, disk)
	}
	for _, nic := range spec.NICs {
		backing := &types.VirtualEthernetCardNetworkBackingInfo{
			VirtualDeviceDeviceBackingInfo: types.VirtualDeviceDeviceBackingInfo{DeviceName: nic.Network},
		}
		card, err := devices.CreateEthernetCard("vmxnet3", backing)
		if err != nil {
			return err
		}
		devices = append(devices, card)
	}
	if config.DeviceChange, err = devices.ConfigSpec(types.VirtualDeviceConfigSpecOperationAdd); err != nil {
		return err
	}
	for _, change := range config.DeviceChange {
		change.GetVirtualDeviceConfigSpec().FileOperation = "" // attach the existing disk files
	}

	task, err := folders.VmFolder.CreateVM(ctx, config, pool, host)
	if err != nil {
		return err
	}
	info, err := task.WaitForResult(ctx, nil)
	if err != nil {
		return err
	}
	ref := info.Result.(types.ManagedObjectReference)
	vm := &VM{VirtualMachine: *simulator.Map.Get(ref).(*simulator.VirtualMachine), lab: lab, state: state}
	// vSphere reports the flag on every VM, false unless a consolidation is due.
	vm.Runtime.ConsolidationNeeded = types.NewBool(state.ConsolidationNeeded)
	vm.Summary.Runtime.ConsolidationNeeded = types.NewBool(state.ConsolidationNeeded)
	simulator.Map.Put(vm)
	state.vm = vm
	for key, disk := range vm.configDisks() {
		if d := state.disk(key); d != nil {
			disk.CapacityInBytes, disk.CapacityInKB = d.Capacity, d.Capacity/1024
		}
	}
	vm.publishTracking()
	vm.publishTools()
	if state.PowerState == string(types.VirtualMachinePowerStatePoweredOn) {
		task, err := object.NewVirtualMachine(c, ref).PowerOn(ctx)
		if err != nil {
			return err
		}
		if err := task.Wait(ctx); err != nil {
			return err
		}
	}
	return nil
}
