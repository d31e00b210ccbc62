package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

const testPassword = "lab-password"

// replicationRole is a role such as the lab user holds: what a replication
// cycle needs, and nothing more.
var replicationRole = []string{
	"Datastore.Browse", "Datastore.FileManagement", "VirtualMachine.Config.ChangeTracking",
	"VirtualMachine.Provisioning.DiskRandomRead", "VirtualMachine.State.CreateSnapshot",
	"VirtualMachine.State.RemoveSnapshot",
}

func testSpec(role *Role) *Spec {
	return &Spec{
		Datacenter: "DC-Test", User: "svc-vmshift@vsphere.local", Role: role,
		Clusters:   []ClusterSpec{{Name: "Cluster", Hosts: []string{"esx-01.test"}}},
		Datastores: []DatastoreSpec{{Name: "ds-01", CapacityGiB: 10}},
		VMs: []VMSpec{{Name: "app-01", GuestID: "otherGuest64", Firmware: "bios", CPUs: 1, MemoryMiB: 128,
			PowerState: "poweredOn", Host: "esx-01.test", Datastore: "ds-01", Disks: []DiskSpec{{CapacityMiB: 4}}}},
	}
}

// labVCenter is a lab vCenter whose user holds the role, and a client logged in as that user.
type labVCenter struct {
	server *simulator.Server
	client *govmomi.Client
	vm     *object.VirtualMachine
}

func startVCenter(t *testing.T, role *Role) *labVCenter {
	t.Helper()
	spec := testSpec(role)
	server, _, err := serve(spec, t.TempDir(), testPassword, "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(server.Close)
	u := *server.URL
	u.User = url.UserPassword(spec.User, testPassword)
	ctx := context.Background()
	client, err := govmomi.NewClient(ctx, &u, true)
	if err != nil {
		t.Fatal(err)
	}
	vm, err := find.NewFinder(client.Client, true).VirtualMachine(ctx, "/DC-Test/vm/app-01")
	if err != nil {
		t.Fatal(err)
	}
	return &labVCenter{server: server, client: client, vm: vm}
}

func (v *labVCenter) setRole(t *testing.T, body string) {
	t.Helper()
	u := *v.server.URL
	u.Path = labPrefix + "role"
	req, _ := http.NewRequest(http.MethodPut, u.String(), strings.NewReader(body))
	req.SetBasicAuth("svc-vmshift@vsphere.local", testPassword)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		text, _ := io.ReadAll(res.Body)
		t.Fatalf("PUT role: %d %s", res.StatusCode, text)
	}
}

func noPermission(t *testing.T, err error) *types.NoPermission {
	t.Helper()
	if err == nil || !soap.IsSoapFault(err) {
		t.Fatalf("want a NoPermission fault, got %v", err)
	}
	fault, ok := soap.ToSoapFault(err).VimFault().(types.NoPermission)
	if !ok {
		t.Fatalf("want a NoPermission fault, got %#v", soap.ToSoapFault(err).VimFault())
	}
	if msg := soap.ToSoapFault(err).String; msg != noPermissionMessage {
		t.Errorf("faultstring %q, want vCenter's %q", msg, noPermissionMessage)
	}
	return &fault
}

