package provider

import (
	"context"
	"regexp"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/mapvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/setvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/validate"
)

var (
	stepNamePattern     = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
	instanceIDPattern   = regexp.MustCompile(`^i-[0-9a-f]{8,17}$`)
	parameterKeyPattern = regexp.MustCompile(`^[A-Za-z0-9_]{1,64}$`)
	// eventBusPattern is PutEvents' EventBusName pattern (botocore).
	eventBusPattern = regexp.MustCompile(`^(arn:aws[\w-]*:events:[a-z]+-[a-z]+-[\w-]+:[0-9]{12}:event-bus/)?[.\-_A-Za-z0-9]+$`)
)

// Defaults applied in code when an attribute or its block is absent; the
// schema descriptions say the same.
const (
	defaultBatchSize         = 1
	defaultMinHealthyPercent = 50
	defaultStepTimeout       = 10 * time.Minute
	defaultHealthTimeout     = 10 * time.Minute
	defaultRolloutTimeout    = 60 * time.Minute
	// defaultZoneBakeTime: CodeDeploy's zonal configuration goes on to the
	// next zone at once unless given a monitor duration, but a bake that
	// only waits for health checks misses what alarms catch (error rates,
	// latency); an alarm on one-minute data needs a few periods plus the
	// metric's delay to reach ALARM. Five minutes lets such an alarm fire
	// before the next zone is touched; the plan shows the cost.
	defaultZoneBakeTime = 5 * time.Minute
)

type deploymentModel struct {
	ID                   types.String   `tfsdk:"id"`
	TargetGroupARNs      types.Set      `tfsdk:"target_group_arns"`
	InstanceIDs          types.Set      `tfsdk:"instance_ids"`
	Version              types.String   `tfsdk:"version"`
	Triggers             types.Map      `tfsdk:"triggers"`
	StepBlocks           types.List     `tfsdk:"step"`
	StrategyBlock        types.Object   `tfsdk:"strategy"`
	FailureBlock         types.Object   `tfsdk:"failure"`
	LeaseBlock           types.Object   `tfsdk:"lease"`  // read by leaseSettings
	EventsBlock          types.Object   `tfsdk:"events"` // read by eventBus
	Timeouts             timeouts.Value `tfsdk:"timeouts"`
	RolloutSummary       types.String   `tfsdk:"rollout_summary"`
	PlannedBatches       types.List     `tfsdk:"planned_batches"`
	ExpectedDuration     types.String   `tfsdk:"expected_duration"`
	OutOfDateInstanceIDs types.List     `tfsdk:"out_of_date_instance_ids"`
	Versions             types.Map      `tfsdk:"versions"`
	UnreadyInstances     types.Map      `tfsdk:"unready_instances"`
	LastRollout          types.Object   `tfsdk:"last_rollout"`

	// The blocks decoded by decodeBlocks. A block whose value is unknown
	// (a dynamic block over a value known only after apply) leaves
	// BlocksKnown false and its field empty; the raw fields above are what
	// Terraform sees and are written back untouched.
	Steps       []stepModel    `tfsdk:"-"`
	Strategy    *strategyModel `tfsdk:"-"`
	Failure     *failureModel  `tfsdk:"-"`
	BlocksKnown bool           `tfsdk:"-"`
}

type stepModel struct {
	Name                types.String `tfsdk:"name"`
	Commands            types.List   `tfsdk:"commands"`
	DocumentName        types.String `tfsdk:"document_name"`
	DocumentVersion     types.String `tfsdk:"document_version"`
	Parameters          types.Map    `tfsdk:"parameters"`
	SensitiveParameters types.Map    `tfsdk:"sensitive_parameters"`
	Timeout             types.String `tfsdk:"timeout"`
}

type strategyModel struct {
	BatchSize           types.Int64  `tfsdk:"batch_size"`
	BatchPercent        types.Int64  `tfsdk:"batch_percent"`
	MinHealthyPercent   types.Int64  `tfsdk:"min_healthy_percent"`
	Mode                types.String `tfsdk:"mode"`
	Lockstep            types.Bool   `tfsdk:"lockstep"`
	CanarySize          types.Int64  `tfsdk:"canary_size"`
	CanaryPause         types.String `tfsdk:"canary_pause"`
	PauseBetweenBatches types.String `tfsdk:"pause_between_batches"`
	BakeTime            types.String `tfsdk:"bake_time"`
	HealthTimeout       types.String `tfsdk:"health_timeout"`
	DrainTimeout        types.String `tfsdk:"drain_timeout"`
	Order               types.String `tfsdk:"order"`
	ZoneBakeTime        types.String `tfsdk:"zone_bake_time"`
	MaxSurge            types.Int64  `tfsdk:"max_surge"`
	MaxSurgePercent     types.Int64  `tfsdk:"max_surge_percent"`
}

