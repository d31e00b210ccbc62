// Command vcsim-vmshift is the lab's vCenter: govmomi's simulator with disks
// that hold data, snapshot redo logs, Changed Block Tracking, datastore file
// access as vCenter guards it, and a lab-only guest-write endpoint.
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/simulator/vpx"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/types"
)

// passwordEnv carries the vCenter password: never argv, which any local user can read.
const passwordEnv = "VMSHIFT_VCSIM_PASSWORD"

func main() {
	specFile := flag.String("spec", "", "lab spec (JSON) with a \"vcenter\" section")
	listen := flag.String("listen", "127.0.0.1:0", "address to serve HTTPS on")
	certFile := flag.String("tls-cert", "", "server certificate (PEM)")
	keyFile := flag.String("tls-key", "", "server key (PEM)")
	stateDir := flag.String("state-dir", "", "folder for datastores and disk state, kept across restarts")
	readyFile := flag.String("ready-file", "", "JSON file written once serving")
	flag.Parse()
	if err := run(*specFile, *listen, *certFile, *keyFile, *stateDir, *readyFile); err != nil {
		log.Fatalf("vcsim-vmshift: %s", err)
	}
}

func run(specFile, listen, certFile, keyFile, stateDir, readyFile string) error {
	password := os.Getenv(passwordEnv)
	switch {
	case specFile == "" || certFile == "" || keyFile == "" || stateDir == "" || readyFile == "":
		return fmt.Errorf("-spec, -tls-cert, -tls-key, -state-dir and -ready-file are required")
	case password == "":
		return fmt.Errorf("set the vCenter password in %s", passwordEnv)
	}
	spec, err := loadSpec(specFile)
	if err != nil {
		return err
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return fmt.Errorf("loading the TLS certificate: %w", err)
	}
	tlsConfig := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	server, lab, err := serve(spec, stateDir, password, listen, tlsConfig)
	if err != nil {
		return fmt.Errorf("lab spec %s: %w", specFile, err)
	}
	defer server.Close()

	ready := map[string]interface{}{
		"url":           fmt.Sprintf("https://%s/sdk", server.URL.Host),
		"user":          spec.User,
		"datacenter":    spec.Datacenter,
		"datastore_dir": lab.dsDirs,
	}
	if err := writeReadyFile(readyFile, ready); err != nil {
		return err
	}
	log.Printf("serving %s", ready["url"])

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
	lab.mu.Lock()
	defer lab.mu.Unlock()
	return lab.save()
}

// serve builds the spec's vCenter on the state folder and serves it on
// listen (HTTPS with tlsConfig, else HTTP), with the lab's handlers in front.
func serve(spec *Spec, stateDir, password, listen string, tlsConfig *tls.Config) (*simulator.Server, *Lab, error) {
	stateDir, err := filepath.Abs(stateDir)
	if err != nil {
		return nil, nil, err
	}
	dsDirs := map[string]string{}
	for _, ds := range spec.Datastores {
		dsDirs[ds.Name] = filepath.Join(stateDir, "datastores", ds.Name)
		if err := os.MkdirAll(dsDirs[ds.Name], 0o755); err != nil {
			return nil, nil, err
		}
	}
	lab, err := loadLab(stateDir, dsDirs)
	if err != nil {
		return nil, nil, err
	}
	lab.user, lab.password = spec.User, password

	model := &simulator.Model{ServiceContent: vpx.ServiceContent, RootFolder: vpx.RootFolder}
	if err := model.Create(); err != nil {
		return nil, nil, err
	}
	ctx := context.Background()
	client, err := vim25.NewClient(ctx, model.Service)
	if err != nil {
		return nil, nil, err
	}
	// A fresh collector, as the simulator itself makes one per session.
	collector := &PropertyCollector{}
	collector.Self = client.ServiceContent.PropertyCollector
	simulator.Map.Put(collector)
	if err := buildInventory(ctx, client, spec, lab); err != nil {
		return nil, nil, err
	}
	if err := lab.save(); err != nil {
		return nil, nil, err
	}
	role := Role{Name: "Admin"} // a spec without a role: the Python side always gives one
	if spec.Role != nil {
		role = *spec.Role
	}
	auth, err := newAuthorizer(spec.User, role)
	if err != nil {
		return nil, nil, fmt.Errorf("vcenter.%w", err)
	}

	model.Service.TLS = tlsConfig
	model.Service.Listen = &url.URL{Host: listen, User: url.UserPassword(spec.User, password)}
	server := model.Service.NewServer()
	// Set before anyone is told where to connect.
	server.Config.Handler = &router{sdk: auth.guard(server.Config.Handler), lab: lab, auth: auth,
		datacenter: spec.Datacenter, datastores: datastoreRefs()}
	return server, lab, nil
}

// datastoreRefs maps each datastore's name to its managed object.
func datastoreRefs() map[string]types.ManagedObjectReference {
	refs := map[string]types.ManagedObjectReference{}
	for _, ds := range simulator.Map.All("Datastore") {
		refs[ds.Entity().Name] = ds.Reference()
	}
	return refs
}

func writeReadyFile(path string, ready map[string]interface{}) error {
	data, err := json.Marshal(ready)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
