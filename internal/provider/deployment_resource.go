package provider

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/awsclient"
	"github.com/rollingdeploy/terraform-provider-rolling/internal/rollout"
)

var (
	_ resource.ResourceWithConfigure      = (*deploymentResource)(nil)
	_ resource.ResourceWithModifyPlan     = (*deploymentResource)(nil)
	_ resource.ResourceWithValidateConfig = (*deploymentResource)(nil)
	_ resource.ResourceWithImportState    = (*deploymentResource)(nil)
)

func newDeploymentResource() resource.Resource { return &deploymentResource{} }

type deploymentResource struct {
	data *providerData
}

func (r *deploymentResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_deployment"
}

func (r *deploymentResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.data = providerDataFrom(req.ProviderData, &resp.Diagnostics)
}

func (r *deploymentResource) client() *awsclient.Client {
	if r.data == nil {
		return nil
	}
	return r.data.client
}

func (r *deploymentResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var m deploymentModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	for _, p := range m.staticProblems() {
		resp.Diagnostics.AddError("Invalid rolling_deployment configuration", p)
	}
}

// ModifyPlan reads the fleet and shows the schedule: which instances, in
// which batches, and how long it should take. Drift found by refresh
// (out_of_date_instance_ids not empty) plans an update to [] even when the
// configuration did not change.
func (r *deploymentResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() {
		return // destroy
	}
	var plan deploymentModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	var state *deploymentModel
	if !req.State.Raw.IsNull() {
		state = &deploymentModel{}
		resp.Diagnostics.Append(req.State.Get(ctx, state)...)
	}

	client := r.client()
	if client == nil || !known(ctx, plan.TargetGroupARNs) || !known(ctx, plan.InstanceIDs) ||
		plan.Version.IsUnknown() || !known(ctx, plan.Triggers) || !stepsKnown(ctx, plan.Steps) {
		markRolloutUnknown(&plan)
		resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
		return
	}

	var diags diag.Diagnostics
	fleet, err := r.discoverForPlan(ctx, &plan, &diags)
	resp.Diagnostics.Append(diags...)
	if err != nil {
		resp.Diagnostics.AddError("Cannot read the fleet", err.Error())
		return
	}
	releaseID := plan.releaseID(ctx, &resp.Diagnostics)
	spec := rollout.Spec{
		RolloutID: "plan", // validated like a real one; no rollout starts at plan time
		Fleet:     engineFleet(fleet, plan.Version.ValueString(), releaseID),
		Release:   plan.release(ctx, nil, &resp.Diagnostics),
		Strategy:  plan.strategyFor(fleet),
		Failure:   plan.failurePolicy(ctx, &resp.Diagnostics),
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

	if names := spec.Failure.AlarmNames; len(names) > 0 {
		firing, err := client.Ports(r.data.clock, nil).Alarms.Firing(ctx, names)
		switch {
		case errors.Is(err, rollout.ErrNotFound):
			resp.Diagnostics.AddAttributeError(path.Root("failure").AtName("alarm_names"), "Alarm not found", err.Error())
			return
		case err != nil:
			resp.Diagnostics.AddError("Cannot read the alarms", err.Error())
			return
		case len(firing) > 0 && len(sched.Batches) > 0:
			resp.Diagnostics.AddWarning("Alarm in ALARM",
				fmt.Sprintf("%s is in ALARM now: the rollout will stop before its first batch unless it recovers.", strings.Join(firing, ", ")))
		}
	}

	plan.ID = types.StringValue(strings.Join(plan.targetGroupARNs(ctx, &resp.Diagnostics), ","))
	plan.PlannedBatches = batchesValue(sched.Batches)
	plan.ExpectedDuration = types.StringValue(formatDuration(sched.ExpectedDuration))
	plan.OutOfDateInstanceIDs = stringList(nil)
	if len(sched.Batches) > 0 || state == nil {
		plan.Instances = types.MapUnknown(types.ObjectType{AttrTypes: instanceAttrTypes})
		plan.LastRollout = types.ObjectUnknown(lastRolloutAttrTypes)
	} else {
		// Nothing to roll out: keep what the state says, so that a plan
		// without refresh right after a rollout is empty. Refresh (Read)
		// clears the schedule of a finished rollout.
		plan.Instances = state.Instances
		plan.LastRollout = state.LastRollout
		plan.PlannedBatches = state.PlannedBatches
		plan.ExpectedDuration = state.ExpectedDuration
	}
	if len(sched.Batches) > 0 {
		tflog.Info(ctx, "rollout planned", map[string]any{
			"instances": len(sched.OutOfDate), "batches": len(sched.Batches),
			"max_unavailable": sched.MaxUnavailable, "min_in_service": sched.MinInService,
			"expected_duration": formatDuration(sched.ExpectedDuration),
		})
	}
	resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
}

// known reports whether a value holds no unknown, at any depth.
func known(ctx context.Context, v attr.Value) bool {
	tv, err := v.ToTerraformValue(ctx)
	return err == nil && tv.IsFullyKnown()
}

func stepsKnown(ctx context.Context, steps []stepModel) bool {
	for _, s := range steps {
		if s.Name.IsUnknown() || !known(ctx, s.Commands) || s.DocumentName.IsUnknown() ||
			s.DocumentVersion.IsUnknown() || !known(ctx, s.Parameters) || s.Timeout.IsUnknown() {
			return false
		}
	}
	return true
}

func markRolloutUnknown(m *deploymentModel) {
	if m.ID.IsNull() {
		m.ID = types.StringUnknown()
	}
	m.PlannedBatches = types.ListUnknown(types.ListType{ElemType: types.StringType})
	m.ExpectedDuration = types.StringUnknown()
	m.OutOfDateInstanceIDs = types.ListUnknown(types.StringType)
	m.Instances = types.MapUnknown(types.ObjectType{AttrTypes: instanceAttrTypes})
	m.LastRollout = types.ObjectUnknown(lastRolloutAttrTypes)
}

// discover reads the fleet of the configured target groups.
func (r *deploymentResource) discover(ctx context.Context, m *deploymentModel, diags *diag.Diagnostics) (rollout.Fleet, error) {
	client := r.client()
	if client == nil {
		return rollout.Fleet{}, errors.New("the provider is not configured")
	}
	return client.DiscoverFleet(ctx, m.targetGroupARNs(ctx, diags), m.instanceIDs(ctx, diags))
}

// discoverForPlan is discover, reusing the fleet the refresh of the same
// command just read when there is one.
func (r *deploymentResource) discoverForPlan(ctx context.Context, m *deploymentModel, diags *diag.Diagnostics) (rollout.Fleet, error) {
	key := fleetKey(m.targetGroupARNs(ctx, diags), m.instanceIDs(ctx, diags))
	if f, ok := r.data.refreshed.take(key); ok {
		tflog.Debug(ctx, "planning with the fleet read by refresh")
		return f, nil
	}
	return r.discover(ctx, m, diags)
}

func (r *deploymentResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan, config deploymentModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.Config.Get(ctx, &config)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, diags := plan.Timeouts.Create(ctx, defaultRolloutTimeout)
	resp.Diagnostics.Append(diags...)
	plan.ID = types.StringValue(strings.Join(plan.targetGroupARNs(ctx, &resp.Diagnostics), ","))
	r.apply(ctx, timeout, &plan, &config, nil, &resp.State, &resp.Diagnostics)
}

func (r *deploymentResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, config, state deploymentModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.Config.Get(ctx, &config)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, diags := plan.Timeouts.Update(ctx, defaultRolloutTimeout)
	resp.Diagnostics.Append(diags...)
	r.apply(ctx, timeout, &plan, &config, &state, &resp.State, &resp.Diagnostics)
}

type stateSetter interface {
	Set(context.Context, any) diag.Diagnostics
}

// apply runs the rollout and records exactly where every instance ended,
// also when it fails, so that the next apply resumes.
func (r *deploymentResource) apply(ctx context.Context, timeout time.Duration, plan, config, prior *deploymentModel, out stateSetter, diags *diag.Diagnostics) {
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
		diags.AddError("Cannot read the fleet", err.Error())
		return
	}
	version := plan.Version.ValueString()
	releaseID := plan.releaseID(ctx, diags)
	rolloutID := newRolloutID(r.data.clock.Now())
	ctx = tflog.SetField(ctx, "rollout_id", rolloutID)

	spec := rollout.Spec{
		RolloutID: rolloutID,
		Fleet:     engineFleet(fleet, version, releaseID),
		Release:   plan.release(ctx, secrets, diags),
		Strategy:  plan.strategyFor(fleet),
		Failure:   plan.failurePolicy(ctx, diags),
		Sensitive: masked,
	}
	var previousReleaseID string
	if prior != nil && !prior.Version.IsNull() && len(prior.Steps) > 0 {
		prev := prior.release(ctx, secrets, diags)
		spec.Previous = &prev
		previousReleaseID = prior.releaseID(ctx, diags)
	}
	if diags.HasError() {
		return
	}

	if plan.PlannedBatches.IsUnknown() || plan.ExpectedDuration.IsUnknown() {
		// The plan could not read AWS (provider configured from unknown
		// values): the schedule is known only now.
		sched, err := rollout.PlanSchedule(spec)
		if err != nil {
			diags.AddAttributeError(path.Root("strategy"), "Impossible rollout", err.Error())
			return
		}
		plan.PlannedBatches = batchesValue(sched.Batches)
		plan.ExpectedDuration = types.StringValue(formatDuration(sched.ExpectedDuration))
	}
	plan.OutOfDateInstanceIDs = stringList(nil)

	runCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ports := client.Ports(r.data.clock, &logObserver{ctx: ctx})
	result, runErr := rollout.Run(runCtx, spec, ports)

	// Record releases: updated instances carry this release, rolled back
	// ones the previous; adopted ones (already on the version) this one.
	tagCtx := context.WithoutCancel(ctx)
	var current, previous []string
	for _, o := range result.Instances {
		switch o.Status {
		case rollout.InstanceUpdated, rollout.InstanceUpToDate, rollout.InstanceRecovered:
			if o.Version == version {
				current = append(current, o.ID)
			}
		case rollout.InstanceRolledBack:
			previous = append(previous, o.ID)
		}
	}
	for _, w := range result.Warnings {
		diags.AddWarning("Rollout "+rolloutID, w)
	}
	if err := tagRelease(tagCtx, ports.Tags, current, releaseID); err != nil {
		diags.AddWarning("Cannot tag the release", err.Error())
	}
	if err := tagRelease(tagCtx, ports.Tags, previous, previousReleaseID); err != nil {
		diags.AddWarning("Cannot tag the release", err.Error())
	}

	updatedAt := map[string]string{}
	if prior != nil {
		updatedAt = priorUpdatedAt(prior)
	}
	for _, o := range result.Instances {
		if (o.Status == rollout.InstanceUpdated || o.Status == rollout.InstanceRolledBack) && !o.FinishedAt.IsZero() {
			updatedAt[o.ID] = o.FinishedAt.UTC().Format(time.RFC3339)
		}
	}

	after, err := r.discoverRemaining(tagCtx, plan, diags)
	if err != nil {
		diags.AddWarning("Cannot read the fleet after the rollout",
			err.Error()+"\n\nThe state records what the rollout reported instead; the next refresh reads AWS again.")
		after = fleetAsReported(fleet, result)
	}
	// When the plan found nothing to do it promised the state's instances
	// and last rollout; only a planned rollout may change them.
	if plan.Instances.IsUnknown() {
		plan.Instances = instancesValue(after, updatedAt, diags)
	}
	if plan.LastRollout.IsUnknown() {
		plan.LastRollout = lastRolloutValue(result, diags)
	}
	if runErr != nil {
		// The state says exactly where each instance is; the next plan
		// shows what is left and the next apply resumes.
		plan.OutOfDateInstanceIDs = stringList(outOfDateIDs(after, version, releaseID))
		diags.AddError(rolloutErrorSummary(rolloutID, result.Status), rolloutErrorDetail(result, runErr))
	}
	diags.Append(out.Set(ctx, plan)...)
}

