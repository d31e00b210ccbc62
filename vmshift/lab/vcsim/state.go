package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// VMState is what survives a restart of vcsim for one VM: its disks with their
// data, redo logs and change history, its power state, its CBT setting,
// whether vSphere reports that its disks need consolidation and how its guest
// answers a shutdown request.
type VMState struct {
	Name                string        `json:"name"`
	PowerState          string        `json:"power_state"`
	CBT                 bool          `json:"change_tracking_enabled"`
	ConsolidationNeeded bool          `json:"consolidation_needed,omitempty"`
	GuestShutdown       GuestShutdown `json:"guest_shutdown,omitempty"`
	Disks               []*Disk       `json:"disks"`

	vm             *VM
	snapshots      []*Snapshot
	lastSnapshotID int32
}

func (s *VMState) disk(key int32) *Disk {
	for _, d := range s.Disks {
		if d.Key == key {
			return d
		}
	}
	return nil
}

// Lab holds the state of every VM's disks. One lock guards it: guest writes,
// snapshots and queries on a disk must see each other whole.
type Lab struct {
	mu       sync.Mutex
	file     string
	dsDirs   map[string]string
	VMs      map[string]*VMState `json:"vms"`
	password string
	user     string
}

func loadLab(stateDir string, dsDirs map[string]string) (*Lab, error) {
	lab := &Lab{file: filepath.Join(stateDir, "vcsim-state.json"), dsDirs: dsDirs, VMs: map[string]*VMState{}}
	data, err := os.ReadFile(lab.file)
	if os.IsNotExist(err) {
		return lab, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, lab); err != nil {
		return nil, fmt.Errorf("state file %s: %w", lab.file, err)
	}
	for _, vm := range lab.VMs {
		for _, d := range vm.Disks {
			d.dir = dsDirs[d.Datastore]
			if d.Changes == nil {
				d.Changes = map[int64]BlockSet{}
			}
			// Snapshots live in memory only; a restarted vCenter has none, so
			// redo logs left by a stopped process are consolidated now.
			for d.Top() > 0 {
				if err := d.Consolidate(d.Top() - 1); err != nil {
					return nil, err
				}
			}
		}
	}
	return lab, lab.save()
}

// save writes the state atomically, so a killed process leaves the previous one.
func (l *Lab) save() error {
	data, err := json.Marshal(l)
	if err != nil {
		return err
	}
	tmp := l.file + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, l.file)
}
