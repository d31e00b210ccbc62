package main

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
	_ "unsafe" // go:linkname, for the simulator's session lock

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

const (
	folderPrefix = "/folder/"
	// labPrefix is not a path vCenter serves, so the lab's guest-write
	// endpoint can never be mistaken for a vSphere API.
	labPrefix = "/vmshift-lab/"
	// churnWriteSize is the size of one random guest write of a churn, the
	// page size most guest file systems write in.
	churnWriteSize = 4096
	maxGuestWrite  = 256 << 20
)

// router serves datastore file access and the lab endpoint in front of the
// simulator's own handlers.
type router struct {
	sdk        http.Handler
	lab        *Lab
	auth       *authorizer
	datacenter string
	datastores map[string]types.ManagedObjectReference
}

func (h *router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.HasPrefix(r.URL.Path, folderPrefix):
		h.serveFolder(w, r)
	case strings.HasPrefix(r.URL.Path, labPrefix):
		h.serveLab(w, r)
	default:
		h.sdk.ServeHTTP(w, r)
	}
}

func (h *router) basicAuthOK(r *http.Request) bool {
	user, password, ok := r.BasicAuth()
	return ok && subtle.ConstantTimeCompare([]byte(user), []byte(h.lab.user)) == 1 &&
		subtle.ConstantTimeCompare([]byte(password), []byte(h.lab.password)) == 1
}

// simulatorSessionLock is the simulator's own lock over SessionManager.sessions
// (govmomi 0.24's package-level sessionMutex). The simulator writes that table
// on every SOAP call, not only at login, and under this lock alone: the
// SessionManager object's registry lock (nopLocker) keeps nothing out, so a
// read under it crashed the lab once many sessions called at once.
//
//go:linkname simulatorSessionLock github.com/vmware/govmomi/simulator.sessionMutex
var simulatorSessionLock sync.Mutex

// sessionActive tells whether a vmware_soap_session cookie names a logged-in
// session, as the simulator maps a cookie to a session: by its unexported
// table, read by reflection under the simulator's lock for it.
func sessionActive(key string) bool {
	sessions := reflect.ValueOf(simulator.Map.SessionManager()).Elem().FieldByName("sessions")
	simulatorSessionLock.Lock()
	defer simulatorSessionLock.Unlock()
	return sessions.MapIndex(reflect.ValueOf(key)).IsValid()
}

