package provider

import (
	"context"
	"encoding/json"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/rollingdeploy/terraform-provider-rolling/internal/rollout"
)

// What a rollback returns the updated instances to: the last release that
// completed on the fleet.
//
// The prior state is not always that release. An apply whose rollout fails
// or is cancelled still records the new version and steps in state (the
// next plan then shows what is left), so after a failure the prior state
// names the release that did not complete. Its predecessor is kept in
// private state under privateRollbackKey for as long as the fleet has not
// completed a rollout since: an apply of v3 after a failed v2 rolls back
// to v1, not to v2.

// privateRollbackKey holds the release to roll back to while the last
// rollout has not completed.
const privateRollbackKey = "rollback"

// privateState is private state as the apply reads and writes it.
type privateState interface {
	privateGetter
	privateSetter
}

// storedRelease is the private-state form of a release: its version, id
// and steps without sensitive values (sensitive parameters are added
// again from the apply's staged lines by step name, as for the prior
// state's release).
type storedRelease struct {
	Release rollout.Release `json:"release"`
}

// rollbackRelease is the release an apply rolls back to: the one a failed
// or cancelled rollout left in private state, else the prior state's; nil
// on a create. secretLines are the apply's staged sensitive lines per step.
func rollbackRelease(ctx context.Context, prior *deploymentModel, private privateGetter, secretLines map[string]map[string]string, diags *diag.Diagnostics) *rollout.Release {
	if stored, ok := readRollbackRelease(ctx, private); ok {
		rel := stored.Release
		rel.Steps = append([]rollout.Step(nil), rel.Steps...)
		for i := range rel.Steps {
			if lines := secretLines[rel.Steps[i].Name]; len(lines) > 0 {
				addSecrets(&rel.Steps[i], lines)
			}
		}
		return &rel
	}
	if prior == nil || prior.Version.IsNull() || len(prior.Steps) == 0 {
		return nil
	}
	rel := prior.release(ctx, secretLines, diags)
	rel.ID = prior.releaseID(ctx, diags)
	return &rel
}

// keepRollbackRelease records, after a rollout, what the next apply rolls
// back to: nothing when this rollout completed (the state's release is
// the fleet's), else the release this one would have rolled back to,
// without sensitive values.
func keepRollbackRelease(ctx context.Context, prior *deploymentModel, private privateState, completed bool, diags *diag.Diagnostics) {
	if private == nil {
		return
	}
	if completed {
		diags.Append(private.SetKey(ctx, privateRollbackKey, nil)...)
		return
	}
	if _, ok := readRollbackRelease(ctx, private); ok {
		return // still the last completed one
	}
	rel := rollbackRelease(ctx, prior, nil, nil, diags)
	if rel == nil {
		return
	}
	value, err := json.Marshal(storedRelease{Release: *rel})
	if err != nil {
		return
	}
	diags.Append(private.SetKey(ctx, privateRollbackKey, value)...)
}

func readRollbackRelease(ctx context.Context, from privateGetter) (storedRelease, bool) {
	if from == nil {
		return storedRelease{}, false
	}
	value, diags := from.GetKey(ctx, privateRollbackKey)
	if diags.HasError() || len(value) == 0 {
		return storedRelease{}, false
	}
	var s storedRelease
	if json.Unmarshal(value, &s) != nil || s.Release.Version == "" {
		return storedRelease{}, false
	}
	return s, true
}
