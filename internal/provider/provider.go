package provider

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/awsclient"
	"github.com/rollingdeploy/terraform-provider-rolling/internal/clock"
	"github.com/rollingdeploy/terraform-provider-rolling/internal/rollout"
	"github.com/rollingdeploy/terraform-provider-rolling/internal/validate"
)

// EnvTimeScale, when set, makes the provider's clock run at the fleet
// simulator's time scale (wall seconds per simulated second). It exists for
// the simulator (make demo, benchmarks) and must never be set against AWS.
// Unset, the provider learns the scale from a simulator that serves every
// endpoint on this machine (awsclient.SimulatorTimeScale).
const EnvTimeScale = "ROLLING_TIME_SCALE"

// Options are what tests inject through NewWithOptions.
type Options struct {
	// Clock for rollouts; nil = real time, or ROLLING_TIME_SCALE when set.
	Clock rollout.Clock
}

// New returns the provider constructor providerserver expects.
func New(version string) func() provider.Provider {
	return NewWithOptions(version, Options{})
}

// NewWithOptions is New with injected dependencies, for tests.
func NewWithOptions(version string, opts Options) func() provider.Provider {
	return func() provider.Provider {
		return &rollingProvider{version: version, opts: opts}
	}
}

var _ provider.ProviderWithValidateConfig = (*rollingProvider)(nil)

type rollingProvider struct {
	version string
	opts    Options
}

// providerData is handed to resources and data sources. client is nil when
// the provider configuration held values unknown at plan time: resources
// then plan with unknown computed values and are configured for real at apply.
type providerData struct {
	client *awsclient.Client
	clock  rollout.Clock
	// replacements tells a create that replaces this resource from a
	// first one (see replacementTracker).
	replacements replacementTracker
	// leases: this run's lease token and planned scopes (deployment_lease.go).
	leases leaseBook
}

type providerModel struct {
	Region                    types.String `tfsdk:"region"`
	Profile                   types.String `tfsdk:"profile"`
	SharedConfigFiles         types.List   `tfsdk:"shared_config_files"`
	SharedCredentialsFiles    types.List   `tfsdk:"shared_credentials_files"`
	AccessKey                 types.String `tfsdk:"access_key"`
	SecretKey                 types.String `tfsdk:"secret_key"`
	Token                     types.String `tfsdk:"token"`
	AssumeRole                types.List   `tfsdk:"assume_role"`
	AssumeRoleWithWebIdentity types.List   `tfsdk:"assume_role_with_web_identity"`
	Endpoints                 types.List   `tfsdk:"endpoints"`
	MaxRetries                types.Int64  `tfsdk:"max_retries"`
	RetryMode                 types.String `tfsdk:"retry_mode"`
	SkipCredentialsValidation types.Bool   `tfsdk:"skip_credentials_validation"`
	SecretsKMSKeyID           types.String `tfsdk:"secrets_kms_key_id"`
}

type assumeRoleModel struct {
	RoleARN     types.String `tfsdk:"role_arn"`
	SessionName types.String `tfsdk:"session_name"`
	ExternalID  types.String `tfsdk:"external_id"`
	Duration    types.String `tfsdk:"duration"`
	Tags        types.Map    `tfsdk:"tags"`
}

type webIdentityModel struct {
	RoleARN              types.String `tfsdk:"role_arn"`
	SessionName          types.String `tfsdk:"session_name"`
	WebIdentityTokenFile types.String `tfsdk:"web_identity_token_file"`
	WebIdentityToken     types.String `tfsdk:"web_identity_token"`
}

type endpointsModel struct {
	EC2         types.String `tfsdk:"ec2"`
	ELBv2       types.String `tfsdk:"elbv2"`
	SSM         types.String `tfsdk:"ssm"`
	AutoScaling types.String `tfsdk:"autoscaling"`
	CloudWatch  types.String `tfsdk:"cloudwatch"`
	STS         types.String `tfsdk:"sts"`
	Events      types.String `tfsdk:"events"`
}

func (p *rollingProvider) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = "rolling"
	resp.Version = p.version
}

