package provider

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/rollout"
)

// stringsOf returns the strings of a list or set, nil when it is null or
// holds an unknown anywhere (`[aws_cloudwatch_metric_alarm.x.alarm_name]`
// before the alarm exists).
func stringsOf(ctx context.Context, v interface {
	attr.Value
	ElementsAs(context.Context, any, bool) diag.Diagnostics
}, diags *diag.Diagnostics) []string {
	if v.IsNull() || !known(ctx, v) {
		return nil
	}
	var out []string
	diags.Append(v.ElementsAs(ctx, &out, false)...)
	return out
}

func parseDuration(v types.String, def time.Duration) time.Duration {
	if v.IsNull() || v.IsUnknown() {
		return def
	}
	d, err := time.ParseDuration(v.ValueString())
	if err != nil {
		return def // validators reject it before we get here
	}
	return d
}

// targetGroupARNs returns the configured target groups, sorted.
func (m deploymentModel) targetGroupARNs(ctx context.Context, diags *diag.Diagnostics) []string {
	arns := stringsOf(ctx, m.TargetGroupARNs, diags)
	sort.Strings(arns)
	return arns
}

func (m deploymentModel) instanceIDs(ctx context.Context, diags *diag.Diagnostics) []string {
	ids := stringsOf(ctx, m.InstanceIDs, diags)
	sort.Strings(ids)
	return ids
}

// release maps the version and steps. sensitive holds, by step name, the
// lines that read the step's staged sensitive values on the instance
// (stageSecrets; nil when there are none): the values themselves never
// reach a step.
func (m deploymentModel) release(ctx context.Context, sensitive map[string]map[string]string, diags *diag.Diagnostics) rollout.Release {
	rel := rollout.Release{Version: m.Version.ValueString()}
	for _, s := range m.Steps {
		step := rollout.Step{
			Name:            s.Name.ValueString(),
			Commands:        stringsOf(ctx, s.Commands, diags),
			DocumentName:    s.DocumentName.ValueString(),
			DocumentVersion: s.DocumentVersion.ValueString(),
			Timeout:         parseDuration(s.Timeout, defaultStepTimeout),
		}
		if !s.Parameters.IsNull() && known(ctx, s.Parameters) {
			step.Parameters = map[string][]string{}
			diags.Append(s.Parameters.ElementsAs(ctx, &step.Parameters, false)...)
		}
		if secrets := sensitive[step.Name]; len(secrets) > 0 {
			addSecrets(&step, secrets)
		}
		rel.Steps = append(rel.Steps, step)
	}
	return rel
}

// releaseID digests version, steps (without secrets) and triggers.
func (m deploymentModel) releaseID(ctx context.Context, diags *diag.Diagnostics) string {
	triggers := map[string]string{}
	if !m.Triggers.IsNull() && known(ctx, m.Triggers) {
		diags.Append(m.Triggers.ElementsAs(ctx, &triggers, false)...)
	}
	payload, _ := json.Marshal(struct {
		Release  rollout.Release
		Triggers map[string]string
	}{m.release(ctx, nil, diags), triggers})
	sum := sha256.Sum256(payload)
	return hex.EncodeToString(sum[:8])
}

