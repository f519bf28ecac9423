package provider

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/rollout"
)

type stateSetter interface {
	Set(context.Context, any) diag.Diagnostics
}

// applyRequest is what Create and Update hand to apply.
type applyRequest struct {
	timeout time.Duration
	plan    *deploymentModel
	config  *deploymentModel
	prior   *deploymentModel // nil on create
	out     stateSetter
	private privateState
}

// apply runs the rollout the plan showed and records exactly where every
// instance ended, also when it fails, so that the next apply resumes.
//
// It reads AWS afresh and proceeds on what was planned: the instances the
// planned schedule names that still need it. One that left the fleet since
// the plan is dropped; one that came up to date meanwhile is skipped; one
// that fell out of date after the plan (a scale-out) is left for the next
// plan, which shows it, and named in a warning. The capacity floor is
// counted on the fleet as it is now.
func (r *deploymentResource) apply(ctx context.Context, req applyRequest, diags *diag.Diagnostics) {
	plan, config, prior := req.plan, req.config, req.prior
	client := r.client()
	if client == nil {
		diags.AddError("Provider not configured", "The rolling provider has no AWS client; check the provider configuration.")
		return
	}
	secrets := sensitiveValues(ctx, config, diags)
	masked := maskedValues(secrets)
	ctx = tflog.MaskMessageStrings(ctx, masked...)
	ctx = tflog.MaskAllFieldValuesStrings(ctx, masked...)

	fleet, err := r.discover(ctx, plan, diags)
	if err != nil {
		addAWSError(diags, "Cannot read the fleet", err)
		return
	}
	version := plan.Version.ValueString()
	releaseID := plan.releaseID(ctx, diags)
	rolloutID := newRolloutID(r.data.clock.Now())
	ctx = tflog.SetField(ctx, "rollout_id", rolloutID)
	// One rollout at a time on these instances, taken before the first
	// change and released whatever happens (deployment_lease.go).
	ctx, lease := r.takeLease(ctx, plan, &fleet, rolloutID, diags)
	if diags.HasError() {
		return
	}
	defer lease.release(ctx, diags)
	// Sensitive values reach the instances through Parameter Store for the
	// rollout's duration only (deployment_secrets.go).
	staged, ok := r.stageSecrets(ctx, plan, rolloutID, secrets, diags)
	if !ok {
		return
	}
	defer r.unstageSecrets(context.WithoutCancel(ctx), staged, diags)

	spec := rollout.Spec{
		RolloutID: rolloutID,
		Release:   plan.release(ctx, staged.lines, diags),
		Strategy:  plan.strategyFor(fleet),
		Failure:   plan.failurePolicy(ctx, diags),
		Sensitive: masked,
	}
	spec.Release.ID = releaseID
	spec.Converged = converged(prior, spec.Release.Version)
	// Rollback returns to the last release that completed
	// (deployment_rollback.go).
	spec.Previous = rollbackRelease(ctx, prior, req.private, staged.lines, diags)
	if diags.HasError() {
		return
	}

	number := plannedNumber(plan.RolloutSummary, rolloutNumber(prior)+1)
	planned := plannedInstances(ctx, plan.PlannedBatches)
	if plan.PlannedBatches.IsUnknown() {
		// The plan could not read AWS (provider configured from unknown
		// values): the schedule is made only now.
		spec.Fleet = engineFleet(fleet, version, releaseID)
		sched, err := rollout.PlanSchedule(spec)
		if err != nil {
			diags.AddAttributeError(path.Root("strategy"), "Impossible rollout", err.Error())
			return
		}
		summary, batches := scheduleLines(number, spec, sched, len(liveFleet(fleet)), false)
		plan.RolloutSummary = types.StringValue(summary)
		plan.PlannedBatches = stringList(batches)
		plan.ExpectedDuration = types.StringValue(formatDuration(sched.ExpectedDuration))
		planned = sched.OutOfDate
	}
	var notes []string
	spec.Fleet, notes = plannedFleet(fleet, version, releaseID, planned, prior == nil)
	for _, n := range notes {
		diags.AddWarning("The fleet changed since the plan", n)
	}
	if plan.OutOfDateInstanceIDs.IsUnknown() {
		plan.OutOfDateInstanceIDs = stringList(nil)
	}

	runCtx, cancel := context.WithTimeout(ctx, req.timeout)
	defer cancel()
	// The log, the events block's bus and the live page follow the rollout
	// (deployment_events.go); none of them holds it back.
	feed := r.rolloutFeed(ctx, plan, spec, number, fleet)
	ports := feed.wrap(client.Ports(r.data.clock, feed))
	result, runErr := rollout.Run(runCtx, spec, ports)
	tagCtx := context.WithoutCancel(ctx)
	r.tagAdopted(tagCtx, ports.Tags, result, fleet, version, releaseID, diags)
	after, err := r.discoverRemaining(tagCtx, plan, diags)
	// Instances that joined while the rollout ran (a scale-out, an Auto
	// Scaling replacement of an instance it drained) are rolled by this
	// apply too, in further passes over the fleet as it is now, so that it
	// ends with the whole fleet on the version; a few passes at most, since
	// a group that keeps replacing instances is a problem of its own.
	for pass := 0; runErr == nil && err == nil && pass < joinPasses; pass++ {
		joined := joinedDuring(after, result, version, releaseID)
		if len(joined) == 0 {
			break
		}
		diags.AddWarning("The fleet changed during the rollout",
			fmt.Sprintf("%s joined the fleet while the rollout ran: this apply deploys %s too.", listIDs(joined), pronoun(len(joined))))
		spec.Fleet, _ = plannedFleet(after, version, releaseID, joined, false)
		spec.Strategy = plan.strategyFor(after)
		more, moreErr := rollout.Run(runCtx, spec, ports)
		result, runErr = mergeResults(result, more), moreErr
		after, err = r.discoverRemaining(tagCtx, plan, diags)
	}
	feed.finish(result, runErr, r.data.clock, diags)

	for _, w := range result.Warnings {
		diags.AddWarning("Rollout "+rolloutID, w)
	}
	if err != nil {
		diags.AddWarning("Cannot read the fleet after the rollout",
			err.Error()+"\n\nThe state records what the rollout reported instead; the next refresh reads AWS again.")
		after = fleetAsReported(fleet, result)
	} else if joined := joinedDuring(after, result, version, releaseID); len(joined) > 0 {
		diags.AddWarning("The fleet changed during the rollout",
			fmt.Sprintf("%s joined the fleet while the rollout ran and %s not on %s: the next plan shows %s in planned_batches.",
				listIDs(joined), isAre(len(joined)), version, pronoun(len(joined))))
	}
	// Values the plan promised stay as promised (Terraform checks); those
	// it left to the apply are what AWS says now.
	if plan.Versions.IsUnknown() {
		plan.Versions = versionsValue(after)
	}
	if plan.UnreadyInstances.IsUnknown() {
		plan.UnreadyInstances = unreadyValue(after)
	}
	if plan.LastRollout.IsUnknown() {
		plan.LastRollout = lastRolloutValue(number, result, runErr, diags)
	}
	if runErr != nil {
		// The state says exactly where each instance is; the next plan
		// shows what is left and the next apply resumes.
		plan.OutOfDateInstanceIDs = stringList(outOfDateIDs(after, version, releaseID))
		plan.Versions = versionsValue(after)
		plan.UnreadyInstances = unreadyValue(after)
		plan.LastRollout = lastRolloutValue(number, result, runErr, diags)
		diags.AddError(rolloutErrorSummary(result, version), rolloutErrorDetail(result, runErr, spec.Failure.Rollback && spec.Previous == nil))
	}
	keepRollbackRelease(ctx, prior, req.private, runErr == nil, diags)
	diags.Append(writeFleetSnapshot(ctx, req.private, after)...)
	diags.Append(req.out.Set(ctx, plan)...)
}

