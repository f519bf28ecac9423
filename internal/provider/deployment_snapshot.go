package provider

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"sort"
	"strings"
	"sync"

	"github.com/hashicorp/terraform-plugin-framework/diag"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/rollout"
)

// privateFleetKey names the fleet snapshot in the resource's private state.
// Refresh and apply write it; a plan reads it, so that the plan Terraform
// makes at apply time computes the same schedule as the plan the user saw.
// Private state is stored with the state but never shown in a plan, and a
// change to it is not drift.
const privateFleetKey = "fleet"

// fleetSnapshotVersion is bumped when rollout.Fleet changes shape; an
// older snapshot is ignored and the plan reads AWS instead.
const fleetSnapshotVersion = 2

// stableFleet is what the snapshot keeps of a fleet: only what changes when
// the fleet drifts, in a fixed order. Terraform compares a refreshed object
// with the stored one byte for byte, private state included, to decide
// whether `plan -refresh-only -detailed-exitcode` exits 2; a snapshot that
// changed with every health flap would make it report changes where the
// plan shows none. So target health is not kept (a registered instance is
// taken as healthy: the apply reads health afresh and keeps the floor on
// what it sees). Readiness is kept: it is also in unready_instances, so its
// changes show as drift anyway.
func stableFleet(f rollout.Fleet) rollout.Fleet {
	out := rollout.Fleet{
		TargetGroups:      append([]rollout.TargetGroup(nil), f.TargetGroups...),
		AutoScalingGroups: append([]rollout.AutoScalingGroup(nil), f.AutoScalingGroups...),
	}
	sort.Slice(out.TargetGroups, func(i, j int) bool { return out.TargetGroups[i].ARN < out.TargetGroups[j].ARN })
	sort.Slice(out.AutoScalingGroups, func(i, j int) bool { return out.AutoScalingGroups[i].Name < out.AutoScalingGroups[j].Name })
	for _, inst := range f.Instances {
		targets := make(map[string][]rollout.Target, len(inst.Targets))
		for arn, ts := range inst.Targets {
			ts = append([]rollout.Target(nil), ts...)
			sort.Slice(ts, func(i, j int) bool { return ts[i].Port < ts[j].Port })
			targets[arn] = ts
		}
		inst.Targets = targets
		inst.Health = map[string]rollout.TargetHealth{}
		if inst.Tags[rollout.TagPhase] == "" {
			for arn, ts := range inst.Targets {
				if len(ts) > 0 {
					inst.Health[arn] = rollout.TargetHealth{Target: ts[0], State: rollout.HealthHealthy}
				}
			}
		}
		out.Instances = append(out.Instances, inst)
	}
	sort.Slice(out.Instances, func(i, j int) bool { return out.Instances[i].ID < out.Instances[j].ID })
	return out
}

type fleetSnapshot struct {
	V     int           `json:"v"`
	Fleet rollout.Fleet `json:"f"`
}

// privateGetter and privateSetter are the two halves of
// privatestate.ProviderData that the resource uses.
type privateGetter interface {
	GetKey(context.Context, string) ([]byte, diag.Diagnostics)
}

type privateSetter interface {
	SetKey(context.Context, string, []byte) diag.Diagnostics
}

// writeFleetSnapshot stores the fleet's stable part (stableFleet) gzipped:
// instance ids and tags repeat and compress about tenfold, some 30 KB at
// 1,000 instances.
func writeFleetSnapshot(ctx context.Context, to privateSetter, f rollout.Fleet) diag.Diagnostics {
	if to == nil {
		return nil
	}
	raw, err := json.Marshal(fleetSnapshot{V: fleetSnapshotVersion, Fleet: stableFleet(f)})
	if err != nil {
		return nil // a plan without a snapshot reads AWS: nothing is lost
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(raw)
	_ = zw.Close()
	value, _ := json.Marshal(base64.StdEncoding.EncodeToString(buf.Bytes()))
	return to.SetKey(ctx, privateFleetKey, value)
}

func readFleetSnapshot(ctx context.Context, from privateGetter) (rollout.Fleet, bool) {
	if from == nil {
		return rollout.Fleet{}, false
	}
	value, diags := from.GetKey(ctx, privateFleetKey)
	if diags.HasError() || len(value) == 0 {
		return rollout.Fleet{}, false
	}
	var encoded string
	if json.Unmarshal(value, &encoded) != nil {
		return rollout.Fleet{}, false
	}
	zipped, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		return rollout.Fleet{}, false
	}
	zr, err := gzip.NewReader(bytes.NewReader(zipped))
	if err != nil {
		return rollout.Fleet{}, false
	}
	raw, err := io.ReadAll(io.LimitReader(zr, 64<<20))
	if err != nil {
		return rollout.Fleet{}, false
	}
	var snap fleetSnapshot
	if json.Unmarshal(raw, &snap) != nil || snap.V != fleetSnapshotVersion {
		return rollout.Fleet{}, false
	}
	return snap.Fleet, true
}

func fleetKey(targetGroupARNs, instanceIDs []string) string {
	return strings.Join(targetGroupARNs, ",") + "|" + strings.Join(instanceIDs, ",")
}

// replacementTracker tells a create that replaces this resource (-replace,
// taint) from a first create. Terraform gives the provider no flag for it,
// but in the same provider process it refreshes the existing object (or, for
// -replace, plans it) before it plans the create with no prior state, and
// it applies a replacement as a delete followed by that create. Each of
// these is recorded here by fleet scope. (With -refresh=false, a tainted
// object is neither read nor planned: its replacement is then planned as a
// first create.)
//
// A replacement redeploys every instance, which is what a user means by
// -replace, unless the object replaced is one whose last rollout did not
// succeed (Terraform taints a resource whose create failed): then the
// create resumes that rollout and leaves the instances it finished alone.
type replacementTracker struct {
	mu   sync.Mutex
	seen map[string]replaced // by fleet scope
}

// replaced is what a replacement needs of the object it replaces.
type replaced struct {
	resume bool  // its last rollout did not succeed
	number int64 // its last rollout's number: the replacement's is the next
}

// planned records a refresh, plan or delete of an existing object.
func (t *replacementTracker) planned(key string, r replaced) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.seen == nil {
		t.seen = map[string]replaced{}
	}
	t.seen[key] = r
}

// replacement reports what a create over this scope replaces, if anything.
func (t *replacementTracker) replacement(key string) (replaced, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r, ok := t.seen[key]
	return r, ok
}
