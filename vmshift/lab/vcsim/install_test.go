package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// A lab guest's image installed into a new disk: its data is on the disk, its non-zero blocks count as
// written before tracking ("*" reports them, as vSphere reports a thin disk's allocated blocks), and a
// changeId taken once tracking started reports only what the guest writes afterwards.
func TestAnInstalledGuestImageIsAllocatedButNotAChangeSinceTracking(t *testing.T) {
	dir := t.TempDir()
	image := filepath.Join(dir, "guest.img")
	data := make([]byte, 3*BlockSize)
	copy(data[BlockSize+10:], "installed")
	if err := os.WriteFile(image, data, 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := newDisk(2000, "ds1", dir, "vm1/vm1", 8*BlockSize)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Install(image); err != nil {
		t.Fatal(err)
	}
	if got := d.Changed(0, d.Epoch).sorted(); !reflect.DeepEqual(got, []int64{1}) {
		t.Fatalf("allocated blocks after install: %v, want [1] (the zero blocks are holes)", got)
	}
	buf := make([]byte, len("installed"))
	if err := d.ReadAt(0, BlockSize+10, buf); err != nil || string(buf) != "installed" {
		t.Fatalf("read back %q, %v", buf, err)
	}
	d.StartTracking()
	since := d.Epoch - 1
	if err := d.Write(5*BlockSize, []byte("guest")); err != nil {
		t.Fatal(err)
	}
	if got := d.Changed(since, d.Epoch).sorted(); !reflect.DeepEqual(got, []int64{5}) {
		t.Fatalf("changes since tracking started: %v, want only the guest's write [5]", got)
	}
}

func TestAnImageLargerThanTheDiskIsRefused(t *testing.T) {
	dir := t.TempDir()
	image := filepath.Join(dir, "big.img")
	if err := os.WriteFile(image, make([]byte, 2*BlockSize), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := newDisk(2000, "ds1", dir, "vm1/vm1", BlockSize)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Install(image); err == nil || !strings.Contains(err.Error(), "larger than the disk") {
		t.Fatalf("installing a 128 KiB image on a 64 KiB disk: %v", err)
	}
}