func (m deploymentModel) strategy() rollout.Strategy {
	st := rollout.Strategy{
		BatchSize:         defaultBatchSize,
		MinHealthyPercent: defaultMinHealthyPercent,
		Mode:              rollout.ModeBatch,
		HealthTimeout:     defaultHealthTimeout,
		Order:             rollout.OrderAZBalanced,
	}
	s := m.Strategy
	if s == nil {
		return st
	}
	if isSet(s.BatchPercent) {
		st.BatchSize, st.BatchPercent = 0, int(s.BatchPercent.ValueInt64())
	}
	if isSet(s.BatchSize) {
		st.BatchSize, st.BatchPercent = int(s.BatchSize.ValueInt64()), 0
	}
	if isSet(s.MinHealthyPercent) {
		st.MinHealthyPercent = int(s.MinHealthyPercent.ValueInt64())
	}
	if isSet(s.Mode) {
		st.Mode = rollout.Mode(s.Mode.ValueString())
	}
	if isSet(s.Lockstep) {
		st.Lockstep = s.Lockstep.ValueBool()
	}
	if isSet(s.Order) {
		st.Order = rollout.Order(s.Order.ValueString())
	}
	st.MaxSurge = int(s.MaxSurge.ValueInt64())
	st.MaxSurgePercent = int(s.MaxSurgePercent.ValueInt64())
	st.CanarySize = int(s.CanarySize.ValueInt64())
	st.CanaryPause = parseDuration(s.CanaryPause, 0)
	st.PauseBetweenBatches = parseDuration(s.PauseBetweenBatches, 0)
	st.BakeTime = parseDuration(s.BakeTime, 0)
	st.HealthTimeout = parseDuration(s.HealthTimeout, defaultHealthTimeout)
	st.DrainTimeout = parseDuration(s.DrainTimeout, 0)
	st.ZoneBakeTime = parseDuration(s.ZoneBakeTime, 0)
	if st.Order == rollout.OrderZoneByZone {
		st.ZoneBakeTime = parseDuration(s.ZoneBakeTime, defaultZoneBakeTime)
	}
	return st
}

// strategyFor is strategy() with defaults that depend on the fleet: an
// unset health_timeout is at least twice the slowest target group's
// healthy_threshold x interval, so that the default never rejects a group
// with slow health checks (300 s x 10 takes 50 minutes to turn healthy).
func (m deploymentModel) strategyFor(f rollout.Fleet) rollout.Strategy {
	st := m.strategy()
	if m.Strategy != nil && isSet(m.Strategy.HealthTimeout) {
		return st
	}
	for _, tg := range f.TargetGroups {
		threshold := tg.HealthyThreshold
		if threshold < 1 {
			threshold = 1
		}
		if need := 2 * time.Duration(threshold) * tg.HealthCheckInterval; need > st.HealthTimeout {
			st.HealthTimeout = need
		}
	}
	return st
}

func (m deploymentModel) failurePolicy(ctx context.Context, diags *diag.Diagnostics) rollout.FailurePolicy {
	fp := rollout.FailurePolicy{Rollback: true}
	f := m.Failure
	if f == nil {
		return fp
	}
	fp.MaxFailedInstances = int(f.MaxFailedInstances.ValueInt64())
	fp.MaxFailedPercent = int(f.MaxFailedPercent.ValueInt64())
	if isSet(f.Rollback) {
		fp.Rollback = f.Rollback.ValueBool()
	}
	fp.AlarmNames = stringsOf(ctx, f.AlarmNames, diags)
	fp.FailOnUnready = isSet(f.UnreadyInstances) && f.UnreadyInstances.ValueString() == "fail"
	fp.SuspendProcesses = stringsOf(ctx, f.SuspendProcesses, diags)
	return fp
}

