package provider

import (
	"context"
	"fmt"
	"sort"

	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/rollout"
	"github.com/rollingdeploy/terraform-provider-rolling/internal/validate"
)

var _ datasource.DataSourceWithConfigure = (*targetGroupDataSource)(nil)

func newTargetGroupDataSource() datasource.DataSource { return &targetGroupDataSource{} }

type targetGroupDataSource struct {
	data *providerData
}

type targetGroupModel struct {
	ARN                 types.String `tfsdk:"arn"`
	Name                types.String `tfsdk:"name"`
	DeregistrationDelay types.Int64  `tfsdk:"deregistration_delay"`
	HealthCheckInterval types.Int64  `tfsdk:"health_check_interval"`
	HealthyThreshold    types.Int64  `tfsdk:"healthy_threshold"`
	UnhealthyThreshold  types.Int64  `tfsdk:"unhealthy_threshold"`
	Instances           types.List   `tfsdk:"instances"`
}

var targetAttrTypes = map[string]attr.Type{
	"id":                 types.StringType,
	"port":               types.Int64Type,
	"health_state":       types.StringType,
	"health_reason":      types.StringType,
	"availability_zone":  types.StringType,
	"auto_scaling_group": types.StringType,
	"version":            types.StringType,
}

func (d *targetGroupDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_target_group"
}

func (d *targetGroupDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "Reads an ELBv2 target group's registered instances with their health, Availability Zone, " +
			"Auto Scaling group and the version this provider deployed to them.",
		Attributes: map[string]schema.Attribute{
			"arn": schema.StringAttribute{
				Optional: true, Computed: true,
				MarkdownDescription: "Target group ARN. Exactly one of `arn` and `name` is required.",
				Validators: []validator.String{
					validate.TargetGroupARN(),
					stringvalidator.ExactlyOneOf(path.MatchRoot("arn"), path.MatchRoot("name")),
				},
			},
			"name": schema.StringAttribute{
				Optional: true, Computed: true,
				MarkdownDescription: "Target group name.",
				Validators:          []validator.String{stringvalidator.LengthBetween(1, 32)},
			},
			"deregistration_delay":  schema.Int64Attribute{Computed: true, MarkdownDescription: "Deregistration delay, in seconds."},
			"health_check_interval": schema.Int64Attribute{Computed: true, MarkdownDescription: "Health check interval, in seconds."},
			"healthy_threshold":     schema.Int64Attribute{Computed: true, MarkdownDescription: "Consecutive successful checks before a target is healthy."},
			"unhealthy_threshold":   schema.Int64Attribute{Computed: true, MarkdownDescription: "Consecutive failed checks before a target is unhealthy."},
			"instances": schema.ListNestedAttribute{
				Computed:            true,
				MarkdownDescription: "Registered instance targets, by instance id and port.",
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"id":                 schema.StringAttribute{Computed: true, MarkdownDescription: "Instance id."},
					"port":               schema.Int64Attribute{Computed: true, MarkdownDescription: "Registered port."},
					"health_state":       schema.StringAttribute{Computed: true, MarkdownDescription: "`initial`, `healthy`, `unhealthy`, `unused`, `draining` or `unavailable`."},
					"health_reason":      schema.StringAttribute{Computed: true, MarkdownDescription: "AWS reason code, such as `Target.FailedHealthChecks`; empty when healthy."},
					"availability_zone":  schema.StringAttribute{Computed: true, MarkdownDescription: "Availability Zone."},
					"auto_scaling_group": schema.StringAttribute{Computed: true, MarkdownDescription: "Auto Scaling group, empty when none."},
					"version":            schema.StringAttribute{Computed: true, MarkdownDescription: "The `rolling:version` tag, empty when never deployed by this provider."},
				}},
			},
		},
	}
}

func (d *targetGroupDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.data = providerDataFrom(req.ProviderData, &resp.Diagnostics)
}

func (d *targetGroupDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m targetGroupModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if d.data == nil || d.data.client == nil {
		resp.Diagnostics.AddError("Provider not configured", "The rolling provider has no AWS client; check the provider configuration.")
		return
	}
	client := d.data.client
	var arns, names []string
	if m.ARN.ValueString() != "" {
		arns = []string{m.ARN.ValueString()}
	} else {
		names = []string{m.Name.ValueString()}
	}
	groups, err := client.FindTargetGroups(ctx, arns, names)
	if err != nil {
		resp.Diagnostics.AddError("Cannot read the target group", err.Error())
		return
	}
	if len(groups) != 1 {
		resp.Diagnostics.AddError("Target group not found", fmt.Sprintf("Found %d target groups for %v%v.", len(groups), arns, names))
		return
	}
	tg := groups[0]
	fleet, err := client.DiscoverFleet(ctx, []string{tg.ARN}, nil)
	if err != nil {
		resp.Diagnostics.AddError("Cannot read the target group's instances", err.Error())
		return
	}
	m.ARN = types.StringValue(tg.ARN)
	m.Name = types.StringValue(tg.Name)
	m.DeregistrationDelay = types.Int64Value(int64(tg.DeregistrationDelay.Seconds()))
	m.HealthCheckInterval = types.Int64Value(int64(tg.HealthCheckInterval.Seconds()))
	m.HealthyThreshold = types.Int64Value(int64(tg.HealthyThreshold))
	m.UnhealthyThreshold = types.Int64Value(int64(tg.UnhealthyThreshold))
	m.Instances = targetsValue(tg.ARN, fleet, &resp.Diagnostics)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

// targetsValue lists the group's registrations, sorted by instance and port.
func targetsValue(arn string, f rollout.Fleet, diags *diag.Diagnostics) types.List {
	type row struct {
		inst   rollout.Instance
		target rollout.Target
	}
	var rows []row
	for _, inst := range f.Instances {
		for _, t := range inst.Targets[arn] {
			rows = append(rows, row{inst, t})
		}
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].target.InstanceID != rows[j].target.InstanceID {
			return rows[i].target.InstanceID < rows[j].target.InstanceID
		}
		return rows[i].target.Port < rows[j].target.Port
	})
	objType := types.ObjectType{AttrTypes: targetAttrTypes}
	elems := make([]attr.Value, 0, len(rows))
	for _, r := range rows {
		h := r.inst.Health[arn]
		obj, d := types.ObjectValue(targetAttrTypes, map[string]attr.Value{
			"id":                 types.StringValue(r.inst.ID),
			"port":               types.Int64Value(int64(r.target.Port)),
			"health_state":       types.StringValue(string(h.State)),
			"health_reason":      types.StringValue(h.Reason),
			"availability_zone":  types.StringValue(r.inst.AZ),
			"auto_scaling_group": types.StringValue(r.inst.AutoScalingGroup),
			"version":            types.StringValue(r.inst.Tags[rollout.TagVersion]),
		})
		diags.Append(d...)
		elems = append(elems, obj)
	}
	list, d := types.ListValue(objType, elems)
	diags.Append(d...)
	return list
}