// serveFolder is vCenter's datastore file access: GET /folder/<path>?dcPath=&dsName=
// with Range support, for a logged-in session (cookie) or basic credentials,
// as vCenter requires; anything else gets 401.
func (h *router) serveFolder(w http.ResponseWriter, r *http.Request) {
	cookie, err := r.Cookie(soap.SessionCookieName)
	if !h.basicAuthOK(r) && (err != nil || !sessionActive(cookie.Value)) {
		w.Header().Set("WWW-Authenticate", `Basic realm="VMware HTTP server"`)
		http.Error(w, "a vCenter session or credentials are required", http.StatusUnauthorized)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "only GET and HEAD are served", http.StatusMethodNotAllowed)
		return
	}
	query := r.URL.Query()
	dir, ok := h.lab.dsDirs[query.Get("dsName")]
	if !ok || (query.Get("dcPath") != "" && strings.Trim(query.Get("dcPath"), "/") != h.datacenter) {
		http.Error(w, "no such datacenter or datastore", http.StatusNotFound)
		return
	}
	// HTTP access to a datastore file needs what the datastore browser needs
	// (vSphere Web Services SDK Programming Guide, "Privilege Requirements for HTTP Access").
	ds := h.datastores[query.Get("dsName")]
	if missing := h.auth.firstMissing([]need{{"Datastore.Browse", ds}, {"Datastore.FileManagement", ds}}); missing != nil {
		http.Error(w, fmt.Sprintf("%s Required privilege '%s' on datastore %s (%s).", noPermissionMessage,
			missing.privilege, query.Get("dsName"), ds.Value), http.StatusForbidden)
		return
	}
	rel := path.Clean("/" + strings.TrimPrefix(r.URL.Path, folderPrefix))
	f, err := os.Open(filepath.Join(dir, filepath.FromSlash(rel)))
	if err != nil {
		http.Error(w, "no such file", http.StatusNotFound)
		return
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil || info.IsDir() {
		http.Error(w, "no such file", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	http.ServeContent(w, r, "", info.ModTime(), f)
}

// serveLab is the guest side of the lab: POST /vmshift-lab/vms/<vm>/write and
// /vmshift-lab/vms/<vm>/churn, with the vCenter credentials;
// /vmshift-lab/vms/<vm>/consolidation-needed?value=true|false, what vSphere
// reports after a failed snapshot removal; and
// /vmshift-lab/vms/<vm>/guest-shutdown?value=normal|ignore|no-tools, how the
// guest answers ShutdownGuest; and /vmshift-lab/role, the lab user's role.
func (h *router) serveLab(w http.ResponseWriter, r *http.Request) {
	if !h.basicAuthOK(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="vmshift lab"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "the vCenter credentials are required"})
		return
	}
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, labPrefix), "/")
	if len(parts) == 1 && parts[0] == "role" {
		h.serveRole(w, r)
		return
	}
	if r.Method != http.MethodPost || len(parts) != 3 || parts[0] != "vms" {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "use POST " + labPrefix + "vms/<vm>/write, /churn, /consolidation-needed, /guest-shutdown or GET/PUT " + labPrefix + "role"})
		return
	}
	// The VM table is filled before the server starts and never changes.
	state, ok := h.lab.VMs[parts[1]]
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf("no VM named %q", parts[1])})
		return
	}
	switch parts[2] {
	case "consolidation-needed":
		h.serveConsolidationNeeded(w, r, state)
		return
	case "guest-shutdown":
		h.serveGuestShutdown(w, r, state)
		return
	}
	h.lab.mu.Lock()
	defer h.lab.mu.Unlock()
	if state.PowerState != string(types.VirtualMachinePowerStatePoweredOn) {
		writeJSON(w, http.StatusConflict, map[string]string{"error": fmt.Sprintf("%s is %s: only a running guest writes", state.Name, state.PowerState)})
		return
	}
	var result map[string]interface{}
	var err error
	switch parts[2] {
	case "write":
		result, err = guestWrite(state, r)
	case "churn":
		result, err = guestChurn(state, r)
	default:
		err = fmt.Errorf("unknown lab operation %q", parts[2])
	}
	if err == nil {
		err = h.lab.save()
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, result)
}

// serveRole shows (GET) or replaces (PUT) the role the lab user holds on the
// root folder: {"name", "privileges"}, or {"name": "Admin"} for a system role.
// A replaced role lasts until the lab restarts with its spec's role.
func (h *router) serveRole(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
	case http.MethodPut:
		var role Role
		decoder := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
		decoder.DisallowUnknownFields()
		if err := decoder.Decode(&role); err != nil || role.Name == "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": `want {"name": ..., "privileges": [...]}`})
			return
		}
		if err := h.auth.setRole(role); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
	default:
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "GET or PUT " + labPrefix + "role"})
		return
	}
	role, granted := h.auth.current()
	writeJSON(w, http.StatusOK, map[string]interface{}{"user": h.auth.user, "name": role.Name, "privileges": granted})
}

// serveConsolidationNeeded sets or clears the VM's runtime.consolidationNeeded,
// as vSphere sets it after a failed snapshot removal, powered on or off.
func (h *router) serveConsolidationNeeded(w http.ResponseWriter, r *http.Request, state *VMState) {
	value := r.URL.Query().Get("value")
	needed, err := strconv.ParseBool(value)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("value must be true or false, got %q", value)})
		return
	}
	h.changeVM(w, state, func() { state.vm.setConsolidationNeeded(needed) },
		map[string]interface{}{"vm": state.Name, "consolidation_needed": needed})
}