// staticProblems are the cross-field checks that need no AWS call. A value
// that is null counts as unset and one that is unknown is checked later,
// when Terraform validates again with it known: each check reports every
// problem it finds, and none hides another.
func (m deploymentModel) staticProblems() []string {
	var problems []string
	seen := map[string]bool{}
	for i, s := range m.Steps {
		name := s.Name.ValueString()
		if s.Name.IsUnknown() {
			continue
		}
		if seen[name] {
			problems = append(problems, fmt.Sprintf("step %d: the name %q is used by an earlier step; step names must be unique", i+1, name))
		}
		seen[name] = true
		if isSet(s.Parameters) && isSet(s.SensitiveParameters) {
			for k := range s.SensitiveParameters.Elements() {
				if _, twice := s.Parameters.Elements()[k]; twice {
					problems = append(problems, fmt.Sprintf("step %q: %s is given both in parameters and in sensitive_parameters", name, k))
				}
			}
		}
		if isSet(s.SensitiveParameters) && isSet(s.Commands) {
			if _, ok := s.SensitiveParameters.Elements()["commands"]; ok {
				problems = append(problems, fmt.Sprintf("step %q: commands is filled by the provider from the step's commands; name the secret otherwise", name))
			}
		}
		switch {
		case isSet(s.Commands) && isSet(s.DocumentName):
			problems = append(problems, fmt.Sprintf("step %q: give either commands (shell lines for AWS-RunShellScript) or document_name, not both", name))
		case s.Commands.IsNull() && s.DocumentName.IsNull():
			problems = append(problems, fmt.Sprintf("step %q: give either commands (shell lines for AWS-RunShellScript) or document_name", name))
		}
	}
	if s := m.Strategy; s != nil {
		bake := parseDuration(s.BakeTime, 0)
		health := parseDuration(s.HealthTimeout, defaultHealthTimeout)
		if !s.BakeTime.IsUnknown() && !s.HealthTimeout.IsUnknown() && bake > 0 && bake >= health {
			problems = append(problems, fmt.Sprintf("strategy: bake_time (%s) must be shorter than health_timeout (%s)", bake, health))
		}
		if isSet(s.BatchSize) && isSet(s.BatchPercent) {
			problems = append(problems, "strategy: set batch_size or batch_percent, not both")
		}
		if isSet(s.MaxSurge) && isSet(s.MaxSurgePercent) {
			problems = append(problems, "strategy: set max_surge or max_surge_percent, not both")
		}
		if isSet(s.CanaryPause) && s.CanarySize.IsNull() {
			problems = append(problems, "strategy: canary_pause needs canary_size")
		}
		if isSet(s.ZoneBakeTime) && !s.Order.IsUnknown() && s.Order.ValueString() != string(rollout.OrderZoneByZone) {
			problems = append(problems, `strategy: zone_bake_time needs order = "zone_by_zone"`)
		}
	}
	if f := m.Failure; f != nil && isSet(f.MaxFailedInstances) && isSet(f.MaxFailedPercent) {
		problems = append(problems, "failure: set max_failed_instances or max_failed_percent, not both")
	}
	problems = append(problems, m.secretProblems()...)
	return problems
}

// instanceOutOfDate says whether an instance needs the release: a different
// version, the same version from other steps or triggers, or left out of
// service by an interrupted rollout.
func instanceOutOfDate(inst rollout.Instance, version, releaseID string) bool {
	if inst.Tags[rollout.TagPhase] != "" {
		return true
	}
	if inst.Tags[rollout.TagVersion] != version {
		return true
	}
	// releaseID is empty when the steps are unknown (after import): the
	// version alone decides then.
	rel := inst.Tags[rollout.TagRelease]
	return rel != "" && releaseID != "" && rel != releaseID
}

// engineFleet adapts the observed fleet to the engine's rule (version tag
// differs = out of date): an instance on the version through another release
// gets its version tag blanked in the engine's copy.
func engineFleet(f rollout.Fleet, version, releaseID string) rollout.Fleet {
	out := f
	out.Instances = make([]rollout.Instance, len(f.Instances))
	for i, inst := range f.Instances {
		if inst.Tags[rollout.TagPhase] == "" && inst.Tags[rollout.TagVersion] == version && instanceOutOfDate(inst, version, releaseID) {
			tags := make(map[string]string, len(inst.Tags))
			for k, v := range inst.Tags {
				tags[k] = v
			}
			tags[rollout.TagVersion] = ""
			inst.Tags = tags
		}
		out.Instances[i] = inst
	}
	return out
}

// outOfDateIDs are the instances a rollout would deploy: out of date and
// deployable now. A stopped or unready instance is not among them until it
// can be deployed again (the plan names it in a warning), so that it neither
// blocks an apply nor makes every refresh report drift; one left out of
// service by an interrupted run always is.
func outOfDateIDs(f rollout.Fleet, version, releaseID string) []string {
	var ids []string
	for _, inst := range f.Instances {
		if inst.Tags[rollout.TagSurge] != "" && !outsideFleet(inst) {
			// Launched by the surge of an interrupted rollout: the next
			// apply terminates it, whatever it runs.
			ids = append(ids, inst.ID)
			continue
		}
		if inst.Tags[rollout.TagPhase] == "" && (outsideFleet(inst) || inst.Unready != "") {
			continue
		}
		if instanceOutOfDate(inst, version, releaseID) {
			ids = append(ids, inst.ID)
		}
	}
	sort.Strings(ids)
	return ids
}

func formatDuration(d time.Duration) string {
	return d.Round(time.Second).String()
}