func tagRelease(ctx context.Context, tags rollout.Tagger, ids []string, releaseID string) error {
	if len(ids) == 0 || releaseID == "" {
		return nil
	}
	return tags.SetTags(ctx, ids, map[string]string{rollout.TagRelease: releaseID})
}

func (r *deploymentResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state deploymentModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	client := r.client()
	if client == nil {
		return
	}
	arns := state.targetGroupARNs(ctx, &resp.Diagnostics)
	fleet, err := client.DiscoverFleet(ctx, arns, state.instanceIDs(ctx, &resp.Diagnostics))
	partial := errors.Is(err, rollout.ErrNotFound)
	if partial {
		remaining, findErr := existingTargetGroups(ctx, client, arns)
		if findErr != nil {
			resp.Diagnostics.AddError("Cannot read the target groups", findErr.Error())
			return
		}
		if len(remaining) == 0 {
			tflog.Warn(ctx, "every target group is gone; removing rolling_deployment from state", map[string]any{"target_group_arns": arns})
			resp.State.RemoveResource(ctx)
			return
		}
		resp.Diagnostics.AddWarning("Target group not found",
			fmt.Sprintf("Some target groups of this deployment no longer exist: %s. Remove them from target_group_arns.", strings.Join(missing(arns, remaining), ", ")))
		fleet, err = client.DiscoverFleet(ctx, remaining, state.instanceIDs(ctx, &resp.Diagnostics))
	}
	if err != nil {
		resp.Diagnostics.AddError("Cannot read the fleet", err.Error())
		return
	}
	if !partial {
		r.data.refreshed.put(fleetKey(arns, state.instanceIDs(ctx, &resp.Diagnostics)), fleet)
	}

	if state.Version.IsNull() {
		// After import: the version is the one most instances carry.
		state.Version = types.StringValue(commonVersion(fleet))
	}
	version := state.Version.ValueString()
	releaseID := ""
	if len(state.Steps) > 0 {
		releaseID = state.releaseID(ctx, &resp.Diagnostics)
	}
	ids := outOfDateIDs(fleet, version, releaseID)
	state.OutOfDateInstanceIDs = stringList(ids)
	state.Instances = instancesValue(fleet, priorUpdatedAt(&state), &resp.Diagnostics)
	if len(ids) == 0 {
		state.PlannedBatches = batchesValue(nil)
	}
	if state.ExpectedDuration.IsNull() {
		state.ExpectedDuration = types.StringValue("0s")
	}
	if state.PlannedBatches.IsNull() {
		state.PlannedBatches = batchesValue(nil)
	}
	if state.LastRollout.IsNull() {
		state.LastRollout = types.ObjectNull(lastRolloutAttrTypes)
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

// Delete stops tracking: it removes the provider's tags and never touches
// the application. After a rollout that did not succeed (a failed create
// leaves the resource tainted and Terraform replaces it) the version tags
// stay, so that the replacement resumes instead of redeploying everything.
func (r *deploymentResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state deploymentModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	client := r.client()
	if client == nil {
		return
	}
	fleet, err := client.DiscoverFleet(ctx, state.targetGroupARNs(ctx, &resp.Diagnostics), state.instanceIDs(ctx, &resp.Diagnostics))
	if errors.Is(err, rollout.ErrNotFound) {
		return // the target groups are gone: nothing to untag that we can find
	}
	if err != nil {
		resp.Diagnostics.AddError("Cannot read the fleet", err.Error())
		return
	}
	ids := make([]string, 0, len(fleet.Instances))
	for _, inst := range fleet.Instances {
		ids = append(ids, inst.ID)
	}
	keys := rollout.ProviderTags
	if !lastRolloutSucceeded(state) {
		keys = []string{rollout.TagRelease}
	}
	if len(ids) > 0 {
		if err := client.Ports(r.data.clock, nil).Tags.RemoveTags(ctx, ids, keys); err != nil && !errors.Is(err, rollout.ErrNotFound) {
			resp.Diagnostics.AddError("Cannot remove the provider's tags", err.Error())
		}
	}
}

// ImportState takes the target group ARNs, comma-separated.
func (r *deploymentResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	var arns []string
	for _, a := range strings.Split(req.ID, ",") {
		if a = strings.TrimSpace(a); a != "" {
			arns = append(arns, a)
		}
	}
	if len(arns) == 0 {
		resp.Diagnostics.AddError("Invalid import id", "Give the target group ARNs, separated by commas.")
		return
	}
	sort.Strings(arns)
	set, diags := types.SetValueFrom(ctx, types.StringType, arns)
	resp.Diagnostics.Append(diags...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), strings.Join(arns, ","))...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("target_group_arns"), set)...)
}

