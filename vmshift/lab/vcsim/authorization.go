package main

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"sync"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// noPermissionMessage is the faultstring vCenter sends with NoPermission.
const noPermissionMessage = "Permission to perform this operation was denied."

// maxSOAPRequest bounds what the authorizer reads of a request before the
// simulator does; vSphere requests are small (a ReconfigVM spec is a few KiB).
const maxSOAPRequest = 32 << 20

// Role is the role the lab user holds on the root folder, propagated to every
// object, as an administrator grants a service account (the spec's
// vcenter.role). Privileges nil names a system role (Admin, ReadOnly,
// NoAccess...) whose privileges are vCenter's own.
type Role struct {
	Name       string   `json:"name"`
	Privileges []string `json:"privileges,omitempty"`
}

// authorizer knows the lab user's role and answers, as vCenter's
// authorization does, whether it grants a privilege. The simulator 0.24 has
// no authorization: it grants everything to everyone.
type authorizer struct {
	mu      sync.RWMutex
	user    string
	role    Role
	granted map[string]bool
	manager *AuthorizationManager
}

// newAuthorizer installs the authorization manager that answers
// HasPrivilegeOnEntities and its kin for the lab user, and gives the user the
// role on the root folder.
func newAuthorizer(user string, role Role) (*authorizer, error) {
	ref := simulator.Map.Get(*simulatorContent().AuthorizationManager).(*simulator.AuthorizationManager)
	a := &authorizer{user: user}
	a.manager = &AuthorizationManager{AuthorizationManager: *ref, auth: a}
	simulator.Map.Put(a.manager)
	return a, a.setRole(role)
}

func simulatorContent() types.ServiceContent {
	return simulator.Map.Get(vimServiceInstance).(*simulator.ServiceInstance).Content
}

var vimServiceInstance = types.ManagedObjectReference{Type: "ServiceInstance", Value: "ServiceInstance"}

// setRole replaces the lab user's role: in the authorization manager's role
// list and the root folder's permissions too, so that vSphere clients reading
// them see what is enforced.
func (a *authorizer) setRole(role Role) error {
	var err error
	simulator.Map.WithLock(a.manager, func() {
		var granted map[string]bool
		if granted, err = a.manager.resolve(role); err != nil {
			return
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		a.role, a.granted = role, granted
		a.manager.grant(a.user, role, granted)
	})
	return err
}

func (a *authorizer) current() (Role, []string) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.role, sortedKeys(a.granted)
}

func (a *authorizer) has(privilege string) bool {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.granted[privilege]
}

// firstMissing is the first of needs the role lacks, as vCenter names only one.
func (a *authorizer) firstMissing(needs []need) *need {
	for i := range needs {
		if !a.has(needs[i].privilege) {
			return &needs[i]
		}
	}
	return nil
}

// guard refuses, before the simulator sees it, a SOAP call of a logged-in
// session that needs a privilege the lab user's role lacks. Calls without a
// session go through: the simulator refuses them itself (NotAuthenticated).
func (a *authorizer) guard(sdk http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cookie, err := r.Cookie(soap.SessionCookieName)
		if r.Method != http.MethodPost || !strings.HasPrefix(r.URL.Path, "/sdk") || err != nil || !sessionActive(cookie.Value) {
			sdk.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxSOAPRequest))
		if err != nil {
			http.Error(w, "reading the request: "+err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if method, err := simulator.UnmarshalBody(vimTypes, body); err == nil {
			if needs, known := requiredPrivileges(method); known {
				if missing := a.firstMissing(needs); missing != nil {
					writeNoPermission(w, *missing)
					return
				}
			}
		}
		sdk.ServeHTTP(w, r)
	})
}

// vimTypes resolves the vim25 types of a request body, as the simulator's own
// decoder does (it also takes names with a namespace prefix, "ns1:TraversalSpec").
func vimTypes(name string) (reflect.Type, bool) {
	if typ, ok := types.TypeFunc()(name); ok {
		return typ, true
	}
	if i := strings.IndexByte(name, ':'); i >= 0 {
		return types.TypeFunc()(name[i+1:])
	}
	return nil, false
}

