package main

import (
	"context"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// A wave replicates many VMs at once, each cycle with a session of its own:
// every call of each session goes through the authorizer's session check
// while the simulator records the other sessions' calls.
func TestManySessionsCallingAtOnceAreEachServed(t *testing.T) {
	const sessions, callsEach = 32, 100
	v := startVCenter(t, &Role{Name: "vmshift", Privileges: replicationRole})
	u := *v.server.URL
	u.User = url.UserPassword("svc-vmshift@vsphere.local", testPassword)
	ctx := context.Background()
	errs := make(chan error, sessions)
	var wg sync.WaitGroup
	for i := 0; i < sessions; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client, err := govmomi.NewClient(ctx, &u, true)
			if err != nil {
				errs <- err
				return
			}
			defer func() { _ = client.Logout(ctx) }()
			vm, err := find.NewFinder(client.Client, true).VirtualMachine(ctx, "/DC-Test/vm/app-01")
			if err != nil {
				errs <- err
				return
			}
			for j := 0; j < callsEach; j++ {
				var props mo.VirtualMachine
				if err := vm.Properties(ctx, vm.Reference(), []string{"runtime.powerState"}, &props); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// The lab reads the simulator's session table under the simulator's lock for
// it, linked by name: were the name gone from govmomi, the link would make a
// lock of the lab's own, silently. The simulator's session lookup must wait
// while the lab holds it.
func TestTheLabsSessionLockIsTheSimulators(t *testing.T) {
	startVCenter(t, nil)
	sm := simulator.Map.SessionManager()
	looked := make(chan struct{})
	simulatorSessionLock.Lock()
	go func() {
		sm.SessionIsActive(&simulator.Context{Map: simulator.Map}, &types.SessionIsActive{SessionID: "none", UserName: "none"})
		close(looked)
	}()
	select {
	case <-looked:
		simulatorSessionLock.Unlock()
		t.Fatal("the simulator looked a session up while the lab held its session lock: the lock is not the simulator's")
	case <-time.After(200 * time.Millisecond):
	}
	simulatorSessionLock.Unlock()
	<-looked
}
