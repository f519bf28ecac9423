package provider

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/rollout"
)

// ModifyPlan shows the rollout before anything happens: which instances go
// in which batch and how long it should take, in rollout_summary and
// planned_batches.
//
// Terraform plans every resource twice: once for the plan the user sees and
// once more at apply time, and refuses the apply ("inconsistent final plan")
// if the second differs. So an update plans from the fleet that the refresh
// stored in private state, which both plans see the same, never from a
// fresh read; the apply then reads AWS afresh and proceeds on what was
// planned (see apply). A create has no prior state and reads AWS.
func (r *deploymentResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() {
		return // destroy
	}
	var plan deploymentModel
	resp.Diagnostics.Append(getModel(ctx, req.Plan, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	var state *deploymentModel
	if !req.State.Raw.IsNull() {
		state = &deploymentModel{}
		resp.Diagnostics.Append(getModel(ctx, req.State, state)...)
	}

	client := r.client()
	if client == nil || !plan.scheduleInputsKnown(ctx) {
		markRolloutUnknown(&plan, state)
		resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
		return
	}
	key := fleetKey(plan.targetGroupARNs(ctx, &resp.Diagnostics), plan.instanceIDs(ctx, &resp.Diagnostics))
	number := rolloutNumber(state) + 1
	replace := false
	if state != nil {
		r.data.replacements.planned(key, replacedBy(state))
	} else if old, ok := r.data.replacements.replacement(key); ok {
		// Numbers go on across a replacement, so that its schedule shows
		// even when it equals the replaced object's.
		number = old.number + 1
		replace = !old.resume
	}

	fleet, err := r.fleetForPlan(ctx, req, state, &plan)
	if err != nil {
		addAWSError(&resp.Diagnostics, "Cannot read the fleet", err)
		return
	}
	if !plan.InstanceIDs.IsUnknown() {
		warnOutOfScope(plan.instanceIDs(ctx, &resp.Diagnostics), fleet, &resp.Diagnostics)
	}
	releaseID := plan.releaseID(ctx, &resp.Diagnostics)
	engine := engineFleet(fleet, plan.Version.ValueString(), releaseID)
	if replace {
		engine = forceRedeploy(engine, nil)
	}
	spec := rollout.Spec{
		RolloutID: "plan", // validated like a real one; no rollout starts at plan time
		Fleet:     engine,
		Release:   plan.release(ctx, nil, &resp.Diagnostics),
		Strategy:  plan.strategyFor(fleet),
		Failure:   plan.failurePolicy(ctx, &resp.Diagnostics),
		Converged: converged(state, plan.Version.ValueString()),
	}
	if err := spec.Validate(); err != nil {
		resp.Diagnostics.AddError("Invalid rollout", err.Error())
		return
	}
	sched, err := rollout.PlanSchedule(spec)
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("strategy"), "Impossible rollout", err.Error())
		return
	}
	r.checkAlarms(ctx, spec, len(sched.Batches) > 0, &resp.Diagnostics)
	r.leaseWarnings(ctx, &plan, fleet, &resp.Diagnostics)
	checkUnready(fleet, plan.Version.ValueString(), releaseID, spec.Failure.FailOnUnready, &resp.Diagnostics)
	if len(sched.Batches) > 0 {
		r.checkDocuments(ctx, &plan, &resp.Diagnostics)
	}
	if resp.Diagnostics.HasError() {
		return
	}

	plan.ID = types.StringValue(strings.Join(plan.targetGroupARNs(ctx, &resp.Diagnostics), ","))
	plan.OutOfDateInstanceIDs = stringList(nil)
	if state != nil && len(sched.Batches) == 0 && !releaseChanged(ctx, state, &plan) {
		// Nothing to roll out (a strategy or failure change, or no change):
		// the schedule and the report of the last rollout stay as they are,
		// so the plan after an apply is empty.
		plan.RolloutSummary = state.RolloutSummary
		plan.PlannedBatches = state.PlannedBatches
		plan.ExpectedDuration = state.ExpectedDuration
		plan.Versions = state.Versions
		plan.UnreadyInstances = state.UnreadyInstances
		plan.LastRollout = state.LastRollout
		resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
		return
	}
	summary, batches := scheduleLines(number, spec, sched, len(liveFleet(fleet)), replace)
	plan.RolloutSummary = types.StringValue(summary)
	plan.PlannedBatches = stringList(batches)
	plan.ExpectedDuration = types.StringValue(formatDuration(sched.ExpectedDuration))
	plan.Versions = types.MapUnknown(types.Int64Type)
	plan.UnreadyInstances = types.MapUnknown(types.StringType)
	plan.LastRollout = types.ObjectUnknown(lastRolloutAttrTypes)
	if len(sched.Batches) > 0 {
		tflog.Info(ctx, "rollout planned", map[string]any{
			"rollout_number": number, "instances": len(sched.OutOfDate), "batches": len(sched.Batches),
			"max_unavailable": sched.MaxUnavailable, "min_in_service": sched.MinInService,
			"expected_duration": formatDuration(sched.ExpectedDuration), "replacement": replace,
		})
	}
	resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
}