type faultEnvelope struct {
	XMLName xml.Name `xml:"soapenv:Envelope"`
	Env     string   `xml:"xmlns:soapenv,attr"`
	XSD     string   `xml:"xmlns:xsd,attr"`
	XSI     string   `xml:"xmlns:xsi,attr"`
	Fault   struct {
		Code   string                `xml:"faultcode"`
		String string                `xml:"faultstring"`
		Detail noPermissionFaultBody `xml:"detail"`
	} `xml:"soapenv:Body>soapenv:Fault"`
}

type noPermissionFaultBody struct {
	Fault types.NoPermission `xml:"NoPermissionFault"`
}

// MarshalXML writes the fault as vCenter does: <NoPermissionFault
// xmlns="urn:vim25" xsi:type="NoPermission">, which clients decode by xsi:type.
func (d noPermissionFaultBody) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	if err := e.EncodeToken(start); err != nil {
		return err
	}
	fault := xml.StartElement{Name: xml.Name{Local: "NoPermissionFault"}, Attr: []xml.Attr{
		{Name: xml.Name{Local: "xmlns"}, Value: "urn:vim25"},
		{Name: xml.Name{Local: "xsi:type"}, Value: "NoPermission"},
	}}
	if err := e.EncodeElement(d.Fault, fault); err != nil {
		return err
	}
	return e.EncodeToken(start.End())
}

func writeNoPermission(w http.ResponseWriter, missing need) {
	envelope := faultEnvelope{
		Env: "http://schemas.xmlsoap.org/soap/envelope/",
		XSD: "http://www.w3.org/2001/XMLSchema",
		XSI: "http://www.w3.org/2001/XMLSchema-instance",
	}
	envelope.Fault.Code = "ServerFaultCode"
	envelope.Fault.String = noPermissionMessage
	envelope.Fault.Detail.Fault = types.NoPermission{Object: missing.object, PrivilegeId: missing.privilege}
	var out bytes.Buffer
	out.WriteString(xml.Header)
	if err := xml.NewEncoder(&out).Encode(envelope); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = w.Write(out.Bytes())
}

// AuthorizationManager answers privilege questions with the lab user's role,
// where the simulator answers "granted" to everything.
type AuthorizationManager struct {
	simulator.AuthorizationManager
	auth *authorizer
}

// resolve gives the privileges a role grants, the system ones included, or
// InvalidArgument for a privilege vCenter does not know, as
// AddAuthorizationRole answers.
func (m *AuthorizationManager) resolve(role Role) (map[string]bool, error) {
	known := map[string]bool{}
	var system []string
	var named *types.AuthorizationRole
	for i, r := range m.RoleList {
		switch r.Name {
		case "Admin":
			for _, p := range r.Privilege {
				known[p] = true
			}
		case "ReadOnly":
			system = r.Privilege
		}
		if r.Name == role.Name {
			named = &m.RoleList[i]
		}
	}
	privileges := role.Privileges
	if privileges == nil {
		if named == nil || !named.System {
			return nil, fmt.Errorf("role %q: give its privileges, or name a system role", role.Name)
		}
		privileges = named.Privilege
	}
	granted := map[string]bool{}
	for _, p := range append(append([]string{}, system...), privileges...) {
		if !known[p] {
			return nil, fmt.Errorf("role %q: vCenter has no privilege %q", role.Name, p)
		}
		granted[p] = true
	}
	return granted, nil
}

// grant puts the role (unless a system role) in the role list and gives it
// to the user on the root folder, propagated.
func (m *AuthorizationManager) grant(user string, role Role, granted map[string]bool) {
	id := int32(0)
	found := false
	for i, r := range m.RoleList {
		if r.RoleId >= id {
			id = r.RoleId + 1
		}
		if r.Name == role.Name {
			m.RoleList[i].Privilege = sortedKeys(granted)
			id, found = r.RoleId, true
			break
		}
	}
	if !found {
		m.RoleList = append(m.RoleList, types.AuthorizationRole{
			RoleId: id, Name: role.Name, Privilege: sortedKeys(granted),
			Info: &types.Description{Label: role.Name, Summary: role.Name},
		})
	}
	root := simulatorContent().RootFolder
	m.SetEntityPermissions(&types.SetEntityPermissions{Entity: root, Permission: []types.Permission{
		{Entity: &root, Principal: user, RoleId: id, Propagate: true},
	}})
}