// serveGuestShutdown sets how the VM's guest answers ShutdownGuest: normal,
// ignore (a hung guest) or no-tools (vCenter refuses with ToolsUnavailable);
// powered on or off.
func (h *router) serveGuestShutdown(w http.ResponseWriter, r *http.Request, state *VMState) {
	behaviour, err := parseGuestShutdown(r.URL.Query().Get("value"))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	h.changeVM(w, state, func() { state.vm.setGuestShutdown(behaviour) },
		map[string]interface{}{"vm": state.Name, "guest_shutdown": behaviour})
}

// changeVM applies a lab-made change to a VM of this lab's inventory and saves
// the state. The VM's registry lock comes first, as in the SOAP methods that
// take the lab's.
func (h *router) changeVM(w http.ResponseWriter, state *VMState, change func(), result map[string]interface{}) {
	if state.vm == nil { // in the state file of an earlier run, not in this spec
		writeJSON(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf("%s is not in this lab's inventory", state.Name)})
		return
	}
	var err error
	simulator.Map.WithLock(state.vm, func() {
		h.lab.mu.Lock()
		defer h.lab.mu.Unlock()
		change()
		err = h.lab.save()
	})
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, result)
}

func guestWrite(state *VMState, r *http.Request) (map[string]interface{}, error) {
	query := r.URL.Query()
	offset, err := strconv.ParseInt(query.Get("offset"), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("offset must be a byte offset, got %q", query.Get("offset"))
	}
	disk := state.Disks[0]
	if key := query.Get("disk"); key != "" {
		k, err := strconv.Atoi(key)
		if disk = state.disk(int32(k)); err != nil || disk == nil {
			return nil, fmt.Errorf("%s has no disk with device key %q", state.Name, key)
		}
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, maxGuestWrite+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxGuestWrite {
		return nil, fmt.Errorf("one guest write is at most %d bytes", maxGuestWrite)
	}
	if err := disk.Write(offset, data); err != nil {
		return nil, err
	}
	return map[string]interface{}{"vm": state.Name, "disk": disk.Key, "offset": offset, "length": len(data)}, nil
}

// guestChurn writes random 4 KiB pages at distinct random places until
// percent of each disk has been written, as a busy guest would between cycles.
func guestChurn(state *VMState, r *http.Request) (map[string]interface{}, error) {
	query := r.URL.Query()
	percent, err := strconv.ParseFloat(query.Get("percent"), 64)
	if err != nil || percent < 0 || percent > 100 {
		return nil, fmt.Errorf("percent must be a number from 0 to 100, got %q", query.Get("percent"))
	}
	seed := time.Now().UnixNano()
	if s := query.Get("seed"); s != "" {
		if seed, err = strconv.ParseInt(s, 10, 64); err != nil {
			return nil, fmt.Errorf("seed must be an integer, got %q", s)
		}
	}
	rng := rand.New(rand.NewSource(seed))
	total := int64(0)
	var disks []map[string]interface{}
	page := make([]byte, churnWriteSize)
	for _, d := range state.Disks {
		pages := d.Capacity / churnWriteSize
		count := int64(float64(pages)*percent/100 + 0.5)
		for _, p := range rng.Perm(int(pages))[:count] {
			rng.Read(page)
			if err := d.Write(int64(p)*churnWriteSize, page); err != nil {
				return nil, err
			}
		}
		total += count * churnWriteSize
		disks = append(disks, map[string]interface{}{"key": d.Key, "bytes_written": count * churnWriteSize})
	}
	return map[string]interface{}{"vm": state.Name, "bytes_written": total, "seed": seed, "disks": disks}, nil
}

func writeJSON(w http.ResponseWriter, status int, body interface{}) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
