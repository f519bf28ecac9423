package provider

import (
	"context"
	"errors"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/rollingdeploy/terraform-provider-rolling/internal/awsclient"
	"github.com/rollingdeploy/terraform-provider-rolling/internal/rollout"
)

// Reading the fleet a deployment covers: its target groups, the instances
// registered in them (or instance_ids), and what a refresh derives from it.

// discover reads the fleet of the configured target groups.
func (r *deploymentResource) discover(ctx context.Context, m *deploymentModel, diags *diag.Diagnostics) (rollout.Fleet, error) {
	client := r.client()
	if client == nil {
		return rollout.Fleet{}, errNotConfigured
	}
	return readFleet(ctx, client, m.targetGroupARNs(ctx, diags), m.instanceIDs(ctx, diags))
}

// discoverRemaining reads the fleet of the target groups that still exist:
// one may have been deleted while the rollout ran.
func (r *deploymentResource) discoverRemaining(ctx context.Context, m *deploymentModel, diags *diag.Diagnostics) (rollout.Fleet, error) {
	client := r.client()
	arns, ids := m.targetGroupARNs(ctx, diags), m.instanceIDs(ctx, diags)
	fleet, err := readFleet(ctx, client, arns, ids)
	if !errors.Is(err, rollout.ErrNotFound) {
		return fleet, err
	}
	remaining, findErr := existingTargetGroups(ctx, client, arns)
	if findErr != nil || len(remaining) == 0 {
		return fleet, err
	}
	return readFleet(ctx, client, remaining, ids)
}

func existingTargetGroups(ctx context.Context, client *awsclient.Client, arns []string) ([]string, error) {
	var out []string
	for _, arn := range arns {
		_, err := client.FindTargetGroups(ctx, []string{arn}, nil)
		if errors.Is(err, rollout.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, arn)
	}
	return out, nil
}

func missing(all, present []string) []string {
	have := map[string]bool{}
	for _, p := range present {
		have[p] = true
	}
	var out []string
	for _, a := range all {
		if !have[a] {
			out = append(out, a)
		}
	}
	return out
}

func commonVersion(f rollout.Fleet) string {
	counts := map[string]int{}
	best := ""
	for _, inst := range f.Instances {
		v := inst.Tags[rollout.TagVersion]
		if v == "" {
			continue
		}
		counts[v]++
		if counts[v] > counts[best] || (counts[v] == counts[best] && v < best) {
			best = v
		}
	}
	return best
}
