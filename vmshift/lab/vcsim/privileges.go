package main

import (
	"reflect"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// need is one privilege a call needs on one object.
type need struct {
	privilege string
	object    types.ManagedObjectReference
}

// Privileges every session holds: vCenter adds them to every role
// (AuthorizationManager.AddAuthorizationRole), so a role never lacks them.
const (
	anonymous = "System.Anonymous"
	view      = "System.View"
	read      = "System.Read"
)

// methodPrivileges is the privilege each SOAP method the simulator serves
// needs on its managed object ("Required privileges" in the vSphere API
// reference). A key "Type.Method" comes before "Method", since Destroy_Task
// and Rename_Task need another privilege on each type. Methods whose
// privilege depends on the request are in dynamicPrivileges.
var methodPrivileges = map[string]string{
	// Sessions, the property collector and views: any session.
	"RetrieveServiceContent":       anonymous,
	"RetrieveInternalContent":      anonymous,
	"CurrentTime":                  view,
	"Login":                        anonymous,
	"LoginByToken":                 anonymous,
	"LoginExtensionByCertificate":  anonymous,
	"Logout":                       anonymous,
	"AcquireCloneTicket":           anonymous,
	"CloneSession":                 anonymous,
	"AcquireGenericServiceTicket":  anonymous,
	"SessionIsActive":              "Sessions.ValidateSession",
	"TerminateSession":             "Sessions.TerminateSession",
	"RetrieveProperties":           anonymous,
	"RetrievePropertiesEx":         anonymous,
	"ContinueRetrievePropertiesEx": anonymous,
	"CancelRetrievePropertiesEx":   anonymous,
	"CreateFilter":                 anonymous,
	"DestroyPropertyFilter":        anonymous,
	"CreatePropertyCollector":      anonymous,
	"DestroyPropertyCollector":     anonymous,
	"WaitForUpdates":               anonymous,
	"WaitForUpdatesEx":             anonymous,
	"CancelWaitForUpdates":         anonymous,
	"Fetch":                        anonymous,
	"CreateContainerView":          view,
	"CreateListView":               view,
	"DestroyView":                  view,
	"ModifyListView":               view,
	"ResetListView":                view,
	"RetrieveUserGroups":           view,

	// Authorization.
	"HasPrivilegeOnEntities":       view,
	"HasPrivilegeOnEntity":         view,
	"HasUserPrivilegeOnEntities":   view,
	"FetchUserPrivilegeOnEntities": view,
	"RetrieveAllPermissions":       view,
	"RetrieveRolePermissions":      view,
	"RetrieveEntityPermissions":    read,
	"AddAuthorizationRole":         "Authorization.ModifyRoles",
	"UpdateAuthorizationRole":      "Authorization.ModifyRoles",
	"RemoveAuthorizationRole":      "Authorization.ModifyRoles",
	"SetEntityPermissions":         "Authorization.ModifyPermissions",
	"RemoveEntityPermission":       "Authorization.ModifyPermissions",

	// Virtual machines: what vmshift calls, and what an administrator does around it.
	"CreateSnapshot_Task":          "VirtualMachine.State.CreateSnapshot",
	"RemoveSnapshot_Task":          "VirtualMachine.State.RemoveSnapshot",
	"RemoveAllSnapshots_Task":      "VirtualMachine.State.RemoveSnapshot",
	"ConsolidateVMDisks_Task":      "VirtualMachine.State.RemoveSnapshot",
	"RevertToSnapshot_Task":        "VirtualMachine.State.RevertToSnapshot",
	"RevertToCurrentSnapshot_Task": "VirtualMachine.State.RevertToSnapshot",
	"QueryChangedDiskAreas":        "VirtualMachine.Provisioning.DiskRandomRead",
	"PowerOnVM_Task":               "VirtualMachine.Interact.PowerOn",
	"PowerOffVM_Task":              "VirtualMachine.Interact.PowerOff",
	"ShutdownGuest":                "VirtualMachine.Interact.PowerOff",
	"ResetVM_Task":                 "VirtualMachine.Interact.Reset",
	"SuspendVM_Task":               "VirtualMachine.Interact.Suspend",
	"AcquireTicket":                "VirtualMachine.Interact.ConsoleInteract",
	"CloneVM_Task":                 "VirtualMachine.Provisioning.Clone",
	"CustomizeVM_Task":             "VirtualMachine.Provisioning.Customize",
	"MarkAsTemplate":               "VirtualMachine.Provisioning.MarkAsTemplate",
	"MarkAsVirtualMachine":         "VirtualMachine.Provisioning.MarkAsVM",
	"UnregisterVM":                 "VirtualMachine.Inventory.Unregister",
	"UpgradeVM_Task":               "VirtualMachine.Config.UpgradeVirtualHardware",
	"RefreshStorageInfo":           read,
	"RelocateVM_Task":              "Resource.ColdMigrate",
	"setCustomValue":               "Global.SetCustomField",
	"VirtualMachine.Destroy_Task":  "VirtualMachine.Inventory.Delete",
	"VirtualMachine.Rename_Task":   "VirtualMachine.Config.Rename",
	"CreateChildVM_Task":           "VirtualMachine.Inventory.Create",
	"RegisterVM_Task":              "VirtualMachine.Inventory.Register",

	// Inventory: folders, datacenters, clusters, hosts, pools, vApps.
	"Folder.Destroy_Task":                         "Folder.Delete",
	"Folder.Rename_Task":                          "Folder.Rename",
	"CreateFolder":                                "Folder.Create",
	"MoveIntoFolder_Task":                         "Folder.Move",
	"CreateDatacenter":                            "Datacenter.Create",
	"Datacenter.Destroy_Task":                     "Datacenter.Delete",
	"Datacenter.Rename_Task":                      "Datacenter.Rename",
	"PowerOnMultiVM_Task":                         "VirtualMachine.Interact.PowerOn",
	"CreateClusterEx":                             "Host.Inventory.CreateCluster",
	"AddStandaloneHost_Task":                      "Host.Inventory.AddStandaloneHost",
	"AddHost_Task":                                "Host.Inventory.AddHostToCluster",
	"ReconfigureComputeResource_Task":             "Host.Inventory.EditCluster",
	"ClusterComputeResource.Rename_Task":          "Host.Inventory.RenameCluster",
	"ClusterComputeResource.Destroy_Task":         "Host.Inventory.DeleteCluster",
	"PlaceVm":                                     view,
	"HostSystem.Destroy_Task":                     "Host.Inventory.RemoveHostFromCluster",
	"EnterMaintenanceMode_Task":                   "Host.Config.Maintenance",
	"ExitMaintenanceMode_Task":                    "Host.Config.Maintenance",
	"CreateResourcePool":                          "Resource.CreatePool",
	"UpdateConfig":                                "Resource.EditPool",
	"ResourcePool.Destroy_Task":                   "Resource.DeletePool",
	"CreateVApp":                                  "VApp.Create",
	"ImportVApp":                                  "VApp.Import",
	"CloneVApp_Task":                              "VApp.Clone",
	"VirtualApp.Destroy_Task":                     "VApp.Delete",
	"CreateStoragePod":                            "StoragePod.Config",
	"ConfigureStorageDrsForPod_Task":              "StoragePod.Config",
	"RecommendDatastores":                         view,
	"Datastore.Destroy_Task":                      "Datastore.Delete",
	"RefreshDatastore":                            read,
	"CreateDVS_Task":                              "DVSwitch.Create",
	"ReconfigureDvs_Task":                         "DVSwitch.Modify",
	"DistributedVirtualSwitch.Destroy_Task":       "DVSwitch.Delete",
	"VmwareDistributedVirtualSwitch.Destroy_Task": "DVSwitch.Delete",
	"FetchDVPorts":                                read,
	"AddDVPortgroup_Task":                         "DVPortgroup.Create",
	"ReconfigureDVPortgroup_Task":                 "DVPortgroup.Modify",
	"DistributedVirtualPortgroup.Destroy_Task":    "DVPortgroup.Delete",
	"AddOpaqueNetwork":                            "Network.Config",
	"QueryConfigOption":                           view,
	"QueryConfigOptionDescriptor":                 view,
	"QueryConfigOptionEx":                         view,
	"QueryConfigTarget":                           view,

	// Host configuration.
	"CreateLocalDatastore": "Host.Config.Storage",
	"CreateNasDatastore":   "Host.Config.Storage",
	"RefreshStorageSystem": "Host.Config.Storage",
	"RescanAllHba":         "Host.Config.Storage",
	"RescanVmfs":           "Host.Config.Storage",
	"AddPortGroup":         "Host.Config.Network",
	"RemovePortGroup":      "Host.Config.Network",
	"AddVirtualSwitch":     "Host.Config.Network",
	"RemoveVirtualSwitch":  "Host.Config.Network",
	"UpdateNetworkConfig":  "Host.Config.Network",
	"QueryNetworkHint":     read,
	"EnableRuleset":        "Host.Config.NetService",
	"DisableRuleset":       "Host.Config.NetService",
	"CreateUser":           "Host.Local.ManageUserGroups",
	"UpdateUser":           "Host.Local.ManageUserGroups",
	"RemoveUser":           "Host.Local.ManageUserGroups",

	// Datastore files and disks.
	"SearchDatastore_Task":           "Datastore.Browse",
	"SearchDatastoreSubFolders_Task": "Datastore.Browse",
	"MakeDirectory":                  "Datastore.FileManagement",
	"CopyDatastoreFile_Task":         "Datastore.FileManagement",
	"MoveDatastoreFile_Task":         "Datastore.FileManagement",
	"DeleteDatastoreFile_Task":       "Datastore.FileManagement",
	"CreateVirtualDisk_Task":         "Datastore.FileManagement",
	"CopyVirtualDisk_Task":           "Datastore.FileManagement",
	"MoveVirtualDisk_Task":           "Datastore.FileManagement",
	"DeleteVirtualDisk_Task":         "Datastore.FileManagement",
	"SetVirtualDiskUuid":             "Datastore.FileManagement",
	"QueryVirtualDiskUuid":           view,
	"HttpNfcLeaseAbort":              anonymous,
	"HttpNfcLeaseComplete":           anonymous,
	"HttpNfcLeaseProgress":           anonymous,
	"CreateImportSpec":               view,
	"InitiateFileTransferFromGuest":  "VirtualMachine.GuestOperations.Query",
	"InitiateFileTransferToGuest":    "VirtualMachine.GuestOperations.Modify",

	// First-class disks.
	"CreateDisk_Task":                   "Datastore.FileManagement",
	"RegisterDisk":                      "Datastore.FileManagement",
	"DeleteVStorageObject_Task":         "Datastore.FileManagement",
	"VStorageObjectCreateSnapshot_Task": "Datastore.FileManagement",
	"DeleteSnapshot_Task":               "Datastore.FileManagement",
	"ReconcileDatastoreInventory_Task":  "Datastore.FileManagement",
	"RetrieveVStorageObject":            view,
	"RetrieveSnapshotInfo":              view,
	"ListVStorageObject":                view,
	"AttachTagToVStorageObject":         "InventoryService.Tagging.AttachTag",
	"DetachTagFromVStorageObject":       "InventoryService.Tagging.AttachTag",
	"ListTagsAttachedToVStorageObject":  view,
	"ListVStorageObjectsAttachedToTag":  view,

	// Events, fields, options, licences, IP pools, customization, performance, search.
	"QueryEvents":                view,
	"CreateCollectorForEvents":   view,
	"PostEvent":                  "Global.LogEvent",
	"ReadNextEvents":             view,
	"ReadPreviousEvents":         view,
	"ResetCollector":             view,
	"RewindCollector":            view,
	"SetCollectorPageSize":       view,
	"DestroyCollector":           view,
	"AddCustomFieldDef":          "Global.ManageCustomFields",
	"RemoveCustomFieldDef":       "Global.ManageCustomFields",
	"RenameCustomFieldDef":       "Global.ManageCustomFields",
	"SetField":                   "Global.SetCustomField",
	"QueryOptions":               read,
	"UpdateOptions":              "Global.Settings",
	"AddLicense":                 "Global.Licenses",
	"RemoveLicense":              "Global.Licenses",
	"UpdateLicenseLabel":         "Global.Licenses",
	"QueryAssignedLicenses":      "Global.Licenses",
	"CreateIpPool":               "Datacenter.IpPoolConfig",
	"UpdateIpPool":               "Datacenter.IpPoolConfig",
	"DestroyIpPool":              "Datacenter.IpPoolConfig",
	"AllocateIpv4Address":        "Datacenter.IpPoolConfig",
	"AllocateIpv6Address":        "Datacenter.IpPoolConfig",
	"QueryIpPools":               view,
	"QueryIPAllocations":         "Datacenter.IpPoolQueryAllocations",
	"ReleaseIpAllocation":        "Datacenter.IpPoolReleaseIp",
	"CreateCustomizationSpec":    "VirtualMachine.Provisioning.ModifyCustSpecs",
	"OverwriteCustomizationSpec": "VirtualMachine.Provisioning.ModifyCustSpecs",
	"DoesCustomizationSpecExist": "VirtualMachine.Provisioning.ReadCustSpecs",
	"GetCustomizationSpec":       "VirtualMachine.Provisioning.ReadCustSpecs",
	"QueryAvailablePerfMetric":   view,
	"QueryPerf":                  view,
	"QueryPerfCounter":           view,
	"QueryPerfProviderSummary":   view,
	"FindByDatastorePath":        view,
	"FindByDnsName":              view,
	"FindAllByDnsName":           view,
	"FindByInventoryPath":        view,
	"FindByIp":                   view,
	"FindAllByIp":                view,
	"FindByUuid":                 view,
	"FindChild":                  view,
}

// dynamicPrivileges are the methods whose privileges depend on the request.
var dynamicPrivileges = map[string]func(this types.ManagedObjectReference, body interface{}) []need{
	"ReconfigVM_Task": reconfigPrivileges,
	"CreateVM_Task": func(this types.ManagedObjectReference, body interface{}) []need {
		req := body.(*types.CreateVM_Task)
		return []need{{"VirtualMachine.Inventory.Create", this}, {"Resource.AssignVMToPool", req.Pool}}
	},
}

// reconfigPrivileges follows the vSphere API reference of ReconfigVM_Task:
// each part of the spec needs its own VirtualMachine.Config privilege.
func reconfigPrivileges(this types.ManagedObjectReference, body interface{}) []need {
	spec := body.(*types.ReconfigVM_Task).Spec
	var needs []need
	add := func(privilege string) { needs = append(needs, need{privilege, this}) }
	if spec.ChangeTrackingEnabled != nil {
		add("VirtualMachine.Config.ChangeTracking")
	}
	if spec.Name != "" {
		add("VirtualMachine.Config.Rename")
	}
	if spec.NumCPUs != 0 {
		add("VirtualMachine.Config.CPUCount")
	}
	if spec.MemoryMB != 0 {
		add("VirtualMachine.Config.Memory")
	}
	if spec.Annotation != "" {
		add("VirtualMachine.Config.Annotation")
	}
	if len(spec.ExtraConfig) > 0 {
		add("VirtualMachine.Config.AdvancedConfig")
	}
	for _, change := range spec.DeviceChange {
		add(deviceChangePrivilege(change.GetVirtualDeviceConfigSpec()))
	}
	rest := spec
	rest.ChangeTrackingEnabled, rest.Name, rest.NumCPUs, rest.MemoryMB = nil, "", 0, 0
	rest.Annotation, rest.ExtraConfig, rest.DeviceChange = "", nil, nil
	if !reflect.DeepEqual(rest, types.VirtualMachineConfigSpec{}) {
		add("VirtualMachine.Config.Settings")
	}
	return needs
}

func deviceChangePrivilege(change *types.VirtualDeviceConfigSpec) string {
	_, disk := change.Device.(*types.VirtualDisk)
	switch {
	case disk && change.Operation == types.VirtualDeviceConfigSpecOperationEdit:
		return "VirtualMachine.Config.DiskExtend"
	case disk && change.Operation == types.VirtualDeviceConfigSpecOperationRemove:
		return "VirtualMachine.Config.RemoveDisk"
	case disk && change.FileOperation == types.VirtualDeviceConfigSpecFileOperationCreate:
		return "VirtualMachine.Config.AddNewDisk"
	case disk:
		return "VirtualMachine.Config.AddExistingDisk"
	case change.Operation == types.VirtualDeviceConfigSpecOperationEdit:
		return "VirtualMachine.Config.EditDevice"
	default:
		return "VirtualMachine.Config.AddRemoveDevice"
	}
}

// requiredPrivileges lists what a call needs, in the order vCenter checks:
// the first one missing is the one its NoPermission names. ok is false for a
// method the table does not know, which the simulator does not serve either
// (TestEveryServedMethodHasItsPrivilege holds the table to what it serves).
func requiredPrivileges(method *simulator.Method) (needs []need, ok bool) {
	if dynamic, found := dynamicPrivileges[method.Name]; found {
		return dynamic(method.This, method.Body), true
	}
	privilege, found := methodPrivileges[method.This.Type+"."+method.Name]
	if !found {
		privilege, found = methodPrivileges[method.Name]
	}
	if !found {
		return nil, false
	}
	return []need{{privilege, method.This}}, true
}
