package main

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/simulator/vpx"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// These tests hold QueryChangedDiskAreas to vSphere's changeId semantics, through the SOAP API a
// client uses (govmomi's client over the simulator's HTTP server), on a lab of one VM and one
// 64 MiB disk. Guest writes go to the disk as the lab endpoint writes them.

const (
	diskKey  = 2000
	diskSize = 64 << 20
	mib      = 1 << 20
)

type cbtLab struct {
	t      *testing.T
	ctx    context.Context
	client *vim25.Client
	lab    *Lab
	vm     *object.VirtualMachine
}

// newCBTLab builds the inventory as main does, serves it over HTTP and logs in.
func newCBTLab(t *testing.T, powerState types.VirtualMachinePowerState) *cbtLab {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	dsDirs := map[string]string{"ds1": filepath.Join(dir, "datastores", "ds1")}
	if err := os.MkdirAll(dsDirs["ds1"], 0o755); err != nil {
		t.Fatal(err)
	}
	lab, err := loadLab(dir, dsDirs)
	if err != nil {
		t.Fatal(err)
	}
	spec := &Spec{
		Datacenter: "dc1", User: "lab",
		Clusters:   []ClusterSpec{{Name: "cluster1", Hosts: []string{"esx1"}}},
		Datastores: []DatastoreSpec{{Name: "ds1", CapacityGiB: 1}},
		VMs: []VMSpec{{
			Name: "vm1", GuestID: "otherGuest64", CPUs: 1, MemoryMiB: 128, PowerState: string(powerState),
			Host: "esx1", Datastore: "ds1", Disks: []DiskSpec{{CapacityMiB: diskSize / mib}},
		}},
	}
	model := &simulator.Model{ServiceContent: vpx.ServiceContent, RootFolder: vpx.RootFolder}
	if err := model.Create(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(model.Remove)
	internal, err := vim25.NewClient(ctx, model.Service)
	if err != nil {
		t.Fatal(err)
	}
	collector := &PropertyCollector{}
	collector.Self = internal.ServiceContent.PropertyCollector
	simulator.Map.Put(collector)
	if err := buildInventory(ctx, internal, spec, lab); err != nil {
		t.Fatal(err)
	}
	model.Service.Listen = &url.URL{User: url.UserPassword("lab", "secret")}
	server := model.Service.NewServer()
	t.Cleanup(server.Close)
	client, err := govmomi.NewClient(ctx, server.URL, true)
	if err != nil {
		t.Fatal(err)
	}
	vm, err := object.NewSearchIndex(client.Client).FindByInventoryPath(ctx, "/dc1/vm/vm1")
	if err != nil || vm == nil {
		t.Fatalf("vm1 not found: %v", err)
	}
	return &cbtLab{t: t, ctx: ctx, client: client.Client, lab: lab, vm: vm.(*object.VirtualMachine)}
}

// write is a guest write, as the lab's /vmshift-lab/ endpoint makes it.
func (l *cbtLab) write(offset int64, data string) {
	l.t.Helper()
	l.lab.mu.Lock()
	defer l.lab.mu.Unlock()
	if err := l.lab.VMs["vm1"].disk(diskKey).Write(offset, []byte(data)); err != nil {
		l.t.Fatal(err)
	}
}

func (l *cbtLab) wait(task *object.Task, err error) {
	l.t.Helper()
	if err == nil {
		err = task.Wait(l.ctx)
	}
	if err != nil {
		l.t.Fatal(err)
	}
}

func (l *cbtLab) setCBT(on bool) {
	l.t.Helper()
	l.wait(l.vm.Reconfigure(l.ctx, types.VirtualMachineConfigSpec{ChangeTrackingEnabled: types.NewBool(on)}))
}

func (l *cbtLab) powerOn() {
	l.t.Helper()
	l.wait(l.vm.PowerOn(l.ctx))
}

// snapshot takes a snapshot and gives it with the changeId its disk backing carries ("" without one).
func (l *cbtLab) snapshot(name string) (types.ManagedObjectReference, string) {
	l.t.Helper()
	task, err := l.vm.CreateSnapshot(l.ctx, name, "", false, false)
	if err != nil {
		l.t.Fatal(err)
	}
	info, err := task.WaitForResult(l.ctx, nil)
	if err != nil {
		l.t.Fatal(err)
	}
	ref := info.Result.(types.ManagedObjectReference)
	var snap mo.VirtualMachineSnapshot
	if err := property.DefaultCollector(l.client).RetrieveOne(l.ctx, ref, []string{"config"}, &snap); err != nil {
		l.t.Fatal(err)
	}
	for _, device := range snap.Config.Hardware.Device {
		if disk, ok := device.(*types.VirtualDisk); ok && disk.Key == diskKey {
			return ref, disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo).ChangeId
		}
	}
	l.t.Fatal("the snapshot has no disk", diskKey)
	return ref, ""
}