// HasPrivilegeOnEntities tells, for each entity, which of the privileges the
// session's user holds there.
func (m *AuthorizationManager) HasPrivilegeOnEntities(req *types.HasPrivilegeOnEntities) soap.HasFault {
	body := &methods.HasPrivilegeOnEntitiesBody{}
	if fault := m.checkQuery(req.SessionId, req.Entity); fault != nil {
		body.Fault_ = fault
		return body
	}
	body.Res = &types.HasPrivilegeOnEntitiesResponse{Returnval: m.entityPrivileges(req.Entity, req.PrivId)}
	return body
}

// HasPrivilegeOnEntity is HasPrivilegeOnEntities for one entity.
func (m *AuthorizationManager) HasPrivilegeOnEntity(req *types.HasPrivilegeOnEntity) soap.HasFault {
	body := &methods.HasPrivilegeOnEntityBody{}
	if fault := m.checkQuery(req.SessionId, []types.ManagedObjectReference{req.Entity}); fault != nil {
		body.Fault_ = fault
		return body
	}
	granted := make([]bool, len(req.PrivId))
	for i, id := range req.PrivId {
		granted[i] = m.auth.has(id)
	}
	body.Res = &types.HasPrivilegeOnEntityResponse{Returnval: granted}
	return body
}

// HasUserPrivilegeOnEntities asks for a user by name: the lab user holds its
// role, anyone else nothing.
func (m *AuthorizationManager) HasUserPrivilegeOnEntities(req *types.HasUserPrivilegeOnEntities) soap.HasFault {
	body := &methods.HasUserPrivilegeOnEntitiesBody{}
	if fault := m.checkEntities(req.Entities); fault != nil {
		body.Fault_ = fault
		return body
	}
	result := m.entityPrivileges(req.Entities, req.PrivId)
	if req.UserName != m.auth.user {
		for i := range result {
			for j := range result[i].PrivAvailability {
				result[i].PrivAvailability[j].IsGranted = false
			}
		}
	}
	body.Res = &types.HasUserPrivilegeOnEntitiesResponse{Returnval: result}
	return body
}

// FetchUserPrivilegeOnEntities lists the privileges a user holds on each entity.
func (m *AuthorizationManager) FetchUserPrivilegeOnEntities(req *types.FetchUserPrivilegeOnEntities) soap.HasFault {
	body := &methods.FetchUserPrivilegeOnEntitiesBody{}
	if fault := m.checkEntities(req.Entities); fault != nil {
		body.Fault_ = fault
		return body
	}
	var privileges []string
	if req.UserName == m.auth.user {
		_, privileges = m.auth.current()
	}
	var result []types.UserPrivilegeResult
	for _, e := range req.Entities {
		result = append(result, types.UserPrivilegeResult{Entity: e, Privileges: privileges})
	}
	body.Res = &types.FetchUserPrivilegeOnEntitiesResponse{Returnval: result}
	return body
}

func (m *AuthorizationManager) entityPrivileges(entities []types.ManagedObjectReference, ids []string) []types.EntityPrivilege {
	var result []types.EntityPrivilege
	for _, e := range entities {
		priv := types.EntityPrivilege{Entity: e}
		for _, id := range ids {
			priv.PrivAvailability = append(priv.PrivAvailability, types.PrivilegeAvailability{PrivId: id, IsGranted: m.auth.has(id)})
		}
		result = append(result, priv)
	}
	return result
}

func (m *AuthorizationManager) checkQuery(sessionID string, entities []types.ManagedObjectReference) *soap.Fault {
	if !sessionActive(sessionID) {
		return simulator.Fault("", &types.InvalidArgument{InvalidProperty: "sessionId"})
	}
	return m.checkEntities(entities)
}

func (m *AuthorizationManager) checkEntities(entities []types.ManagedObjectReference) *soap.Fault {
	for _, e := range entities {
		if simulator.Map.Get(e) == nil {
			return simulator.Fault("", &types.ManagedObjectNotFound{Obj: e})
		}
	}
	return nil
}

func sortedKeys(set map[string]bool) []string {
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