// fleetForPlan is the fleet an update plans from: the snapshot the last
// refresh (or apply) stored in private state. Without one (a create, or state
// written by an older provider) it reads AWS. Either way it is the fleet's
// stable part (stableFleet): who is in it, where, on which version, and
// whether they can be deployed; not target health, which the apply reads.
func (r *deploymentResource) fleetForPlan(ctx context.Context, req resource.ModifyPlanRequest, state, plan *deploymentModel) (rollout.Fleet, error) {
	var diags diag.Diagnostics
	if state != nil && sameScope(ctx, state, plan) {
		if f, ok := readFleetSnapshot(ctx, req.Private); ok {
			tflog.Debug(ctx, "planning with the fleet read by the last refresh")
			return f, nil
		}
	}
	f, err := r.discover(ctx, plan, &diags)
	if err == nil && diags.HasError() {
		err = errors.New("reading the configuration failed")
	}
	// Planned from the same stable view as an update, so that health
	// flapping between the plan and its apply (Terraform plans a create
	// again then) does not change what was planned.
	return stableFleet(f), err
}

// sameScope reports whether the plan covers the same target groups and
// instances as the state, so that the state's fleet snapshot applies.
func sameScope(ctx context.Context, state, plan *deploymentModel) bool {
	var diags diag.Diagnostics
	return fleetKey(state.targetGroupARNs(ctx, &diags), state.instanceIDs(ctx, &diags)) ==
		fleetKey(plan.targetGroupARNs(ctx, &diags), plan.instanceIDs(ctx, &diags))
}

// checkAlarms reads the configured alarms at plan time: a missing alarm is
// an error now rather than a failed rollout later.
func (r *deploymentResource) checkAlarms(ctx context.Context, spec rollout.Spec, rolling bool, diags *diag.Diagnostics) {
	names := spec.Failure.AlarmNames
	if len(names) == 0 {
		return
	}
	firing, err := r.client().Ports(r.data.clock, nil).Alarms.Firing(ctx, names)
	switch {
	case errors.Is(err, rollout.ErrNotFound):
		diags.AddAttributeError(path.Root("failure").AtName("alarm_names"), "Alarm not found", err.Error())
	case err != nil:
		addAWSError(diags, "Cannot read the alarms", err)
	case len(firing) > 0 && rolling:
		diags.AddWarning("Alarm in ALARM",
			fmt.Sprintf("%s is in ALARM now: the rollout will stop before its first batch unless it recovers.", strings.Join(firing, ", ")))
	}
}

// releaseChanged reports whether the version, steps or triggers differ
// from the state's: a new release is a new rollout, even when every
// instance happens to be on it already.
func releaseChanged(ctx context.Context, state, plan *deploymentModel) bool {
	var diags diag.Diagnostics
	if state.Version.IsNull() || len(state.Steps) == 0 {
		return false // imported: the state does not know the release yet
	}
	return state.releaseID(ctx, &diags) != plan.releaseID(ctx, &diags)
}