func (l *cbtLab) removeSnapshot(ref types.ManagedObjectReference) {
	l.t.Helper()
	consolidate := true
	res, err := methods.RemoveSnapshot_Task(l.ctx, l.client, &types.RemoveSnapshot_Task{This: ref, Consolidate: &consolidate})
	if err != nil {
		l.t.Fatal(err)
	}
	l.wait(object.NewTask(l.client, res.Returnval), nil)
}

func (l *cbtLab) query(snapshot *types.ManagedObjectReference, key int32, start int64, changeID string) (types.DiskChangeInfo, error) {
	res, err := methods.QueryChangedDiskAreas(l.ctx, l.client, &types.QueryChangedDiskAreas{
		This: l.vm.Reference(), Snapshot: snapshot, DeviceKey: key, StartOffset: start, ChangeId: changeID,
	})
	if err != nil {
		return types.DiskChangeInfo{}, err
	}
	return res.Returnval, nil
}

// areas queries the whole disk, page by page as a client must, and gives the changed extents as
// [start, length] pairs.
func (l *cbtLab) areas(snapshot types.ManagedObjectReference, changeID string) [][2]int64 {
	l.t.Helper()
	out := [][2]int64{}
	for start := int64(0); start < diskSize; {
		info, err := l.query(&snapshot, diskKey, start, changeID)
		if err != nil {
			l.t.Fatalf("QueryChangedDiskAreas(%q) at %d: %v", changeID, start, err)
		}
		for _, extent := range info.ChangedArea {
			out = append(out, [2]int64{extent.Start, extent.Length})
		}
		start += info.Length
	}
	return out
}

// fault queries and expects vSphere's fault: its type name and message.
func (l *cbtLab) fault(snapshot *types.ManagedObjectReference, key int32, start int64, changeID string) (string, string) {
	l.t.Helper()
	_, err := l.query(snapshot, key, start, changeID)
	if err == nil || !soap.IsSoapFault(err) {
		l.t.Fatalf("QueryChangedDiskAreas(%q) answered %v, expected a fault", changeID, err)
	}
	fault := soap.ToSoapFault(err)
	return reflect.Indirect(reflect.ValueOf(fault.VimFault())).Type().Name(), fault.String
}

// trackingID is a changeId's tracking identity, the part before its sequence number.
func trackingID(changeID string) string { return strings.Split(changeID, "/")[0] }

