package provider

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/awsclient"
	"github.com/rollingdeploy/terraform-provider-rolling/internal/rollout"
	"github.com/rollingdeploy/terraform-provider-rolling/internal/validate"
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
	resp.Diagnostics.Append(getModel(ctx, req.Config, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	for _, p := range m.staticProblems() {
		resp.Diagnostics.AddError("Invalid rolling_deployment configuration", p)
	}
}

func (r *deploymentResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan, config deploymentModel
	resp.Diagnostics.Append(getModel(ctx, req.Plan, &plan)...)
	resp.Diagnostics.Append(getModel(ctx, req.Config, &config)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, diags := plan.Timeouts.Create(ctx, defaultRolloutTimeout)
	resp.Diagnostics.Append(diags...)
	plan.ID = types.StringValue(strings.Join(plan.targetGroupARNs(ctx, &resp.Diagnostics), ","))
	r.apply(ctx, applyRequest{timeout: timeout, plan: &plan, config: &config, out: &resp.State, private: resp.Private}, &resp.Diagnostics)
}

func (r *deploymentResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, config, state deploymentModel
	resp.Diagnostics.Append(getModel(ctx, req.Plan, &plan)...)
	resp.Diagnostics.Append(getModel(ctx, req.Config, &config)...)
	resp.Diagnostics.Append(getModel(ctx, req.State, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, diags := plan.Timeouts.Update(ctx, defaultRolloutTimeout)
	resp.Diagnostics.Append(diags...)
	r.apply(ctx, applyRequest{timeout: timeout, plan: &plan, config: &config, prior: &state, out: &resp.State, private: resp.Private}, &resp.Diagnostics)
}

// Read records what AWS says of the fleet: drift (out_of_date_instance_ids,
// versions) and, in private state, the snapshot the next plan schedules
// from. It leaves schedule, expected_duration and last_rollout alone: they
// describe the last planned rollout, which no refresh changes, so that a
// refresh after a successful apply finds nothing to report.
func (r *deploymentResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state deploymentModel
	resp.Diagnostics.Append(getModel(ctx, req.State, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	client := r.client()
	if client == nil {
		return
	}
	arns := state.targetGroupARNs(ctx, &resp.Diagnostics)
	// A create planned after this refresh, in this process, replaces this
	// object (taint: Terraform plans it with no prior state at all).
	r.data.replacements.planned(fleetKey(arns, state.instanceIDs(ctx, &resp.Diagnostics)), replacedBy(&state))
	fleet, err := readFleet(ctx, client, arns, state.instanceIDs(ctx, &resp.Diagnostics))
	if errors.Is(err, rollout.ErrNotFound) {
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
		fleet, err = readFleet(ctx, client, remaining, state.instanceIDs(ctx, &resp.Diagnostics))
	}
	if err != nil {
		addAWSError(&resp.Diagnostics, "Cannot read the fleet", err)
		return
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
	state.OutOfDateInstanceIDs = stringList(outOfDateIDs(fleet, version, releaseID))
	state.Versions = versionsValue(fleet)
	if state.PlannedBatches.IsNull() {
		state.PlannedBatches = stringList(nil)
	}
	if state.RolloutSummary.IsNull() {
		state.RolloutSummary = types.StringValue("")
	}
	if state.ExpectedDuration.IsNull() {
		state.ExpectedDuration = types.StringValue("0s")
	}
	state.UnreadyInstances = unreadyValue(fleet)
	resp.Diagnostics.Append(writeFleetSnapshot(ctx, resp.Private, fleet)...)
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

// Delete stops tracking: it removes the provider's tags and never touches
// the application. After a rollout that did not succeed (a failed create
// leaves the resource tainted and Terraform replaces it) the version tags
// stay, so that the replacement resumes instead of redeploying everything.
func (r *deploymentResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state deploymentModel
	resp.Diagnostics.Append(getModel(ctx, req.State, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if r.data != nil {
		// A create that follows in this process replaces this object.
		r.data.replacements.planned(fleetKey(state.targetGroupARNs(ctx, &resp.Diagnostics), state.instanceIDs(ctx, &resp.Diagnostics)),
			replacedBy(&state))
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
		addAWSError(&resp.Diagnostics, "Cannot read the fleet", err)
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
	for _, a := range arns {
		if !validate.IsTargetGroupARN(a) {
			// A name ("web") would otherwise end in Terraform's "Cannot
			// import non-existent remote object", which does not say why.
			resp.Diagnostics.AddError("Invalid import id", fmt.Sprintf(
				"%q is not an ELBv2 target group ARN. Give the target group ARNs of the deployment, separated by commas, "+
					"such as arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/0123456789abcdef "+
					"(aws elbv2 describe-target-groups --names web --query 'TargetGroups[].TargetGroupArn').", a))
			return
		}
	}
	sort.Strings(arns)
	set, diags := types.SetValueFrom(ctx, types.StringType, arns)
	resp.Diagnostics.Append(diags...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), strings.Join(arns, ","))...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("target_group_arns"), set)...)
}