// discoverRemaining reads the fleet of the target groups that still exist:
// one may have been deleted while the rollout ran.
func (r *deploymentResource) discoverRemaining(ctx context.Context, m *deploymentModel, diags *diag.Diagnostics) (rollout.Fleet, error) {
	client := r.client()
	arns, ids := m.targetGroupARNs(ctx, diags), m.instanceIDs(ctx, diags)
	fleet, err := client.DiscoverFleet(ctx, arns, ids)
	if !errors.Is(err, rollout.ErrNotFound) {
		return fleet, err
	}
	remaining, findErr := existingTargetGroups(ctx, client, arns)
	if findErr != nil || len(remaining) == 0 {
		return fleet, err
	}
	return client.DiscoverFleet(ctx, remaining, ids)
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

func newRolloutID(now time.Time) string {
	return "r-" + now.UTC().Format("20060102T150405") + fmt.Sprintf("-%03d", now.Nanosecond()/1e6)
}

func sensitiveValues(ctx context.Context, config *deploymentModel, diags *diag.Diagnostics) map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, s := range config.Steps {
		if s.SensitiveParameters.IsNull() || s.SensitiveParameters.IsUnknown() {
			continue
		}
		values := map[string]string{}
		diags.Append(s.SensitiveParameters.ElementsAs(ctx, &values, false)...)
		out[s.Name.ValueString()] = values
	}
	return out
}