// markRolloutUnknown is the plan when the schedule cannot be computed yet
// (a value known only after apply, or a provider configured from one).
func markRolloutUnknown(m, state *deploymentModel) {
	if m.ID.IsNull() || m.ID.IsUnknown() {
		m.ID = types.StringUnknown()
		if state != nil {
			m.ID = state.ID
		}
	}
	m.RolloutSummary = types.StringUnknown()
	m.PlannedBatches = types.ListUnknown(types.StringType)
	m.ExpectedDuration = types.StringUnknown()
	m.OutOfDateInstanceIDs = types.ListUnknown(types.StringType)
	m.Versions = types.MapUnknown(types.Int64Type)
	m.UnreadyInstances = types.MapUnknown(types.StringType)
	m.LastRollout = types.ObjectUnknown(lastRolloutAttrTypes)
}

// forceRedeploy blanks the version tag of the given instances (all when ids
// is nil) in the engine's copy of the fleet, so that the engine redeploys
// them: what -replace and taint ask for.
func forceRedeploy(f rollout.Fleet, ids map[string]bool) rollout.Fleet {
	out := f
	out.Instances = make([]rollout.Instance, len(f.Instances))
	for i, inst := range f.Instances {
		if ids == nil || ids[inst.ID] {
			inst.Tags = withTag(inst.Tags, rollout.TagVersion, "")
		}
		out.Instances[i] = inst
	}
	return out
}

func withTag(tags map[string]string, key, value string) map[string]string {
	out := make(map[string]string, len(tags)+1)
	for k, v := range tags {
		out[k] = v
	}
	out[key] = value
	return out
}

func liveFleet(f rollout.Fleet) []rollout.Instance {
	var out []rollout.Instance
	for _, inst := range f.Instances {
		if !outsideFleet(inst) {
			out = append(out, inst)
		}
	}
	return out
}

// outsideFleet: terminated (or going) or stopped, as the engine counts it.
func outsideFleet(inst rollout.Instance) bool {
	switch inst.State {
	case "terminated", "shutting-down", "stopped", "stopping":
		return true
	}
	return false
}

func replacedBy(state *deploymentModel) replaced {
	return replaced{resume: !lastRolloutSucceeded(*state), number: rolloutNumber(state)}
}

// plannedNumber is the rollout number the plan gave (the "#N" that starts
// rollout_summary), or next when the plan has none.
func plannedNumber(summary types.String, next int64) int64 {
	var n int64
	if _, err := fmt.Sscanf(summary.ValueString(), "#%d ", &n); err == nil && n > 0 {
		return n
	}
	return next
}

// rolloutNumber is the number of the last rollout in the state, 0 when none.
func rolloutNumber(state *deploymentModel) int64 {
	if state == nil || state.LastRollout.IsNull() || state.LastRollout.IsUnknown() {
		return 0
	}
	if n, ok := state.LastRollout.Attributes()["number"].(types.Int64); ok && !n.IsNull() && !n.IsUnknown() {
		return n.ValueInt64()
	}
	return 0
}