func TestSnapshotWithoutTheCreateSnapshotPrivilegeIsRefusedNamingPrivilegeAndVM(t *testing.T) {
	withoutCreate := []string{}
	for _, p := range replicationRole {
		if p != "VirtualMachine.State.CreateSnapshot" {
			withoutCreate = append(withoutCreate, p)
		}
	}
	v := startVCenter(t, &Role{Name: "vmshift", Privileges: withoutCreate})
	ctx := context.Background()

	_, err := v.vm.CreateSnapshot(ctx, "vmshift-cycle", "", false, false)
	fault := noPermission(t, err)
	if fault.PrivilegeId != "VirtualMachine.State.CreateSnapshot" || fault.Object != v.vm.Reference() {
		t.Errorf("NoPermission names %s on %v, want VirtualMachine.State.CreateSnapshot on %v",
			fault.PrivilegeId, fault.Object, v.vm.Reference())
	}
	if ref, err := v.vm.FindSnapshot(ctx, "vmshift-cycle"); err == nil {
		t.Fatalf("the refused call created snapshot %v", ref)
	}

	v.setRole(t, fmt.Sprintf(`{"name": "vmshift", "privileges": [%q]}`, "VirtualMachine.State.CreateSnapshot"))
	task, err := v.vm.CreateSnapshot(ctx, "vmshift-cycle", "", false, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Wait(ctx); err != nil {
		t.Fatalf("with the privilege granted, the snapshot failed: %v", err)
	}
}

func TestReconfigureNeedsThePrivilegeOfWhatItChanges(t *testing.T) {
	v := startVCenter(t, &Role{Name: "vmshift", Privileges: replicationRole})
	ctx := context.Background()

	task, err := v.vm.Reconfigure(ctx, types.VirtualMachineConfigSpec{ChangeTrackingEnabled: types.NewBool(true)})
	if err == nil {
		err = task.Wait(ctx)
	}
	if err != nil {
		t.Fatalf("switching CBT on with VirtualMachine.Config.ChangeTracking: %v", err)
	}

	devices, err := v.vm.Device(ctx)
	if err != nil {
		t.Fatal(err)
	}
	disk := devices.SelectByType((*types.VirtualDisk)(nil))[0].(*types.VirtualDisk)
	disk.CapacityInBytes *= 2
	disk.CapacityInKB *= 2
	_, err = v.vm.Reconfigure(ctx, types.VirtualMachineConfigSpec{DeviceChange: []types.BaseVirtualDeviceConfigSpec{
		&types.VirtualDeviceConfigSpec{Operation: types.VirtualDeviceConfigSpecOperationEdit, Device: disk},
	}})
	if fault := noPermission(t, err); fault.PrivilegeId != "VirtualMachine.Config.DiskExtend" {
		t.Errorf("growing a disk: NoPermission names %s, want VirtualMachine.Config.DiskExtend", fault.PrivilegeId)
	}
}

func TestHasPrivilegeOnEntitiesAnswersWithTheLabUsersRole(t *testing.T) {
	v := startVCenter(t, &Role{Name: "vmshift", Privileges: replicationRole})
	ctx := context.Background()
	session, err := v.client.SessionManager.UserSession(ctx)
	if err != nil {
		t.Fatal(err)
	}
	asked := []string{"VirtualMachine.State.CreateSnapshot", "VirtualMachine.Interact.PowerOff", "System.View"}
	ask := func(entity types.ManagedObjectReference) ([]types.EntityPrivilege, error) {
		res, err := methods.HasPrivilegeOnEntities(ctx, v.client, &types.HasPrivilegeOnEntities{
			This: *v.client.ServiceContent.AuthorizationManager, Entity: []types.ManagedObjectReference{entity},
			SessionId: session.Key, PrivId: asked,
		})
		if err != nil {
			return nil, err
		}
		return res.Returnval, nil
	}
	result, err := ask(v.vm.Reference())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, p := range result[0].PrivAvailability {
		got[p.PrivId] = p.IsGranted
	}
	want := map[string]bool{"VirtualMachine.State.CreateSnapshot": true, "VirtualMachine.Interact.PowerOff": false,
		"System.View": true}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("HasPrivilegeOnEntities answered %v, want %v", got, want)
	}

	_, err = ask(types.ManagedObjectReference{Type: "VirtualMachine", Value: "vm-none"})
	if _, ok := soap.ToSoapFault(err).VimFault().(types.ManagedObjectNotFound); !ok {
		t.Errorf("asking about an unknown VM: want ManagedObjectNotFound, got %v", err)
	}
}

