package main

import (
	"encoding/json"
	"fmt"
	"os"
)

// Spec is the "vcenter" section of the lab spec. The Python side validates
// the whole file strictly before starting us; other sections are ignored here.
type Spec struct {
	Datacenter string          `json:"datacenter"`
	User       string          `json:"user"`
	Role       *Role           `json:"role"`
	Clusters   []ClusterSpec   `json:"clusters"`
	Datastores []DatastoreSpec `json:"datastores"`
	Networks   []string        `json:"networks"`
	VMs        []VMSpec        `json:"vms"`
}

type ClusterSpec struct {
	Name  string   `json:"name"`
	Hosts []string `json:"hosts"`
}

type DatastoreSpec struct {
	Name        string `json:"name"`
	CapacityGiB int64  `json:"capacity_gib"`
}

type VMSpec struct {
	Name       string     `json:"name"`
	GuestID    string     `json:"guest_id"`
	Firmware   string     `json:"firmware"`
	CPUs       int32      `json:"cpus"`
	MemoryMiB  int64      `json:"memory_mib"`
	PowerState string     `json:"power_state"`
	Host       string     `json:"host"`
	Datastore  string     `json:"datastore"`
	Disks      []DiskSpec `json:"disks"`
	NICs       []NICSpec  `json:"nics"`
}

type DiskSpec struct {
	CapacityMiB int64 `json:"capacity_mib"`
	// ImageFile is a raw disk image (a lab guest's installed system) the disk
	// starts with; the launcher builds it and puts its absolute path here.
	ImageFile string `json:"image_file,omitempty"`
}

type NICSpec struct {
	Network string `json:"network"`
}

func loadSpec(path string) (*Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var file struct {
		VCenter *Spec `json:"vcenter"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		return nil, fmt.Errorf("lab spec %s: %w", path, err)
	}
	if file.VCenter == nil {
		return nil, fmt.Errorf("lab spec %s has no \"vcenter\" section", path)
	}
	return file.VCenter, nil
}