// scheduleLines renders the planned rollout for a person reading the plan,
// a summary and one line per batch:
//
//	#4 v1.8.0: 100 of 100 instances out of date, 10 batches (batch 1 is the canary), at least 75 of 100 in service, expected 14m20s
//	#4 batch 1/10 (canary): i-0a1, i-0b2
//	#4 batch 2/10: i-0c3, ...
//
// With zone_by_zone the summary names the zones in their order and each
// line its zone: "#4 eu-west-1b batch 1/10 (canary): i-0a1".
// Every line carries the rollout number, so that Terraform, which hides
// values and list elements equal to the prior state's, always shows them.
func scheduleLines(number int64, spec rollout.Spec, sched rollout.Schedule, fleetSize int, replace bool) (string, []string) {
	prefix := "#" + strconv.FormatInt(number, 10)
	version := spec.Release.Version
	if len(sched.Batches) == 0 {
		return fmt.Sprintf("%s %s: all %d instances are on it, nothing to roll out", prefix, version, fleetSize), []string{}
	}
	what := fmt.Sprintf("%d of %d instances out of date", len(sched.OutOfDate)-surgeTotal(sched), fleetSize)
	if replace {
		what = fmt.Sprintf("replacement: all %d instances are redeployed", len(sched.OutOfDate)-surgeTotal(sched))
	}
	window := spec.Strategy.Mode == rollout.ModeWindow
	canary := spec.Strategy.CanarySize > 0
	var how string
	switch {
	case window:
		how = fmt.Sprintf("window mode: each instance leaves as soon as capacity allows, at most %d out of service at once; the lines below are the departure order", sched.MaxUnavailable)
	case canary:
		how = countOf(len(sched.Batches), "batch") + " (batch 1 is the canary)"
	default:
		how = countOf(len(sched.Batches), "batch")
	}
	if spec.Strategy.Lockstep && !window {
		how += ", every step in lockstep"
	}
	if sched.Zones != nil {
		how += ", " + zonesSummary(sched.Zones, spec.Strategy.ZoneBakeTime, sched.BakeFirst)
	}
	if n := surgeTotal(sched); n > 0 {
		how += fmt.Sprintf(", surge +%d", n)
	}
	summary := fmt.Sprintf("%s %s: %s, %s, at least %d of %d in service, expected %s",
		prefix, version, what, how, sched.MinInService, fleetSize, formatDuration(sched.ExpectedDuration))
	lines := append(undoLines(prefix, spec.Fleet, sched), surgeLines(prefix, sched)...)
	first := 1
	for i, b := range sched.Batches {
		var label string
		switch {
		case window:
			label = fmt.Sprintf("departures %d-%d", first, first+len(b)-1)
			if len(b) == 1 {
				label = fmt.Sprintf("departure %d", first)
			}
		default:
			label = fmt.Sprintf("batch %d/%d", i+1, len(sched.Batches))
			if i == 0 && canary {
				label += " (canary)"
			}
		}
		first += len(b)
		if sched.Zones != nil {
			label = sched.Zones[i] + " " + label
		}
		lines = append(lines, fmt.Sprintf("%s %s: %s", prefix, label, strings.Join(b, ", ")))
	}
	return summary, lines
}

// zonesSummary says how a zone_by_zone rollout goes through the zones:
//
//	zone by zone: eu-west-1b, eu-west-1a, eu-west-1c, a 5m0s bake after each zone but the last
//
// and, resuming a rollout stopped after some zones were done (bakeFirst),
// the zone bake it owes before the first batch:
//
//	zone by zone: a 5m0s bake first (eu-west-1a, eu-west-1b are done), then eu-west-1c (one zone)
func zonesSummary(batchZones []string, bake time.Duration, bakeFirst []string) string {
	var zones []string
	for i, z := range batchZones {
		if i == 0 || z != batchZones[i-1] {
			zones = append(zones, z)
		}
	}
	s := "zone by zone: " + strings.Join(zones, ", ")
	if bakeFirst != nil {
		s = fmt.Sprintf("zone by zone: a %s bake first (%s %s done), then %s", formatDuration(bake),
			strings.Join(bakeFirst, ", "), map[bool]string{true: "is", false: "are"}[len(bakeFirst) == 1], strings.Join(zones, ", "))
		if len(zones) == 1 {
			return s + " (one zone)"
		}
	}
	switch {
	case len(zones) == 1:
		return s + " (one zone, no zone bake)"
	case bake == 0:
		return s + ", no bake between zones"
	}
	return s + ", a " + formatDuration(bake) + " bake after each zone but the last"
}

var instanceIDInLine = regexp.MustCompile(`\bi-[0-9a-f]{8,17}\b`)

// plannedInstances are the instance ids the planned batches name, in order.
func plannedInstances(ctx context.Context, schedule types.List) []string {
	var diags diag.Diagnostics
	var out []string
	seen := map[string]bool{}
	for _, line := range stringsOf(ctx, schedule, &diags) {
		for _, id := range instanceIDInLine.FindAllString(line, -1) {
			if !seen[id] {
				seen[id] = true
				out = append(out, id)
			}
		}
	}
	return out
}

func stringList(values []string) types.List {
	elems := make([]attr.Value, 0, len(values))
	for _, v := range values {
		elems = append(elems, types.StringValue(v))
	}
	return types.ListValueMust(types.StringType, elems)
}