// plannedFleet is the engine's view of the fleet for a rollout of the
// planned instances: those still present are out of date (on a create,
// whatever their tags say: a replacement redeploys), every other instance
// counts as up to date. It returns a note for each way the fleet has
// changed since the plan.
func plannedFleet(f rollout.Fleet, version, releaseID string, planned []string, create bool) (rollout.Fleet, []string) {
	engine := engineFleet(f, version, releaseID)
	want := make(map[string]bool, len(planned))
	for _, id := range planned {
		want[id] = true
	}
	present := map[string]bool{}
	var unplanned []string
	for i, inst := range engine.Instances {
		present[inst.ID] = true
		switch {
		case want[inst.ID] && create:
			engine.Instances[i].Tags = withTag(inst.Tags, rollout.TagVersion, "")
		case want[inst.ID]:
		case inst.Version() != version || inst.Tags[rollout.TagPhase] != "":
			if inst.Tags[rollout.TagPhase] != "" {
				// Left out of service by an interrupted run after the
				// plan: never leave it out; the engine recovers it.
				continue
			}
			if inst.State == "running" || inst.State == "" {
				unplanned = append(unplanned, inst.ID)
			}
			engine.Instances[i].Tags = withTag(inst.Tags, rollout.TagVersion, version)
		}
	}
	var notes []string
	var gone []string
	for _, id := range planned {
		if !present[id] {
			gone = append(gone, id)
		}
	}
	if len(gone) > 0 {
		notes = append(notes, fmt.Sprintf("%s left the fleet after the plan and %s not deployed.", listIDs(gone), isAre(len(gone))))
	}
	if len(unplanned) > 0 {
		sort.Strings(unplanned)
		notes = append(notes, fmt.Sprintf("%s joined the fleet or fell out of date after the plan: this apply leaves %s as %s; "+
			"the next plan shows %s in planned_batches.", listIDs(unplanned), pronoun(len(unplanned)), pronoun(len(unplanned)), pronoun(len(unplanned))))
	}
	return engine, notes
}

// joinPasses bounds the further passes over instances that joined during
// the rollout.
const joinPasses = 3