type failureModel struct {
	MaxFailedInstances types.Int64  `tfsdk:"max_failed_instances"`
	MaxFailedPercent   types.Int64  `tfsdk:"max_failed_percent"`
	Rollback           types.Bool   `tfsdk:"rollback"`
	AlarmNames         types.List   `tfsdk:"alarm_names"`
	SuspendProcesses   types.List   `tfsdk:"suspend_processes"`
	UnreadyInstances   types.String `tfsdk:"unready_instances"`
}

var lastRolloutAttrTypes = map[string]attr.Type{
	"number":      types.Int64Type,
	"id":          types.StringType,
	"status":      types.StringType,
	"started_at":  types.StringType,
	"finished_at": types.StringType,
	"batches":     types.Int64Type,
	"updated":     types.Int64Type,
	"failed":      types.Int64Type,
	"rolled_back": types.Int64Type,
	"message":     types.StringType,
}

func durationAttr(desc string, lo, hi time.Duration) schema.StringAttribute {
	return schema.StringAttribute{
		Optional:            true,
		MarkdownDescription: desc,
		Validators:          []validator.String{validate.Duration(lo, hi)},
	}
}

func (r *deploymentResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		Version: deploymentSchemaVersion,
		MarkdownDescription: "A rolling deployment of one application version to the EC2 instances registered in one " +
			"or more ELBv2 target groups. Creating or updating the resource IS the rollout: batch by batch, " +
			"instances leave their target groups (or enter Auto Scaling standby), run the `step` blocks through " +
			"SSM Run Command, rejoin, and must be healthy before the next batch starts. The plan shows the " +
			"batches before anything happens, and instances not on `version` (a new Auto Scaling instance, a " +
			"hotfix, an interrupted run) show up as drift.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{
				Computed:            true,
				MarkdownDescription: "The target group ARNs, sorted and joined with commas. This is also the import id.",
				PlanModifiers:       []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"target_group_arns": schema.SetAttribute{
				ElementType: types.StringType,
				Required:    true,
				MarkdownDescription: "ELBv2 target groups whose registered instances make up the fleet. An instance is " +
					"taken out of every one of these groups it is registered in.",
				Validators: []validator.Set{
					setvalidator.SizeBetween(1, 20),
					setvalidator.ValueStringsAre(validate.TargetGroupARN()),
				},
			},
			"instance_ids": schema.SetAttribute{
				ElementType: types.StringType,
				Optional:    true,
				MarkdownDescription: "Restrict the rollout to these instances of the target groups. Defaults to every " +
					"registered instance. The capacity floor is still counted over the instances in scope.",
				Validators: []validator.Set{
					setvalidator.SizeAtLeast(1),
					setvalidator.ValueStringsAre(stringvalidator.RegexMatches(instanceIDPattern, "must be an EC2 instance id such as i-0123456789abcdef0")),
				},
			},
			"version": schema.StringAttribute{
				Required: true,
				MarkdownDescription: "The application version to deploy. Changing it starts a rollout. It is written to " +
					"each instance's `rolling:version` tag once the instance is healthy on it.",
				Validators: []validator.String{stringvalidator.LengthBetween(1, 200)},
			},
			"triggers": schema.MapAttribute{
				ElementType: types.StringType,
				Optional:    true,
				MarkdownDescription: "Arbitrary values; any change redeploys every instance, even those already on " +
					"`version` (for example a configuration file's hash).",
			},
			"rollout_summary": schema.StringAttribute{
				Computed: true,
				MarkdownDescription: "The planned rollout in one line, for people reading the plan: its number (`#4`), the " +
					"version, how many instances are out of date, the batches (the canary labelled), the capacity floor and the " +
					"expected duration. A plan with nothing to roll out leaves it as it is, so after an apply it describes the " +
					"rollout that apply planned (`last_rollout` says what actually ran).",
			},
			"planned_batches": schema.ListAttribute{
				ElementType: types.StringType,
				Computed:    true,
				MarkdownDescription: "The schedule, one line per batch: `#4 batch 1/10 (canary): i-0a1, i-0b2`. Each line carries " +
					"the rollout's number, so a plan always shows the whole schedule, even when an earlier rollout had the same " +
					"batches. In window mode the lines are the departure order (`#4 departures 1-5: ...`): each instance leaves " +
					"as soon as capacity allows. Kept, like `rollout_summary`, until the next planned rollout.",
			},
			"expected_duration": schema.StringAttribute{
				Computed: true,
				MarkdownDescription: "Estimate of the planned rollout's duration from the target groups' deregistration " +
					"delay and health check settings, the strategy, and the time each step took in the last rollout (recorded on " +
					"the instances in a `rolling:steps` tag; before any rollout, `min(timeout, 30s)` a step). Kept, like " +
					"`planned_batches`, until the next planned rollout.",
			},
			"out_of_date_instance_ids": schema.ListAttribute{
				ElementType: types.StringType,
				Computed:    true,
				MarkdownDescription: "Drift: instances not on `version` (or on it through other steps or triggers, or left out of " +
					"service by an interrupted run), as last read from AWS. Empty after a successful apply; a refresh that " +
					"finds any makes the plan an update that rolls them (their ids are in `planned_batches`).",
			},
			"unready_instances": schema.MapAttribute{
				ElementType: types.StringType,
				Computed:    true,
				MarkdownDescription: "Instances that cannot be deployed now, with the reason (`stopped`, `status checks impaired (...)`, " +
					"`SSM agent ConnectionLost`, `no SSM agent registered`), as last read from AWS. A rollout leaves them out " +
					"(see `failure.unready_instances`); a refresh that finds one reports it as a change, since a rollout could not " +
					"reach it. Known after apply when a rollout is planned.",
			},
			"versions": schema.MapAttribute{
				ElementType: types.Int64Type,
				Computed:    true,
				MarkdownDescription: "How many instances carry each `rolling:version` tag, as last read from AWS (`\"\"` for " +
					"instances this provider never deployed). Known after apply when a rollout is planned.",
			},
			"last_rollout": schema.SingleNestedAttribute{
				Computed:            true,
				MarkdownDescription: "Summary of the last rollout this resource ran.",
				Attributes: map[string]schema.Attribute{
					"number":      schema.Int64Attribute{Computed: true, MarkdownDescription: "This resource's rollout count: 1 for the first apply, one more for each planned rollout. `rollout_summary` and `planned_batches` lines carry it as `#N`."},
					"id":          schema.StringAttribute{Computed: true, MarkdownDescription: "Rollout id, also written to the `rolling:rollout` tag of instances it takes out of service."},
					"status":      schema.StringAttribute{Computed: true, MarkdownDescription: "`succeeded`, `failed`, `rolled_back`, `cancelled` or `noop`."},
					"started_at":  schema.StringAttribute{Computed: true, MarkdownDescription: "RFC 3339 start time."},
					"finished_at": schema.StringAttribute{Computed: true, MarkdownDescription: "RFC 3339 end time."},
					"batches":     schema.Int64Attribute{Computed: true, MarkdownDescription: "Batches executed."},
					"updated":     schema.Int64Attribute{Computed: true, MarkdownDescription: "Instances updated."},
					"failed":      schema.Int64Attribute{Computed: true, MarkdownDescription: "Instances that failed."},
					"rolled_back": schema.Int64Attribute{Computed: true, MarkdownDescription: "Instances rolled back to the previous version."},
					"message":     schema.StringAttribute{Computed: true, MarkdownDescription: "Why the rollout stopped early, empty when it did not."},
				},
			},
		},
		Blocks: map[string]schema.Block{
			"step": schema.ListNestedBlock{
				MarkdownDescription: "An ordered step run on each instance while it is out of service, as an SSM Run " +
					"Command. Give either `commands` (shell lines for `AWS-RunShellScript`) or `document_name`. A non-zero " +
					"exit, a timeout or an undeliverable command fails the instance. Changing steps starts a rollout.",
				Validators: []validator.List{listvalidator.SizeBetween(1, 20), listvalidator.IsRequired()},
				NestedObject: schema.NestedBlockObject{Attributes: map[string]schema.Attribute{
					"name": schema.StringAttribute{
						Required:            true,
						MarkdownDescription: "Step name, unique within the resource: letters, digits, `_`, `.`, `-`.",
						Validators:          []validator.String{stringvalidator.RegexMatches(stepNamePattern, "must be 1 to 64 letters, digits, '_', '.' or '-'")},
					},
					"commands": schema.ListAttribute{
						ElementType:         types.StringType,
						Optional:            true,
						MarkdownDescription: "Shell lines run in order by `AWS-RunShellScript`; the first failing line fails the step.",
						Validators:          []validator.List{listvalidator.SizeAtLeast(1)},
					},
					"document_name": schema.StringAttribute{
						Optional:            true,
						MarkdownDescription: "Name or ARN of an SSM Command document to run instead of `commands`.",
						Validators:          []validator.String{stringvalidator.LengthBetween(3, 200)},
					},
					"document_version": schema.StringAttribute{
						Optional:            true,
						MarkdownDescription: "Document version (`$LATEST`, `$DEFAULT` or a number). Defaults to `$DEFAULT`.",
						Validators: []validator.String{
							stringvalidator.RegexMatches(regexp.MustCompile(`^(\$LATEST|\$DEFAULT|[0-9]+)$`), "must be $LATEST, $DEFAULT or a version number"),
							stringvalidator.AlsoRequires(path.MatchRelative().AtParent().AtName("document_name")),
						},
					},
					"parameters": schema.MapAttribute{
						ElementType:         types.ListType{ElemType: types.StringType},
						Optional:            true,
						MarkdownDescription: "Document parameters, each a list of strings, as SSM takes them. Stored in state: put secrets in `sensitive_parameters`.",
						Validators: []validator.Map{
							mapvalidator.KeysAre(stringvalidator.RegexMatches(parameterKeyPattern, "must be a parameter name: letters, digits, '_'")),
							mapvalidator.AlsoRequires(path.MatchRelative().AtParent().AtName("document_name")),
						},
					},
					"sensitive_parameters": schema.MapAttribute{
						ElementType: types.StringType,
						Optional:    true,
						Sensitive:   true,
						WriteOnly:   true,
						MarkdownDescription: "Secret values (a deploy token, a password) never stored in plan or state, " +
							"masked in logs and never sent as a command parameter: each is staged for the rollout's duration " +
							"in a SecureString parameter, which the step reads on the instance into an exported variable of " +
							"the same name before its `commands` (see Secrets). Only for `commands` steps. Accepts ephemeral " +
							"values. Being write-only, a change of these alone does not start a rollout: change `triggers` too.",
						Validators: []validator.Map{mapvalidator.KeysAre(stringvalidator.RegexMatches(parameterKeyPattern, "must be a name of letters, digits and '_'"))},
					},
					"timeout": durationAttr("Maximum run time of the step on one instance. Defaults to `10m`.", 30*time.Second, 48*time.Hour),
				}},
			},
			"strategy": schema.SingleNestedBlock{
				MarkdownDescription: "How many instances move at once and how long each waits. A change of strategy alone does not start a rollout.",
				Attributes: map[string]schema.Attribute{
					"batch_size": schema.Int64Attribute{
						Optional:            true,
						MarkdownDescription: "Instances per batch. Conflicts with `batch_percent`. Defaults to `1` when neither is set.",
						Validators:          []validator.Int64{int64validator.Between(1, 1000)},
					},
					"batch_percent": schema.Int64Attribute{
						Optional:            true,
						MarkdownDescription: "Batch size as a percentage of the fleet, rounded down, at least one instance.",
						Validators:          []validator.Int64{int64validator.Between(1, 100)},
					},
					"min_healthy_percent": schema.Int64Attribute{
						Optional: true,
						MarkdownDescription: "Capacity floor: the percentage of the whole fleet (rounded up, counting instances " +
							"already unhealthy) that must stay in service at all times. Batches shrink to respect it; a floor that " +
							"lets no instance move is a plan-time error. Defaults to `50`.",
						Validators: []validator.Int64{int64validator.Between(0, 100)},
					},
					"mode": schema.StringAttribute{
						Optional: true,
						MarkdownDescription: "`batch`: a batch leaves the load balancer together, each member runs its steps at its own pace " +
							"(a slow member does not hold the others' next step), the batch rejoins together once every member's steps are " +
							"done, and the next batch starts when the whole batch is done; see `lockstep`. `window`: " +
							"each instance goes through its steps at its own pace and the next instance leaves as soon as capacity allows, so a slow " +
							"instance does not hold the others; faster when step times vary, at the cost of more API calls (instances are moved " +
							"and sent their steps in smaller groups). Defaults to `batch`.",
						Validators: []validator.String{stringvalidator.OneOf("batch", "window")},
					},
					"lockstep": schema.BoolAttribute{
						Optional: true,
						MarkdownDescription: "Batch mode only: every step waits for the whole batch before the next step is sent, like an " +
							"Ansible linear play, for steps that must have run on every member of the batch before the next starts. Each step " +
							"then lasts as long as its slowest member, which the expected duration counts. Defaults to `false`: each member " +
							"runs its steps at its own pace.",
					},
					"canary_size": schema.Int64Attribute{
						Optional:            true,
						MarkdownDescription: "Size of a first, canary batch. Defaults to none.",
						Validators:          []validator.Int64{int64validator.Between(1, 1000)},
					},
					"canary_pause":          durationAttr("Pause after the canary batch, for watching alarms. Defaults to `0s`.", 0, 24*time.Hour),
					"pause_between_batches": durationAttr("Pause between batches. Defaults to `0s`.", 0, 24*time.Hour),
					"bake_time":             durationAttr("How long an instance must stay healthy after rejoining before it counts as done. Must be shorter than `health_timeout`. Defaults to `0s`.", 0, 24*time.Hour),
					"health_timeout":        durationAttr("How long a rejoined instance may take to become healthy in every target group. Must be longer than each group's healthy threshold x interval. Defaults to `10m`, or twice the slowest group's healthy threshold x interval when that is longer.", 10*time.Second, 24*time.Hour),
					"drain_timeout":         durationAttr("Bound on waiting for connection draining. Defaults to the target groups' deregistration delay plus a margin.", time.Second, 2*time.Hour),
					"order": schema.StringAttribute{
						Optional: true,
						MarkdownDescription: "`az_balanced` (no Availability Zone loses more than its share at once), `sorted` (by instance id) " +
							"or `zone_by_zone`: every instance of one Availability Zone before any of the next, a batch never spanning two " +
							"zones, with `zone_bake_time` between zones; a failure or an alarm in a zone stops the rollout before another " +
							"zone is touched. Zones go smallest first (fewest instances to move; ties by name), except that a zone a stopped " +
							"rollout had begun goes first. The canary batch is the first zone's. Defaults to `az_balanced`.",
						Validators: []validator.String{stringvalidator.OneOf("az_balanced", "sorted", "zone_by_zone")},
					},
					"zone_bake_time": durationAttr("With `order = \"zone_by_zone\"`: how long the rollout waits once a zone is done, "+
						"alarms watched, before the next zone's first instance leaves (CodeDeploy's monitor duration); none after the last zone. "+
						"Only with `zone_by_zone`. Defaults to `5m`.", 0, 24*time.Hour),
					"max_surge": schema.Int64Attribute{
						Optional: true,
						MarkdownDescription: "Extra instances each Auto Scaling group of the fleet launches before the first batch (its desired " +
							"capacity raised, within its max_size), deployed first and terminated at the end; the capacity floor stays " +
							"`min_healthy_percent` of the fleet without them, so `min_healthy_percent = 100` can move. Only for fleets in Auto " +
							"Scaling groups. Conflicts with `max_surge_percent`. Defaults to none.",
						Validators: []validator.Int64{int64validator.Between(1, 1000)},
					},
					"max_surge_percent": schema.Int64Attribute{
						Optional:            true,
						MarkdownDescription: "The surge as a percentage of each Auto Scaling group's desired capacity, rounded up, at least one instance. Conflicts with `max_surge`.",
						Validators:          []validator.Int64{int64validator.Between(1, 100)},
					},
				},
			},
			"failure": schema.SingleNestedBlock{
				MarkdownDescription: "When to stop, and what to do then. A change of these alone does not start a rollout.",
				Attributes: map[string]schema.Attribute{
					"max_failed_instances": schema.Int64Attribute{
						Optional:            true,
						MarkdownDescription: "Failed instances tolerated before the rollout stops. Defaults to `0`.",
						Validators:          []validator.Int64{int64validator.AtLeast(0)},
					},
					"max_failed_percent": schema.Int64Attribute{
						Optional:            true,
						MarkdownDescription: "Failed instances tolerated, as a percentage of the instances to update.",
						Validators:          []validator.Int64{int64validator.Between(0, 100)},
					},
					"rollback": schema.BoolAttribute{
						Optional: true,
						MarkdownDescription: "When the rollout stops, re-run the previous version's steps on the instances " +
							"it updated (newest first) and on the failed ones. The previous version is the last one whose rollout " +
							"completed: after a failed or cancelled rollout of v2 (the state then names v2), a failing v3 rolls back " +
							"to v1. Needs a previous version, so it does nothing on create. Defaults to `true`.",
					},
					"alarm_names": schema.ListAttribute{
						ElementType:         types.StringType,
						Optional:            true,
						MarkdownDescription: "CloudWatch alarms; any of them in `ALARM` stops the rollout (checked before each batch and while waiting).",
						Validators:          []validator.List{listvalidator.SizeAtMost(100), listvalidator.ValueStringsAre(stringvalidator.LengthBetween(1, 255))},
					},
					"unready_instances": schema.StringAttribute{
						Optional: true,
						MarkdownDescription: "What to do with out-of-date instances that cannot be deployed now: stopped, a status " +
							"check impaired, or an SSM agent that is not `Online`. `skip` leaves them out of the rollout with a warning " +
							"(the plan names them; once they can be deployed the next plan shows them again); `fail` refuses the plan, " +
							"and stops the rollout if one is found so just before its batch leaves. Defaults to `skip`.",
						Validators: []validator.String{stringvalidator.OneOf("skip", "fail")},
					},
					"suspend_processes": schema.ListAttribute{
						ElementType: types.StringType,
						Optional:    true,
						MarkdownDescription: "Auto Scaling processes suspended on every group involved for the duration of the " +
							"rollout, and resumed after. Defaults to `AZRebalance`, `InstanceRefresh`, `ReplaceUnhealthy`, `ScheduledActions`.",
						Validators: []validator.List{listvalidator.ValueStringsAre(stringvalidator.OneOf(
							"Launch", "Terminate", "AddToLoadBalancer", "AlarmNotification", "AZRebalance",
							"HealthCheck", "InstanceRefresh", "ReplaceUnhealthy", "ScheduledActions"))},
					},
				},
			},
			"lease": schema.SingleNestedBlock{
				MarkdownDescription: "The lease that keeps other rollouts off these instances while this one runs (see One rollout at a time). A change of these alone does not start a rollout.",
				Attributes: map[string]schema.Attribute{
					"wait": durationAttr("How long an apply waits for another rollout's lease on these instances before it fails. "+
						"Waiting longer than the holder's `ttl` also takes over a lease its holder stopped renewing. Defaults to `0s`: fail at once.", 0, 24*time.Hour),
					"ttl": durationAttr("How long this rollout's lease stays valid without a renewal. It is renewed every third of that while "+
						"the rollout runs; another apply takes over a lease it has seen unrenewed this long. Defaults to `5m`.", 30*time.Second, 24*time.Hour),
				},
			},
			"events": schema.SingleNestedBlock{
				MarkdownDescription: "Publish the rollout's progress to Amazon EventBridge: rollout started, each batch started and finished, " +
					"each instance failed, rollback started, and how it ended (see Following a rollout). Publishing never " +
					"holds back or fails a rollout: what cannot be published is reported as a warning. Needs `events:PutEvents` " +
					"on the bus. A change of these alone does not start a rollout.",
				Attributes: map[string]schema.Attribute{
					"event_bus_name": schema.StringAttribute{
						Optional:            true,
						MarkdownDescription: "Name or ARN of the event bus, in the provider's account and Region. Defaults to the account's `default` bus.",
						Validators: []validator.String{stringvalidator.LengthBetween(1, 1600), stringvalidator.RegexMatches(eventBusPattern,
							"must be an event bus name (letters, digits, . - _) or an event bus ARN")},
					},
				},
			},
			"timeouts": timeouts.Block(ctx, timeouts.Opts{Create: true, Update: true}),
		},
	}
}
