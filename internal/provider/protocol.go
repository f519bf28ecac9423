package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"sort"
	"sync"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
)

// NewServer is the provider's protocol 6 server: the framework's, with the
// state a refresh returns encoded as JSON instead of MessagePack.
//
// Why: Terraform compares the refreshed state with the previous run's state
// with reflect.DeepEqual (v1.11: states.ManagedResourcesEqual), which also
// compares each object's cache of decoded values. A number decoded from the
// state file's JSON has 512 bits of precision, the same number decoded from
// a provider's MessagePack 64, so any number attribute, even one the user
// configured (`batch_percent = 50`), made `plan -refresh-only
// -detailed-exitcode` exit 2 with "No changes". Decoded from JSON on both
// sides the values are identical. The protocol lets a provider send any
// DynamicValue as JSON; Terraform and OpenTofu decode both forms.
func NewServer(version string, opts Options) func() (tfprotov6.ProviderServer, error) {
	inner := providerserver.NewProtocol6WithError(NewWithOptions(version, opts)())
	return func() (tfprotov6.ProviderServer, error) {
		srv, err := inner()
		if err != nil {
			return nil, err
		}
		return &jsonStateServer{ProviderServer: srv}, nil
	}
}

type jsonStateServer struct {
	tfprotov6.ProviderServer

	once  sync.Once
	types map[string]tftypes.Type // resource type name -> its value type
}

func (s *jsonStateServer) ReadResource(ctx context.Context, req *tfprotov6.ReadResourceRequest) (*tfprotov6.ReadResourceResponse, error) {
	resp, err := s.ProviderServer.ReadResource(ctx, req)
	if err != nil || resp == nil || resp.NewState == nil {
		return resp, err
	}
	if js := s.asJSON(ctx, req.TypeName, resp.NewState); js != nil {
		resp.NewState = js
	}
	return resp, nil
}

// asJSON re-encodes a wholly known state as JSON; nil when it cannot (the
// MessagePack value is then sent as it was).
func (s *jsonStateServer) asJSON(ctx context.Context, typeName string, dv *tfprotov6.DynamicValue) *tfprotov6.DynamicValue {
	s.once.Do(func() { s.types = s.resourceTypes(ctx) })
	typ, ok := s.types[typeName]
	if !ok || len(dv.MsgPack) == 0 {
		return nil
	}
	val, err := dv.Unmarshal(typ)
	if err != nil || !val.IsFullyKnown() {
		return nil
	}
	var buf bytes.Buffer
	if err := writeJSONValue(&buf, val); err != nil {
		return nil
	}
	return &tfprotov6.DynamicValue{JSON: buf.Bytes()}
}

func (s *jsonStateServer) resourceTypes(ctx context.Context) map[string]tftypes.Type {
	out := map[string]tftypes.Type{}
	resp, err := s.GetProviderSchema(ctx, &tfprotov6.GetProviderSchemaRequest{})
	if err != nil || resp == nil {
		return out
	}
	for name, sch := range resp.ResourceSchemas {
		if sch != nil {
			out[name] = sch.ValueType()
		}
	}
	return out
}

// writeJSONValue writes a known value in the JSON form of Terraform's
// DynamicValue: objects and maps as objects, lists, sets and tuples as
// arrays, numbers in full precision.
func writeJSONValue(buf *bytes.Buffer, v tftypes.Value) error {
	if v.IsNull() {
		buf.WriteString("null")
		return nil
	}
	typ := v.Type()
	switch {
	case typ.Is(tftypes.String):
		var s string
		if err := v.As(&s); err != nil {
			return err
		}
		b, _ := json.Marshal(s)
		buf.Write(b)
	case typ.Is(tftypes.Bool):
		var b bool
		if err := v.As(&b); err != nil {
			return err
		}
		fmt.Fprintf(buf, "%t", b)
	case typ.Is(tftypes.Number):
		n := new(big.Float)
		if err := v.As(&n); err != nil {
			return err
		}
		if n.IsInf() {
			return fmt.Errorf("infinite number")
		}
		buf.WriteString(n.Text('f', -1))
	case typ.Is(tftypes.List{}), typ.Is(tftypes.Set{}), typ.Is(tftypes.Tuple{}):
		var elems []tftypes.Value
		if err := v.As(&elems); err != nil {
			return err
		}
		buf.WriteByte('[')
		for i, e := range elems {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeJSONValue(buf, e); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case typ.Is(tftypes.Map{}), typ.Is(tftypes.Object{}):
		var elems map[string]tftypes.Value
		if err := v.As(&elems); err != nil {
			return err
		}
		keys := make([]string, 0, len(elems))
		for k := range elems {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		buf.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			kb, _ := json.Marshal(k)
			buf.Write(kb)
			buf.WriteByte(':')
			if err := writeJSONValue(buf, elems[k]); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	default:
		return fmt.Errorf("cannot encode %s as JSON", typ)
	}
	return nil
}