// mergeResults folds a further pass into the rollout's result: each
// instance's latest outcome, every batch, the last status.
func mergeResults(first, more rollout.Result) rollout.Result {
	out := more
	out.StartedAt = first.StartedAt
	out.Batches = append(append([][]string(nil), first.Batches...), more.Batches...)
	out.Warnings = append(append([]string(nil), first.Warnings...), more.Warnings...)
	latest := map[string]int{}
	out.Instances = nil
	for _, o := range first.Instances {
		latest[o.ID] = len(out.Instances)
		out.Instances = append(out.Instances, o)
	}
	for _, o := range more.Instances {
		i, seen := latest[o.ID]
		switch {
		case !seen:
			latest[o.ID] = len(out.Instances)
			out.Instances = append(out.Instances, o)
		case o.Status != rollout.InstanceUpToDate:
			out.Instances[i] = o
		}
	}
	if more.Status == rollout.StatusNoop {
		out.Status = first.Status
	}
	return out
}

// joinedDuring are the out-of-date instances of the fleet read after the
// rollout that the rollout never saw: a scale-out or a replacement while it
// ran. They are left for the next plan, which shows them.
func joinedDuring(after rollout.Fleet, res rollout.Result, version, releaseID string) []string {
	seen := make(map[string]bool, len(res.Instances))
	for _, o := range res.Instances {
		seen[o.ID] = true
	}
	var out []string
	for _, id := range outOfDateIDs(after, version, releaseID) {
		if !seen[id] {
			out = append(out, id)
		}
	}
	return out
}

func listIDs(ids []string) string {
	if len(ids) == 1 {
		return "Instance " + ids[0]
	}
	return "Instances " + strings.Join(ids, ", ")
}

func isAre(n int) string {
	if n == 1 {
		return "is"
	}
	return "are"
}

func pronoun(n int) string {
	if n == 1 {
		return "it"
	}
	return "them"
}

// tagAdopted records the release on instances found already on the
// version without one (adopted on create or import): the engine writes the
// release of every instance it deploys or rolls back itself, the moment it
// finishes.
func (r *deploymentResource) tagAdopted(ctx context.Context, tags rollout.Tagger, result rollout.Result, fleet rollout.Fleet, version, releaseID string, diags *diag.Diagnostics) {
	had := map[string]string{}
	for _, inst := range fleet.Instances {
		had[inst.ID] = inst.Tags[rollout.TagRelease]
	}
	var adopted []string
	for _, o := range result.Instances {
		if (o.Status == rollout.InstanceUpToDate || o.Status == rollout.InstanceRecovered) && o.Version == version && had[o.ID] != releaseID {
			adopted = append(adopted, o.ID)
		}
	}
	if err := tagRelease(ctx, tags, adopted, releaseID); err != nil {
		diags.AddWarning("Cannot tag the release", err.Error())
	}
}

func tagRelease(ctx context.Context, tags rollout.Tagger, ids []string, releaseID string) error {
	if len(ids) == 0 || releaseID == "" {
		return nil
	}
	return tags.SetTags(ctx, ids, map[string]string{rollout.TagRelease: releaseID})
}

// fleetAsReported is the fleet read before the rollout with the engine's
// outcome laid over it, for when AWS cannot be read after the rollout: the
// state must not claim in service an instance the rollout left out.
func fleetAsReported(before rollout.Fleet, res rollout.Result) rollout.Fleet {
	outcomes := make(map[string]rollout.InstanceOutcome, len(res.Instances))
	for _, o := range res.Instances {
		outcomes[o.ID] = o
	}
	out := before
	out.Instances = make([]rollout.Instance, len(before.Instances))
	for i, inst := range before.Instances {
		o, ok := outcomes[inst.ID]
		if ok {
			tags := make(map[string]string, len(inst.Tags)+2)
			for k, v := range inst.Tags {
				tags[k] = v
			}
			if o.Version != "" {
				tags[rollout.TagVersion] = o.Version
			}
			delete(tags, rollout.TagPhase)
			delete(tags, rollout.TagRollout)
			if o.OutOfService {
				tags[rollout.TagPhase] = o.Phase
				if o.Phase == "" {
					tags[rollout.TagPhase] = "out_of_service"
				}
				tags[rollout.TagRollout] = res.RolloutID
			}
			inst.Tags = tags
		}
		out.Instances[i] = inst
	}
	return out
}

func newRolloutID(now time.Time) string {
	return "r-" + now.UTC().Format("20060102T150405") + fmt.Sprintf("-%03d", now.Nanosecond()/1e6)
}

// converged reports whether the last rollout in state (prior, nil on a
// create) was of version and succeeded: the fleet's zones were baked then
// (rollout.Spec.Converged).
func converged(prior *deploymentModel, version string) bool {
	return prior != nil && !prior.LastRollout.IsNull() && prior.Version.ValueString() == version && lastRolloutSucceeded(*prior)
}

func lastRolloutSucceeded(m deploymentModel) bool {
	if m.LastRollout.IsNull() || m.LastRollout.IsUnknown() {
		return true
	}
	status, ok := m.LastRollout.Attributes()["status"].(types.String)
	if !ok {
		return true
	}
	s := rollout.Status(status.ValueString())
	return s == rollout.StatusSucceeded || s == rollout.StatusNoop
}
