package provider

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/awsclient"
	"github.com/rollingdeploy/terraform-provider-rolling/internal/rollout"
)

// Which instances a lease reaches, and the plan-time warnings built on it.

// plannedScope is one rolling_deployment planned in this run.
type plannedScope struct {
	tgs, filter []string
	instances   map[string]bool
}

// overlappingLease lists every lease and returns the first live one of
// another scope that reaches one of our instances. Stale ones in the way
// are cleared (only if still unchanged).
func (r *deploymentResource) overlappingLease(ctx context.Context, mine string, fleet rollout.Fleet, seen map[string]leaseSighting) (*leaseBlocker, error) {
	client := r.client()
	leases, err := client.ListLeases(ctx)
	if err != nil {
		return nil, err
	}
	for _, rec := range leases {
		if rec.Name == mine || rec.Unreadable {
			continue
		}
		overlap, err := r.leaseOverlap(ctx, rec.Value, fleet)
		if err != nil {
			return nil, err
		}
		if len(overlap) == 0 {
			continue
		}
		if why := r.staleness(rec, seen); why != "" {
			tflog.Warn(ctx, "clearing a stale rollout lease over our instances", map[string]any{"lease": rec.Name, "holder": rec.Value.RolloutID, "why": why})
			if err := client.DeleteLeaseIfUnchanged(ctx, rec); err != nil {
				return nil, err
			}
			continue
		}
		return &leaseBlocker{rec: rec, overlap: overlap}, nil
	}
	return nil, nil
}

// leaseOverlap is the instances of fleet a lease reaches: members of its
// target groups (read with DescribeTargetHealth for groups that are not
// ours), narrowed by its instance_ids, and ours that its rollout has tagged
// out of service (they are in no target group while it has them).
func (r *deploymentResource) leaseOverlap(ctx context.Context, v awsclient.LeaseValue, fleet rollout.Fleet) ([]string, error) {
	ours := map[string]bool{}
	for _, tg := range fleet.TargetGroups {
		ours[tg.ARN] = true
	}
	members := map[string]bool{}
	for _, arn := range v.TargetGroups {
		if ours[arn] {
			for _, inst := range fleet.Instances {
				if len(inst.Targets[arn]) > 0 {
					members[inst.ID] = true
				}
			}
			continue
		}
		health, err := r.client().Ports(r.data.clock, nil).LB.TargetHealth(ctx, arn)
		if errors.Is(err, rollout.ErrNotFound) {
			continue // the group is gone: it reaches nothing
		}
		if err != nil {
			return nil, err
		}
		for _, th := range health {
			members[th.InstanceID] = true
		}
	}
	if len(v.InstanceIDs) > 0 && !v.Partial {
		only := map[string]bool{}
		for _, id := range v.InstanceIDs {
			only[id] = members[id]
		}
		members = only
	}
	var out []string
	for _, inst := range fleet.Instances {
		if members[inst.ID] || v.RolloutID != "" && inst.Tags[rollout.TagRollout] == v.RolloutID {
			out = append(out, inst.ID)
		}
	}
	sort.Strings(out)
	return out, nil
}

// leaseWarnings adds the plan's warnings about running at the same time:
// another rolling_deployment of this configuration that reaches some of the
// same instances, and a lease held on this fleet right now. It only reads.
func (r *deploymentResource) leaseWarnings(ctx context.Context, plan *deploymentModel, fleet rollout.Fleet, diags *diag.Diagnostics) {
	if r.data == nil || r.client() == nil {
		return
	}
	var ignored diag.Diagnostics
	scope := plannedScope{tgs: plan.targetGroupARNs(ctx, &ignored), filter: plan.instanceIDs(ctx, &ignored), instances: map[string]bool{}}
	for _, inst := range liveFleet(fleet) {
		scope.instances[inst.ID] = true
	}
	for _, other := range r.data.leases.plan(scope) {
		var shared []string
		for id := range scope.instances {
			if other.instances[id] {
				shared = append(shared, id)
			}
		}
		sort.Strings(shared)
		diags.AddWarning("Two rolling_deployment resources reach the same instances",
			fmt.Sprintf("%s %s in this deployment and in the one over %s. Two rollouts never run on an instance at once: "+
				"whichever applies second fails while the other holds its lease (or waits, with lease.wait), and when the "+
				"two versions differ each apply redeploys what the other deployed. Give each instance to one deployment "+
				"(instance_ids, separate target groups).", countInstances(shared), isAre(len(shared)), describeScope(other)))
	}

	leases, err := r.client().ListLeases(ctx)
	if err != nil {
		diags.AddWarning("Cannot read the rollout leases",
			fmt.Sprintf("%v\n\nThe plan cannot say whether another rollout holds this fleet now; the apply checks again and needs "+
				"these permissions (see IAM permissions in the rolling_deployment documentation).", err))
		return
	}
	for _, rec := range leases {
		if rec.Unreadable {
			continue
		}
		overlap, err := r.leaseOverlap(ctx, rec.Value, fleet)
		if err != nil {
			diags.AddWarning("Cannot read the rollout leases", err.Error())
			return
		}
		if len(overlap) == 0 {
			continue
		}
		if leftByEndedRun(rec.Value) {
			diags.AddWarning("A rollout lease left by an earlier run",
				fmt.Sprintf("%s %s covered by %s, held by %s. It comes from this working directory and workspace, whose earlier "+
					"run ended without releasing it (killed or crashed): the next apply takes it over at once.",
					countInstances(overlap), isAre(len(overlap)), rec.Name, describeHolder(rec)))
			continue
		}
		diags.AddWarning("Another rollout holds this fleet",
			fmt.Sprintf("%s %s covered by the lease %s, held right now by %s. An apply that must change these instances fails "+
				"before its first change while the lease is held, unless lease.wait lets it wait.",
				countInstances(overlap), isAre(len(overlap)), rec.Name, describeHolder(rec)))
	}
}

// plan records a planned scope and returns those planned before it that
// share an instance with it.
func (b *leaseBook) plan(s plannedScope) []plannedScope {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []plannedScope
	for _, p := range b.planned {
		for id := range s.instances {
			if p.instances[id] {
				out = append(out, p)
				break
			}
		}
	}
	b.planned = append(b.planned, s)
	return out
}

func describeScope(s plannedScope) string {
	out := strings.Join(s.tgs, ", ")
	if len(s.filter) > 0 {
		out += " (instance_ids " + strings.Join(s.filter, ", ") + ")"
	}
	return out
}