var (
	regexpRegion      = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d$`)
	regexpSessionName = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
)

func (p *rollingProvider) Schema(_ context.Context, _ provider.SchemaRequest, resp *provider.SchemaResponse) {
	endpoint := func(service string) schema.StringAttribute {
		return schema.StringAttribute{
			Optional:            true,
			MarkdownDescription: "Endpoint URL for " + service + ", for example a local emulator. Overrides `AWS_ENDPOINT_URL` and the service's `AWS_ENDPOINT_URL_*` variable.",
			Validators:          []validator.String{validate.URL()},
		}
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: "The rolling provider deploys an application to EC2 instances behind ELBv2 target groups, " +
			"a few instances at a time, through SSM Run Command. It is configured like the `hashicorp/aws` provider: " +
			"every argument is optional and the usual AWS environment variables, shared config files, profiles, " +
			"assumed roles, web identity and HCP Terraform dynamic credentials work.",
		Attributes: map[string]schema.Attribute{
			"region": schema.StringAttribute{
				Optional:            true,
				MarkdownDescription: "AWS Region. Defaults to `AWS_REGION`, `AWS_DEFAULT_REGION` or the profile's region.",
				Validators:          []validator.String{stringvalidator.RegexMatches(regexpRegion, "must be an AWS Region name such as eu-west-1")},
			},
			"profile": schema.StringAttribute{
				Optional:            true,
				MarkdownDescription: "Named profile from the shared config and credentials files. Defaults to `AWS_PROFILE`.",
			},
			"shared_config_files": schema.ListAttribute{
				ElementType:         types.StringType,
				Optional:            true,
				MarkdownDescription: "Shared config files. Defaults to `AWS_CONFIG_FILE` or `~/.aws/config`. HCP Terraform dynamic credentials are consumed by setting this to `[var.tfc_aws_dynamic_credentials.default.shared_config_file]`.",
			},
			"shared_credentials_files": schema.ListAttribute{
				ElementType:         types.StringType,
				Optional:            true,
				MarkdownDescription: "Shared credentials files. Defaults to `AWS_SHARED_CREDENTIALS_FILE` or `~/.aws/credentials`.",
			},
			"access_key": schema.StringAttribute{
				Optional: true, Sensitive: true,
				MarkdownDescription: "Static access key id. Prefer the environment or a profile; defaults to `AWS_ACCESS_KEY_ID`.",
				Validators:          []validator.String{stringvalidator.AlsoRequires(path.MatchRoot("secret_key"))},
			},
			"secret_key": schema.StringAttribute{
				Optional: true, Sensitive: true,
				MarkdownDescription: "Static secret access key. Defaults to `AWS_SECRET_ACCESS_KEY`.",
				Validators:          []validator.String{stringvalidator.AlsoRequires(path.MatchRoot("access_key"))},
			},
			"token": schema.StringAttribute{
				Optional: true, Sensitive: true,
				MarkdownDescription: "Session token for temporary static credentials. Defaults to `AWS_SESSION_TOKEN`.",
			},
			"max_retries": schema.Int64Attribute{
				Optional:            true,
				MarkdownDescription: "Maximum number of times a throttled or failed AWS API call is retried, with exponential backoff. Defaults to `AWS_MAX_ATTEMPTS` less one, or `25`.",
				Validators:          []validator.Int64{int64validator.Between(0, 100)},
			},
			"retry_mode": schema.StringAttribute{
				Optional:            true,
				MarkdownDescription: "AWS SDK retry mode: `standard`, or `adaptive` (client-side rate limiting, useful for very large fleets). Defaults to `AWS_RETRY_MODE` or `standard`.",
				Validators:          []validator.String{stringvalidator.OneOf("standard", "adaptive")},
			},
			"skip_credentials_validation": schema.BoolAttribute{
				Optional:            true,
				MarkdownDescription: "Skip the STS GetCallerIdentity call that checks the credentials at configuration. Defaults to `false`.",
			},
			"secrets_kms_key_id": schema.StringAttribute{
				Optional: true,
				MarkdownDescription: "KMS key (key id, key ARN, alias name or alias ARN) that encrypts the SecureString parameters " +
					"in which `sensitive_parameters` values are staged for a rollout. A customer managed key needs `kms:Encrypt` " +
					"for the provider and `kms:Decrypt` for the instance profile. Defaults to `alias/aws/ssm`, the account's AWS " +
					"managed key for Parameter Store.",
				Validators: []validator.String{stringvalidator.LengthBetween(1, 2048)},
			},
		},
		Blocks: map[string]schema.Block{
			"assume_role": schema.ListNestedBlock{
				MarkdownDescription: "Assume an IAM role with STS AssumeRole, using the credentials found otherwise.",
				Validators:          []validator.List{listvalidator.SizeAtMost(1)},
				NestedObject: schema.NestedBlockObject{Attributes: roleAttributes(map[string]schema.Attribute{
					"external_id": schema.StringAttribute{
						Optional: true, MarkdownDescription: "External id the role's trust policy requires.",
						Validators: []validator.String{stringvalidator.LengthBetween(2, 1224)},
					},
					"duration": schema.StringAttribute{
						Optional: true, MarkdownDescription: "Session duration, such as `1h`. Between `15m` and `12h`. Defaults to `1h`. A rollout longer than this refreshes the credentials.",
						Validators: []validator.String{validate.Duration(15*time.Minute, 12*time.Hour)},
					},
					"tags": schema.MapAttribute{
						ElementType: types.StringType, Optional: true,
						MarkdownDescription: "Session tags.",
					},
				})},
			},
			"assume_role_with_web_identity": schema.ListNestedBlock{
				MarkdownDescription: "Assume an IAM role with STS AssumeRoleWithWebIdentity (OIDC), as in CI systems.",
				Validators:          []validator.List{listvalidator.SizeAtMost(1)},
				NestedObject: schema.NestedBlockObject{Attributes: roleAttributes(map[string]schema.Attribute{
					"web_identity_token_file": schema.StringAttribute{
						Optional: true, MarkdownDescription: "File holding the OIDC token; read again on every refresh.",
					},
					"web_identity_token": schema.StringAttribute{
						Optional: true, Sensitive: true, MarkdownDescription: "The OIDC token itself.",
					},
				})},
			},
			"endpoints": schema.ListNestedBlock{
				MarkdownDescription: "Per-service endpoint URLs, for emulators (the bundled fleet simulator, moto, LocalStack) or VPC endpoints.",
				Validators:          []validator.List{listvalidator.SizeAtMost(1)},
				NestedObject: schema.NestedBlockObject{Attributes: map[string]schema.Attribute{
					"ec2":         endpoint("EC2"),
					"elbv2":       endpoint("Elastic Load Balancing v2"),
					"ssm":         endpoint("Systems Manager"),
					"autoscaling": endpoint("Auto Scaling"),
					"cloudwatch":  endpoint("CloudWatch"),
					"sts":         endpoint("STS"),
					"events":      endpoint("EventBridge (the `events` block of `rolling_deployment`)"),
				}},
			},
		},
	}
}

// providerDataFrom is what resources and data sources keep from Configure;
// nil before the provider is configured (validation runs that early).
func providerDataFrom(data any, diags *diag.Diagnostics) *providerData {
	if data == nil {
		return nil
	}
	pd, ok := data.(*providerData)
	if !ok {
		diags.AddError("Unexpected provider data", fmt.Sprintf("got %T", data))
	}
	return pd
}

// roleAttributes adds the attributes both role blocks share.
func roleAttributes(attrs map[string]schema.Attribute) map[string]schema.Attribute {
	attrs["role_arn"] = schema.StringAttribute{
		Required: true, MarkdownDescription: "ARN of the role to assume.",
		Validators: []validator.String{validate.RoleARN()},
	}
	attrs["session_name"] = schema.StringAttribute{
		Optional: true, MarkdownDescription: "Session name. Defaults to a generated one.",
		Validators: []validator.String{stringvalidator.RegexMatches(regexpSessionName, "must be 2 to 64 letters, digits or +=,.@-_")},
	}
	return attrs
}

// ValidateConfig checks what single-attribute validators cannot.
func (p *rollingProvider) ValidateConfig(ctx context.Context, req provider.ValidateConfigRequest, resp *provider.ValidateConfigResponse) {
	var m providerModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() || m.AssumeRoleWithWebIdentity.IsUnknown() {
		return
	}
	var webs []webIdentityModel
	resp.Diagnostics.Append(m.AssumeRoleWithWebIdentity.ElementsAs(ctx, &webs, false)...)
	for _, w := range webs {
		if w.WebIdentityTokenFile.IsUnknown() || w.WebIdentityToken.IsUnknown() {
			continue
		}
		if w.WebIdentityTokenFile.IsNull() == w.WebIdentityToken.IsNull() {
			resp.Diagnostics.AddAttributeError(path.Root("assume_role_with_web_identity"), "Invalid web identity configuration",
				"Set exactly one of web_identity_token_file and web_identity_token.")
		}
	}
}

func (p *rollingProvider) Configure(ctx context.Context, req provider.ConfigureRequest, resp *provider.ConfigureResponse) {
	var m providerModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	data := &providerData{clock: p.clock()}
	resp.ResourceData = data
	resp.DataSourceData = data

	if providerConfigUnknown(req) {
		// Values come from resources not created yet. Terraform calls
		// Configure again at apply with known values; until then resources
		// plan with unknown computed attributes.
		if req.ClientCapabilities.DeferralAllowed {
			resp.Deferred = &provider.Deferred{Reason: provider.DeferredReasonProviderConfigUnknown}
		}
		tflog.Info(ctx, "provider configuration is not known yet; planning without reading AWS")
		return
	}

	cfg, diags := m.awsConfig(ctx, p.version, req.TerraformVersion)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	if p.opts.Clock == nil && os.Getenv(EnvTimeScale) == "" {
		// Against the fleet simulator on this machine, wait in its time
		// without a knob. SimulatorTimeScale never answers unless every
		// service a rollout calls is a loopback simulator, so AWS is never
		// scaled.
		if scale, endpoint, ok := awsclient.SimulatorTimeScale(ctx, cfg.Endpoints); ok {
			data.clock = clock.Scaled(scale)
			tflog.Info(ctx, "time scale learned from the fleet simulator", map[string]any{"endpoint": endpoint, "time_scale": scale})
		}
	}
	if c, ok := data.clock.(interface{ Scale() float64 }); ok {
		// A time-scaled run (tests, the demo) scales the SDK's back-off
		// with the rest of its waits.
		cfg.BackoffScale = c.Scale()
	}
	client, err := awsclient.New(ctx, cfg)
	if err != nil {
		resp.Diagnostics.AddError("Cannot configure the rolling provider", err.Error())
		return
	}
	data.client = client
}

// providerConfigUnknown reports whether any configured value is unknown,
// as it is at plan time when it comes from a resource not yet created.
func providerConfigUnknown(req provider.ConfigureRequest) bool {
	return !req.Config.Raw.IsFullyKnown()
}

func (m providerModel) awsConfig(ctx context.Context, version, terraformVersion string) (awsclient.Config, diag.Diagnostics) {
	var diags diag.Diagnostics
	cfg := awsclient.Config{
		Region:                    m.Region.ValueString(),
		Profile:                   m.Profile.ValueString(),
		AccessKey:                 m.AccessKey.ValueString(),
		SecretKey:                 m.SecretKey.ValueString(),
		Token:                     m.Token.ValueString(),
		RetryMode:                 m.RetryMode.ValueString(),
		SkipCredentialsValidation: m.SkipCredentialsValidation.ValueBool(),
		SecretsKMSKeyID:           m.SecretsKMSKeyID.ValueString(),
		UserAgentVersion:          version,
		TerraformVersion:          terraformVersion,
	}
	if !m.MaxRetries.IsNull() {
		cfg.MaxRetries = int(m.MaxRetries.ValueInt64())
	}
	diags.Append(m.SharedConfigFiles.ElementsAs(ctx, &cfg.SharedConfigFiles, false)...)
	diags.Append(m.SharedCredentialsFiles.ElementsAs(ctx, &cfg.SharedCredentialsFiles, false)...)

	var roles []assumeRoleModel
	diags.Append(m.AssumeRole.ElementsAs(ctx, &roles, false)...)
	if len(roles) == 1 {
		r := roles[0]
		ar := &awsclient.AssumeRole{
			RoleARN:     r.RoleARN.ValueString(),
			SessionName: r.SessionName.ValueString(),
			ExternalID:  r.ExternalID.ValueString(),
		}
		if !r.Duration.IsNull() {
			ar.Duration, _ = time.ParseDuration(r.Duration.ValueString()) // validated
		}
		diags.Append(r.Tags.ElementsAs(ctx, &ar.Tags, false)...)
		cfg.AssumeRole = ar
	}
	var webs []webIdentityModel
	diags.Append(m.AssumeRoleWithWebIdentity.ElementsAs(ctx, &webs, false)...)
	if len(webs) == 1 {
		w := webs[0]
		cfg.AssumeRoleWithWebIdentity = &awsclient.AssumeRoleWithWebIdentity{
			RoleARN:              w.RoleARN.ValueString(),
			SessionName:          w.SessionName.ValueString(),
			WebIdentityTokenFile: w.WebIdentityTokenFile.ValueString(),
			WebIdentityToken:     w.WebIdentityToken.ValueString(),
		}
	}
	var endpoints []endpointsModel
	diags.Append(m.Endpoints.ElementsAs(ctx, &endpoints, false)...)
	if len(endpoints) == 1 {
		e := endpoints[0]
		cfg.Endpoints = map[string]string{}
		for key, v := range map[string]types.String{
			"ec2": e.EC2, "elbv2": e.ELBv2, "ssm": e.SSM, "autoscaling": e.AutoScaling, "cloudwatch": e.CloudWatch, "sts": e.STS,
			"events": e.Events,
		} {
			if v.ValueString() != "" {
				cfg.Endpoints[key] = v.ValueString()
			}
		}
	}
	return cfg, diags
}

// clock is the injected clock, else the simulator's time scale when set,
// else real time.
func (p *rollingProvider) clock() rollout.Clock {
	if p.opts.Clock != nil {
		return p.opts.Clock
	}
	if v := os.Getenv(EnvTimeScale); v != "" {
		if scale, err := strconv.ParseFloat(v, 64); err == nil && scale > 0 {
			return clock.Scaled(scale)
		}
	}
	return clock.Real()
}

func (p *rollingProvider) Resources(context.Context) []func() resource.Resource {
	return []func() resource.Resource{newDeploymentResource}
}

func (p *rollingProvider) DataSources(context.Context) []func() datasource.DataSource {
	return []func() datasource.DataSource{newTargetGroupDataSource}
}