func TestDatastoreFileAccessNeedsBrowseAndFileManagement(t *testing.T) {
	v := startVCenter(t, &Role{Name: "vmshift", Privileges: []string{"Datastore.Browse"}})
	u := *v.server.URL
	u.Path, u.RawQuery = "/folder/app-01/app-01-flat.vmdk", "dcPath=DC-Test&dsName=ds-01"
	get := func() (int, string) {
		req, _ := http.NewRequest(http.MethodGet, u.String(), nil)
		req.Header.Set("Range", "bytes=0-511")
		for _, c := range v.client.Client.Jar.Cookies(v.server.URL) {
			req.AddCookie(c)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		text, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(text)
	}

	status, text := get()
	if status != http.StatusForbidden || !strings.Contains(text, "Datastore.FileManagement") ||
		!strings.Contains(text, "ds-01") {
		t.Errorf("without Datastore.FileManagement: %d %q, want 403 naming the privilege and the datastore",
			status, text)
	}
	v.setRole(t, `{"name": "vmshift", "privileges": ["Datastore.Browse", "Datastore.FileManagement"]}`)
	if status, text := get(); status != http.StatusPartialContent {
		t.Errorf("with both privileges: %d %q, want 206", status, text)
	}
}

func TestARoleWithAPrivilegeVCenterDoesNotKnowIsRefused(t *testing.T) {
	_, _, err := serve(testSpec(&Role{Name: "vmshift", Privileges: []string{"VirtualMachine.State.CreateSnapshots"}}),
		t.TempDir(), testPassword, "127.0.0.1:0", nil)
	if err == nil || !strings.Contains(err.Error(), "VirtualMachine.State.CreateSnapshots") {
		t.Fatalf("want an error naming the unknown privilege, got %v", err)
	}
}

// TestEveryServedMethodHasItsPrivilege holds the privilege table to what the
// simulator and this extension serve: a method left out would be served to
// any role, which vCenter never does.
func TestEveryServedMethodHasItsPrivilege(t *testing.T) {
	startVCenter(t, nil)
	served := map[string]reflect.Type{}
	objects := reflect.ValueOf(simulator.Map).Elem().FieldByName("objects").MapRange()
	for objects.Next() {
		// Read without Interface(), which reflect refuses for an unexported field's values.
		served[objects.Key().FieldByName("Type").String()] = objects.Value().Elem().Type()
	}
	// Objects a session makes for itself.
	for name, object := range map[string]interface{}{
		"ContainerView": &simulator.ContainerView{}, "ListView": &simulator.ListView{},
		"PropertyFilter": &simulator.PropertyFilter{}, "EventHistoryCollector": &simulator.EventHistoryCollector{},
		"HttpNfcLease": &simulator.HttpNfcLease{}, "Task": &simulator.Task{},
	} {
		served[name] = reflect.TypeOf(object)
	}
	hasFault := reflect.TypeOf((*soap.HasFault)(nil)).Elem()
	for typeName, typ := range served {
		for i := 0; i < typ.NumMethod(); i++ {
			method := typ.Method(i)
			if method.Type.NumOut() != 1 || method.Type.Out(0) != hasFault {
				continue
			}
			name := soapName(method.Name)
			_, dynamic := dynamicPrivileges[name]
			_, typed := methodPrivileges[typeName+"."+name]
			_, plain := methodPrivileges[name]
			if !dynamic && !typed && !plain {
				t.Errorf("%s.%s is served but has no privilege in methodPrivileges", typeName, name)
			}
		}
	}
}

// soapName is the SOAP method the simulator dispatches to a Go method:
// FooTask serves Foo_Task, SetCustomValue serves setCustomValue.
func soapName(goName string) string {
	if strings.HasSuffix(goName, "Task") {
		if _, ok := types.TypeFunc()(strings.TrimSuffix(goName, "Task") + "_Task"); ok {
			return strings.TrimSuffix(goName, "Task") + "_Task"
		}
	}
	if _, ok := types.TypeFunc()(goName); ok {
		return goName
	}
	return strings.ToLower(goName[:1]) + goName[1:]
}