func maskedValues(secrets map[string]map[string]string) []string {
	var out []string
	for _, values := range secrets {
		for _, v := range values {
			if v != "" {
				out = append(out, v)
			}
		}
	}
	return out
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

func priorUpdatedAt(m *deploymentModel) map[string]string {
	out := map[string]string{}
	if m.Instances.IsNull() || m.Instances.IsUnknown() {
		return out
	}
	for id, v := range m.Instances.Elements() {
		obj, ok := v.(types.Object)
		if !ok {
			continue
		}
		if s, ok := obj.Attributes()["updated_at"].(types.String); ok && s.ValueString() != "" {
			out[id] = s.ValueString()
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

func batchesValue(batches [][]string) types.List {
	elems := make([]attr.Value, 0, len(batches))
	for _, b := range batches {
		elems = append(elems, stringList(b))
	}
	return types.ListValueMust(types.ListType{ElemType: types.StringType}, elems)
}

// instanceStatus summarises an instance for the instances attribute.
func instanceStatus(inst rollout.Instance) string {
	if inst.Tags[rollout.TagPhase] != "" {
		return "out_of_service"
	}
	if len(inst.Health) == 0 {
		return string(rollout.HealthUnused)
	}
	rank := map[rollout.HealthState]int{
		rollout.HealthHealthy: 0, rollout.HealthInitial: 1, rollout.HealthDraining: 2,
		rollout.HealthUnhealthy: 3, rollout.HealthUnavailable: 4, rollout.HealthUnused: 5,
	}
	worst := rollout.HealthHealthy
	for _, h := range inst.Health {
		if rank[h.State] > rank[worst] {
			worst = h.State
		}
	}
	if worst == rollout.HealthHealthy {
		return "in_service"
	}
	return string(worst)
}

func instancesValue(f rollout.Fleet, updatedAt map[string]string, diags *diag.Diagnostics) types.Map {
	objType := types.ObjectType{AttrTypes: instanceAttrTypes}
	elems := make(map[string]attr.Value, len(f.Instances))
	for _, inst := range f.Instances {
		obj, d := types.ObjectValue(instanceAttrTypes, map[string]attr.Value{
			"availability_zone":  types.StringValue(inst.AZ),
			"auto_scaling_group": types.StringValue(inst.AutoScalingGroup),
			"version":            types.StringValue(inst.Tags[rollout.TagVersion]),
			"status":             types.StringValue(instanceStatus(inst)),
			"updated_at":         types.StringValue(updatedAt[inst.ID]),
		})
		diags.Append(d...)
		elems[inst.ID] = obj
	}
	m, d := types.MapValue(objType, elems)
	diags.Append(d...)
	return m
}

// failedCount counts instances that failed, including those rolled back
// afterwards.
func failedCount(res rollout.Result) int {
	n := 0
	for _, o := range res.Instances {
		if o.Err != nil || o.Status == rollout.InstanceFailed {
			n++
		}
	}
	return n
}

func lastRolloutValue(res rollout.Result, diags *diag.Diagnostics) types.Object {
	ts := func(t time.Time) types.String {
		if t.IsZero() {
			return types.StringValue("")
		}
		return types.StringValue(t.UTC().Format(time.RFC3339))
	}
	obj, d := types.ObjectValue(lastRolloutAttrTypes, map[string]attr.Value{
		"id":          types.StringValue(res.RolloutID),
		"status":      types.StringValue(string(res.Status)),
		"started_at":  ts(res.StartedAt),
		"finished_at": ts(res.FinishedAt),
		"batches":     types.Int64Value(int64(len(res.Batches))),
		"updated":     types.Int64Value(int64(res.Count(rollout.InstanceUpdated))),
		"failed":      types.Int64Value(int64(failedCount(res))),
		"rolled_back": types.Int64Value(int64(res.Count(rollout.InstanceRolledBack))),
		"message":     types.StringValue(res.StopReason),
	})
	diags.Append(d...)
	return obj
}

func rolloutErrorSummary(id string, status rollout.Status) string {
	switch status {
	case rollout.StatusRolledBack:
		return fmt.Sprintf("Rollout %s failed and was rolled back", id)
	case rollout.StatusCancelled:
		return fmt.Sprintf("Rollout %s was cancelled", id)
	default:
		return fmt.Sprintf("Rollout %s failed", id)
	}
}

// rolloutErrorDetail says what failed, what was done about it (the
// engine's error lists both, instance by instance) and what happens next.
func rolloutErrorDetail(res rollout.Result, err error) string {
	next := "The state records which instance runs which version: the next plan shows what is left and the next apply resumes."
	for _, o := range res.Instances {
		if o.OutOfService {
			next += " Instances left out of service are recovered first."
			break
		}
	}
	return err.Error() + "\n\n" + next
}

// logObserver turns engine events into tflog entries: Info per batch, Debug
// per instance, Trace per poll. Messages arrive masked by the engine and
// the context masks again.
type logObserver struct{ ctx context.Context }

func (o *logObserver) Event(e rollout.Event) {
	fields := map[string]any{"rollout_id": e.RolloutID}
	if e.Batch > 0 {
		fields["batch"] = e.Batch
	}
	if e.InstanceID != "" {
		fields["instance_id"] = e.InstanceID
	}
	if e.Phase != "" {
		fields["phase"] = e.Phase
	}
	msg := string(e.Kind)
	if e.Message != "" {
		msg += ": " + e.Message
	}
	switch e.Kind {
	case rollout.EventPoll:
		tflog.Trace(o.ctx, msg, fields)
	case rollout.EventInstancePhase, rollout.EventInstanceDone:
		tflog.Debug(o.ctx, msg, fields)
	case rollout.EventInstanceFailed, rollout.EventStopped:
		tflog.Warn(o.ctx, msg, fields)
	default:
		tflog.Info(o.ctx, msg, fields)
	}
}
