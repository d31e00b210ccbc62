package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// BlockSize is the granularity of Changed Block Tracking and of the redo logs.
// ESXi's ctk files track 64 KiB blocks on disks of this size class, so a guest
// write of one byte reports the whole 64 KiB block around it as changed.
const BlockSize = 64 * 1024

// BlockSet is a set of 64 KiB block numbers, stored on disk as [first, count] runs.
type BlockSet map[int64]struct{}

func (s BlockSet) sorted() []int64 {
	blocks := make([]int64, 0, len(s))
	for b := range s {
		blocks = append(blocks, b)
	}
	sort.Slice(blocks, func(i, j int) bool { return blocks[i] < blocks[j] })
	return blocks
}

// MarshalJSON writes runs so that a state file stays small for large disks.
func (s BlockSet) MarshalJSON() ([]byte, error) {
	runs := [][2]int64{}
	for _, b := range s.sorted() {
		if n := len(runs); n > 0 && runs[n-1][0]+runs[n-1][1] == b {
			runs[n-1][1]++
			continue
		}
		runs = append(runs, [2]int64{b, 1})
	}
	return json.Marshal(runs)
}

// UnmarshalJSON reads the runs written by MarshalJSON.
func (s *BlockSet) UnmarshalJSON(data []byte) error {
	var runs [][2]int64
	if err := json.Unmarshal(data, &runs); err != nil {
		return err
	}
	*s = BlockSet{}
	for _, r := range runs {
		for b := r[0]; b < r[0]+r[1]; b++ {
			(*s)[b] = struct{}{}
		}
	}
	return nil
}

// Layer is one file of a disk's chain: the base disk or a redo log (delta)
// created by a snapshot. Blocks lists what a redo log holds; the base holds all.
type Layer struct {
	Descriptor string   `json:"descriptor"`
	Extent     string   `json:"extent"`
	Number     int      `json:"number,omitempty"`
	Blocks     BlockSet `json:"blocks,omitempty"`
}

// CBT is a disk's change tracking identity. A changeId is "<ID>/<epoch>": the ID
// changes every time tracking is switched on again or the disk is resized, which
// is what makes changeIds from before that point unusable, as on ESXi.
type CBT struct {
	ID      string `json:"id,omitempty"`
	Active  bool   `json:"active"`
	Pending bool   `json:"pending"`
	Since   int64  `json:"since"`
}

// Disk is a virtual disk's data and its change history.
type Disk struct {
	Key       int32              `json:"key"`
	Datastore string             `json:"datastore"`
	Capacity  int64              `json:"capacity"`
	Layers    []*Layer           `json:"layers"`
	CBT       CBT                `json:"cbt"`
	Epoch     int64              `json:"epoch"`
	Changes   map[int64]BlockSet `json:"changes"`

	dir string
}

