package main

import (
	"reflect"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// PropertyCollector fixes Fetch, which pyvmomi uses to read one property of a
// managed object: for an unset property (vm.snapshot once the last snapshot is
// removed) vCenter answers "unset" where the simulator 0.24 panics.
type PropertyCollector struct {
	simulator.PropertyCollector
}

// FetchResponse is named as the SOAP response element the simulator writes.
type FetchResponse struct {
	Returnval types.AnyType `xml:"returnval,omitempty,typeattr"`
}

type fetchBody struct {
	Res    *FetchResponse `xml:"FetchResponse,omitempty"`
	Fault_ *soap.Fault    `xml:"http://schemas.xmlsoap.org/soap/envelope/ Fault,omitempty"`
}

func (b *fetchBody) Fault() *soap.Fault { return b.Fault_ }

// Fetch takes the request as interface{}: its type lives in the simulator's
// internal package, which only the simulator may name.
func (pc *PropertyCollector) Fetch(ctx *simulator.Context, req interface{}) soap.HasFault {
	fields := reflect.ValueOf(req).Elem()
	this := fields.FieldByName("This").Interface().(types.ManagedObjectReference)
	prop := fields.FieldByName("Prop").String()
	res := pc.PropertyCollector.RetrievePropertiesEx(ctx, &types.RetrievePropertiesEx{
		SpecSet: []types.PropertyFilterSpec{{
			PropSet:   []types.PropertySpec{{Type: this.Type, PathSet: []string{prop}}},
			ObjectSet: []types.ObjectSpec{{Obj: this}},
		}},
	})
	if body, ok := res.(*methods.RetrievePropertiesExBody); ok && body.Res != nil && body.Res.Returnval != nil &&
		len(body.Res.Returnval.Objects) == 1 {
		obj := body.Res.Returnval.Objects[0]
		if len(obj.PropSet) == 0 && len(obj.MissingSet) == 0 {
			return &fetchBody{Res: &FetchResponse{}}
		}
	}
	out := reflect.ValueOf(&pc.PropertyCollector).MethodByName("Fetch").Call(
		[]reflect.Value{reflect.ValueOf(ctx), reflect.ValueOf(req)})
	return out[0].Interface().(soap.HasFault)
}