func equal(a, b [][2]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestStarGivesEveryBlockEverWrittenUpToTheSnapshot(t *testing.T) {
	l := newCBTLab(t, types.VirtualMachinePowerStatePoweredOff)
	l.write(0, "boot sector")
	l.setCBT(true)
	l.write(3*mib+10, "x") // one byte reports its whole 64 KiB block
	l.write(5*mib-1, "ab") // straddles two blocks, which come back as one extent
	snap, _ := l.snapshot("full")
	l.write(20*mib, "after the snapshot")

	got := l.areas(snap, "*")
	want := [][2]int64{{0, BlockSize}, {3 * mib, BlockSize}, {5*mib - BlockSize, 2 * BlockSize}}
	if !equal(got, want) {
		t.Fatalf(`"*" gave %v, want %v (written before CBT too, nothing after the snapshot)`, got, want)
	}
}

func TestChangeIdOfAnEarlierSnapshotGivesExactlyTheBlocksWrittenSince(t *testing.T) {
	l := newCBTLab(t, types.VirtualMachinePowerStatePoweredOff)
	l.setCBT(true)
	l.write(mib, "first cycle")
	first, firstID := l.snapshot("cycle-1")
	if firstID == "" {
		t.Fatal("a snapshot of a tracking disk carries a changeId")
	}
	l.removeSnapshot(first)
	l.write(2*mib, "second cycle")
	l.write(mib, "first block again")
	second, secondID := l.snapshot("cycle-2")
	l.write(40*mib, "third cycle")
	third, _ := l.snapshot("cycle-3")

	if got, want := l.areas(second, firstID), [][2]int64{{mib, BlockSize}, {2 * mib, BlockSize}}; !equal(got, want) {
		t.Fatalf("since cycle-1 up to cycle-2: %v, want %v", got, want)
	}
	if got, want := l.areas(third, secondID), [][2]int64{{40 * mib, BlockSize}}; !equal(got, want) {
		t.Fatalf("since cycle-2 up to cycle-3: %v, want %v", got, want)
	}
	if got := l.areas(second, secondID); len(got) != 0 {
		t.Fatalf("a snapshot's own changeId gives no change, got %v", got)
	}
	if _, firstAgain := l.snapshot("cycle-4"); firstAgain == firstID || trackingID(firstAgain) != trackingID(firstID) {
		t.Fatalf("changeIds of one tracking identity share its UUID and differ by sequence: %q then %q", firstID, firstAgain)
	}
}

func TestChangeIdsAreRefusedAsVSphereRefusesThem(t *testing.T) {
	l := newCBTLab(t, types.VirtualMachinePowerStatePoweredOff)
	l.setCBT(true)
	l.write(0, "data")
	snap, changeID := l.snapshot("cycle-1")

	cases := []struct {
		name, changeID, fault, message string
	}{
		{"does not parse", "not-a-change-id", "InvalidArgument", "A specified parameter was not correct: changeId"},
		{"never issued up to the snapshot", trackingID(changeID) + "/999", "InvalidArgument", "A specified parameter was not correct: changeId"},
		{"of another tracking identity", "52 00 00 00 00 00 00 00-00 00 00 00 00 00 00 01/1", "FileFault", "Error caused by file /vmfs/volumes/ds1/vm1/vm1.vmdk"},
	}
	for _, c := range cases {
		if fault, message := l.fault(&snap, diskKey, 0, c.changeID); fault != c.fault || message != c.message {
			t.Errorf("%s (%q): %s %q, want %s %q", c.name, c.changeID, fault, message, c.fault, c.message)
		}
	}
	if fault, message := l.fault(&snap, 4000, 0, "*"); fault != "InvalidArgument" || !strings.HasSuffix(message, "deviceKey") {
		t.Errorf("a device key of no disk: %s %q", fault, message)
	}
	if fault, message := l.fault(&snap, diskKey, diskSize, "*"); fault != "InvalidArgument" || !strings.HasSuffix(message, "startOffset") {
		t.Errorf("an offset past the end: %s %q", fault, message)
	}
	l.removeSnapshot(snap)
	if fault, _ := l.fault(&snap, diskKey, 0, "*"); fault != "NotFound" {
		t.Errorf("a removed snapshot: %s, want NotFound", fault)
	}
}

func TestResettingTrackingMakesEarlierChangeIdsStale(t *testing.T) {
	l := newCBTLab(t, types.VirtualMachinePowerStatePoweredOff)
	l.setCBT(true)
	first, staleID := l.snapshot("before-reset")
	l.removeSnapshot(first)
	l.setCBT(false)
	if fault, _ := l.fault(nil, diskKey, 0, "*"); fault != "FileFault" {
		t.Fatalf("with CBT off: %s, want FileFault", fault)
	}
	l.setCBT(true)
	l.write(mib, "after reset")
	snap, freshID := l.snapshot("after-reset")
	if trackingID(freshID) == trackingID(staleID) {
		t.Fatalf("switching CBT off and on gives a new tracking UUID: %q then %q", staleID, freshID)
	}
	if fault, message := l.fault(&snap, diskKey, 0, staleID); fault != "FileFault" || !strings.HasPrefix(message, "Error caused by file /vmfs/volumes/ds1/") {
		t.Fatalf("a changeId from before the reset: %s %q, want FileFault (a full copy is due)", fault, message)
	}
	if got := l.areas(snap, "*"); !equal(got, [][2]int64{{mib, BlockSize}}) {
		t.Fatalf(`"*" after a reset still gives what the disk holds: %v`, got)
	}
}

func TestGrowingTheDiskMakesEarlierChangeIdsStale(t *testing.T) {
	l := newCBTLab(t, types.VirtualMachinePowerStatePoweredOff)
	l.setCBT(true)
	first, staleID := l.snapshot("before-growth")
	l.removeSnapshot(first)
	devices, err := l.vm.Device(l.ctx)
	if err != nil {
		t.Fatal(err)
	}
	disk := devices.FindByKey(diskKey).(*types.VirtualDisk)
	disk.CapacityInBytes, disk.CapacityInKB = 2*diskSize, 2*diskSize/1024
	l.wait(l.vm.Reconfigure(l.ctx, types.VirtualMachineConfigSpec{DeviceChange: []types.BaseVirtualDeviceConfigSpec{
		&types.VirtualDeviceConfigSpec{Operation: types.VirtualDeviceConfigSpecOperationEdit, Device: disk},
	}}))
	snap, _ := l.snapshot("after-growth")
	if fault, _ := l.fault(&snap, diskKey, 0, staleID); fault != "FileFault" {
		t.Fatalf("a changeId from before the disk grew: %s, want FileFault", fault)
	}
}

func TestOnARunningVMTrackingStartsAtTheNextStun(t *testing.T) {
	l := newCBTLab(t, types.VirtualMachinePowerStatePoweredOff)
	l.powerOn()
	l.setCBT(true)
	stun, stunID := l.snapshot("stun")
	if stunID != "" {
		t.Fatalf("the snapshot that makes the stun froze disks open without tracking, yet has changeId %q", stunID)
	}
	if fault, _ := l.fault(&stun, diskKey, 0, "*"); fault != "FileFault" {
		t.Fatalf("tracking was not active at the stun snapshot: %s, want FileFault", fault)
	}
	if fault, _ := l.fault(nil, diskKey, 0, "*"); fault != "FileFault" {
		t.Fatalf("a running VM asked without a snapshot: %s, want FileFault", fault)
	}
	l.removeSnapshot(stun)
	l.write(7*mib, "tracked")
	snap, changeID := l.snapshot("tracked")
	if changeID == "" {
		t.Fatal("a snapshot after the stun carries a changeId")
	}
	if got := l.areas(snap, "*"); !equal(got, [][2]int64{{7 * mib, BlockSize}}) {
		t.Fatalf(`"*" after the stun: %v`, got)
	}
}

func TestAnswersArePagedAsVCenterPagesThem(t *testing.T) {
	l := newCBTLab(t, types.VirtualMachinePowerStatePoweredOff)
	l.setCBT(true)
	for offset := int64(0); offset < 40*mib; offset += 2 * BlockSize {
		l.write(offset, "every other block") // 320 separate extents over 40 MiB
	}
	snap, _ := l.snapshot("paged")
	var extents int
	for start := int64(0); start < diskSize; {
		info, err := l.query(&snap, diskKey, start, "*")
		if err != nil {
			t.Fatal(err)
		}
		if info.StartOffset != start || info.Length <= 0 || info.Length > maxChangedSpan {
			t.Fatalf("page at %d: startOffset %d length %d (at most %d per answer)", start, info.StartOffset, info.Length, maxChangedSpan)
		}
		for _, extent := range info.ChangedArea {
			if extent.Start < start || extent.Start+extent.Length > start+info.Length || extent.Length != BlockSize {
				t.Fatalf("extent %+v outside its page [%d, +%d)", extent, start, info.Length)
			}
		}
		extents += len(info.ChangedArea)
		start += info.Length
	}
	if extents != 320 {
		t.Fatalf("paging through the disk gave %d extents, want 320", extents)
	}
}

func TestChangeIdRoundTrips(t *testing.T) {
	d := &Disk{}
	d.StartTracking()
	id, epoch, ok := ParseChangeID(d.ChangeID(7))
	if !ok || id != d.CBT.ID || epoch != 7 {
		t.Fatalf("ParseChangeID(%q) = %q %d %v", d.ChangeID(7), id, epoch, ok)
	}
	if parts := strings.Split(trackingID(d.ChangeID(7)), "-"); len(parts) != 2 || len(strings.Fields(parts[0])) != 8 {
		t.Fatalf("changeId %q is not vSphere's \"52 de ... f5-97 ... 7a/<seq>\"", d.ChangeID(7))
	}
}