// newDisk creates the descriptor and a sparse flat extent of the given size.
func newDisk(key int32, datastore, dir, base string, capacity int64) (*Disk, error) {
	d := &Disk{
		Key: key, Datastore: datastore, Capacity: capacity, Epoch: 1,
		Layers:  []*Layer{{Descriptor: base + ".vmdk", Extent: base + "-flat.vmdk"}},
		Changes: map[int64]BlockSet{},
		dir:     dir,
	}
	if err := os.MkdirAll(filepath.Dir(d.path(base)), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(d.path(d.Layers[0].Extent), os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := f.Truncate(capacity); err != nil {
		return nil, err
	}
	return d, d.writeDescriptor(d.Layers[0], "")
}

// Install writes a guest image into a new disk, as an OS installed on the VM
// left it: the image's non-zero blocks are written and count as written
// before any tracking, so QueryChangedDiskAreas("*") reports them as
// allocated and an initial replication copies them.
func (d *Disk) Install(image string) error {
	f, err := os.Open(image)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	if info.Size() > d.Capacity {
		return fmt.Errorf("image %s (%d bytes) is larger than the disk (%d bytes)", image, info.Size(), d.Capacity)
	}
	written := BlockSet{}
	buf := make([]byte, BlockSize)
	for block := int64(0); block*BlockSize < info.Size(); block++ {
		n, err := f.ReadAt(buf, block*BlockSize)
		if err != nil && err != io.EOF {
			return err
		}
		if isZero(buf[:n]) {
			continue
		}
		if err := writeFile(d.path(d.Layers[0].Extent), block*BlockSize, buf[:n]); err != nil {
			return err
		}
		written[block] = struct{}{}
	}
	d.Changes[d.Epoch] = written
	return nil
}

func isZero(data []byte) bool {
	for _, b := range data {
		if b != 0 {
			return false
		}
	}
	return true
}

func (d *Disk) path(rel string) string { return filepath.Join(d.dir, filepath.FromSlash(rel)) }

// DatastorePath is how vSphere names a layer: "[ds] vm/vm.vmdk".
func (d *Disk) DatastorePath(layer int) string {
	return fmt.Sprintf("[%s] %s", d.Datastore, d.Layers[layer].Descriptor)
}

// Top is the layer the guest writes to.
func (d *Disk) Top() int { return len(d.Layers) - 1 }

// writeDescriptor writes a text descriptor like ESXi's, so that a person
// browsing the datastore folder sees which extent and parent a file has.
func (d *Disk) writeDescriptor(l *Layer, parent string) error {
	kind, parentLine := "vmfs", ""
	if parent != "" {
		kind = "vmfsSparse"
		parentLine = fmt.Sprintf("parentFileNameHint=%q\n", filepath.Base(parent))
	}
	text := fmt.Sprintf("# Disk DescriptorFile\nversion=1\nCID=fffffffe\ncreateType=%q\n%s\n"+
		"# Extent description\nRW %d %s %q\n", kind, parentLine, d.Capacity/512,
		map[bool]string{true: "VMFSSPARSE", false: "VMFS"}[parent != ""], filepath.Base(l.Extent))
	return os.WriteFile(d.path(l.Descriptor), []byte(text), 0o644)
}

// ChangeID formats vSphere's changeId: a per-disk UUID written as 16 hex
// bytes ("52 de ... f5-97 ... 7a") and the sequence number after a slash.
func (d *Disk) ChangeID(epoch int64) string {
	id := strings.ReplaceAll(d.CBT.ID, "-", "")
	var parts []string
	for i := 0; i < 32; i += 2 {
		parts = append(parts, id[i:i+2])
	}
	return strings.Join(parts[:8], " ") + "-" + strings.Join(parts[8:], " ") + "/" + strconv.FormatInt(epoch, 10)
}

// ParseChangeID splits a changeId into its tracking ID and epoch.
func ParseChangeID(changeID string) (string, int64, bool) {
	slash := strings.LastIndex(changeID, "/")
	if slash < 0 {
		return "", 0, false
	}
	epoch, err := strconv.ParseInt(changeID[slash+1:], 10, 64)
	hexID := strings.NewReplacer(" ", "", "-", "").Replace(changeID[:slash])
	if err != nil || len(hexID) != 32 {
		return "", 0, false
	}
	parsed, err := uuid.Parse(hexID)
	if err != nil {
		return "", 0, false
	}
	return parsed.String(), epoch, true
}

// StartTracking gives the disk a new tracking identity: changeIds of an
// earlier identity are refused from now on.
func (d *Disk) StartTracking() {
	d.Epoch++
	d.CBT = CBT{ID: uuid.New().String(), Active: true, Since: d.Epoch}
}

// StopTracking forgets the tracking identity, as ESXi deletes the ctk file.
func (d *Disk) StopTracking() { d.CBT = CBT{} }

func (d *Disk) holder(block int64, upTo int) *Layer {
	for i := upTo; i > 0; i-- {
		if _, ok := d.Layers[i].Blocks[block]; ok {
			return d.Layers[i]
		}
	}
	return d.Layers[0]
}

// ReadAt reads the disk as seen through layer upTo: a snapshot sees only the
// layers below the redo log it started.
func (d *Disk) ReadAt(upTo int, offset int64, buf []byte) error {
	for done := 0; done < len(buf); {
		pos := offset + int64(done)
		block := pos / BlockSize
		n := int(minInt64(int64(len(buf)-done), (block+1)*BlockSize-pos))
		if err := readFile(d.path(d.holder(block, upTo).Extent), pos, buf[done:done+n]); err != nil {
			return err
		}
		done += n
	}
	return nil
}

// Write writes guest data into the top layer, copying a block up from the
// layers below before its first partial write, and records it for CBT.
func (d *Disk) Write(offset int64, data []byte) error {
	if offset < 0 || offset+int64(len(data)) > d.Capacity {
		return fmt.Errorf("write of %d bytes at %d is outside the disk of %d bytes", len(data), offset, d.Capacity)
	}
	top := d.Layers[d.Top()]
	changed := d.Changes[d.Epoch]
	if changed == nil {
		changed = BlockSet{}
		d.Changes[d.Epoch] = changed
	}
	if len(data) == 0 {
		return nil
	}
	for block := offset / BlockSize; block <= (offset+int64(len(data))-1)/BlockSize; block++ {
		changed[block] = struct{}{}
		if d.Top() == 0 {
			continue
		}
		if _, ok := top.Blocks[block]; ok {
			continue
		}
		buf := make([]byte, minInt64(BlockSize, d.Capacity-block*BlockSize))
		if err := d.ReadAt(d.Top()-1, block*BlockSize, buf); err != nil {
			return err
		}
		if err := writeFile(d.path(top.Extent), block*BlockSize, buf); err != nil {
			return err
		}
		top.Blocks[block] = struct{}{}
	}
	return writeFile(d.path(top.Extent), offset, data)
}

// Snapshot freezes the top layer and starts a redo log above it. It returns
// the frozen layer and the changeId of this point ("" without CBT).
func (d *Disk) Snapshot() (int, string, error) {
	frozen := d.Top()
	number := 1
	for _, l := range d.Layers {
		if l.Number >= number {
			number = l.Number + 1
		}
	}
	base := strings.TrimSuffix(d.Layers[0].Descriptor, ".vmdk")
	delta := &Layer{
		Descriptor: fmt.Sprintf("%s-%06d.vmdk", base, number),
		Extent:     fmt.Sprintf("%s-%06d-delta.vmdk", base, number),
		Number:     number,
		Blocks:     BlockSet{},
	}
	f, err := os.Create(d.path(delta.Extent))
	if err != nil {
		return 0, "", err
	}
	_ = f.Close()
	if err := d.writeDescriptor(delta, d.Layers[frozen].Descriptor); err != nil {
		return 0, "", err
	}
	d.Layers = append(d.Layers, delta)
	changeID := ""
	if d.CBT.Active {
		changeID = d.ChangeID(d.Epoch)
	}
	d.Epoch++
	return frozen, changeID, nil
}

// Consolidate merges the redo log above layer into it, as removing the
// snapshot that froze that layer does.
func (d *Disk) Consolidate(layer int) error {
	child := d.Layers[layer+1]
	parent := d.Layers[layer]
	buf := make([]byte, BlockSize)
	for _, block := range child.Blocks.sorted() {
		chunk := buf[:minInt64(BlockSize, d.Capacity-block*BlockSize)]
		if err := readFile(d.path(child.Extent), block*BlockSize, chunk); err != nil {
			return err
		}
		if err := writeFile(d.path(parent.Extent), block*BlockSize, chunk); err != nil {
			return err
		}
		if layer > 0 {
			parent.Blocks[block] = struct{}{}
		}
	}
	_ = os.Remove(d.path(child.Extent))
	_ = os.Remove(d.path(child.Descriptor))
	d.Layers = append(d.Layers[:layer+1], d.Layers[layer+2:]...)
	return nil
}

// Grow extends the disk. ESXi resets change tracking on a resize, so the
// disk gets a new tracking identity and the next replication is a full one.
func (d *Disk) Grow(capacity int64) error {
	if err := os.Truncate(d.path(d.Layers[0].Extent), capacity); err != nil {
		return err
	}
	d.Capacity = capacity
	if d.CBT.Active {
		d.StartTracking()
	}
	return d.writeDescriptor(d.Layers[0], "")
}

// Changed lists the blocks written after epoch since and up to epoch until.
func (d *Disk) Changed(since, until int64) BlockSet {
	out := BlockSet{}
	for epoch, blocks := range d.Changes {
		if epoch > since && epoch <= until {
			for b := range blocks {
				out[b] = struct{}{}
			}
		}
	}
	return out
}

func readFile(path string, offset int64, buf []byte) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := f.ReadAt(buf, offset)
	for i := n; i < len(buf); i++ {
		buf[i] = 0 // a sparse redo log may end before the block does
	}
	if err != nil && n < len(buf) && err != io.EOF {
		return err
	}
	return nil
}

func writeFile(path string, offset int64, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteAt(data, offset)
	return err
}

func minInt64(a, b int64) int64 {
	if a < b {
		return a
	}
	return b
}
