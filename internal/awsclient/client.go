package awsclient

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/middleware"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/rollout"
)

// Client holds one SDK client per service, built once by New and shared by
// every adapter it hands out.
type Client struct {
	cfg    Config
	region string

	ec2         *ec2.Client
	elbv2       *elbv2.Client
	ssm         *ssm.Client
	autoscaling *autoscaling.Client
	cloudwatch  *cloudwatch.Client
	sts         *sts.Client
	events      *eventbridge.Client // rollout events (events.go)

	calls *callCounter
	// credentialSource says where credentials came from, for error
	// messages. It never holds a secret.
	credentialSource string

	account, arn string

	// listInvocationsUnsupported is set once the endpoint has answered
	// ListCommandInvocations with a not-implemented error; from then on
	// invocations are read per instance with GetCommandInvocation.
	listInvocationsUnsupported atomic.Bool
	// listInvocationsSupported is set after the first successful
	// ListCommandInvocations; until then calls are single-attempt probes.
	listInvocationsSupported atomic.Bool
	// cancelUnsupported: the endpoint lacks CancelCommand (moto).
	cancelUnsupported atomic.Bool
}

// endpointKeys are the keys accepted in Config.Endpoints.
var endpointKeys = map[string]string{
	"ec2":         ec2.ServiceID,
	"elbv2":       elbv2.ServiceID,
	"ssm":         ssm.ServiceID,
	"autoscaling": autoscaling.ServiceID,
	"cloudwatch":  cloudwatch.ServiceID,
	"sts":         sts.ServiceID,
	"events":      eventbridge.ServiceID,
}

// New loads the AWS configuration, builds one client per service and, unless
// cfg.SkipCredentialsValidation, checks the credentials with STS
// GetCallerIdentity. See credentials.go for the precedence of credential
// sources.
func New(ctx context.Context, cfg Config) (*Client, error) {
	for key := range cfg.Endpoints {
		if _, ok := endpointKeys[key]; !ok {
			return nil, fmt.Errorf("endpoints: unknown service %q (known: ec2, elbv2, ssm, autoscaling, cloudwatch, sts, events)", key)
		}
	}
	switch cfg.RetryMode {
	case "", "standard", "adaptive":
	default:
		return nil, fmt.Errorf("retry_mode: %q is not one of standard, adaptive", cfg.RetryMode)
	}
	if cfg.MaxRetries < 0 {
		return nil, fmt.Errorf("max_retries: %d must not be negative", cfg.MaxRetries)
	}

	c := &Client{cfg: cfg, calls: &callCounter{}}

	loadOpts := []func(*config.LoadOptions) error{
		config.WithAPIOptions(c.apiOptions()),
		// Every client built from this config, including the STS clients the
		// SDK builds itself for profiles with role_arn or for
		// AWS_WEB_IDENTITY_TOKEN_FILE, gets the configured endpoint.
		config.WithServiceOptions(c.applyEndpoint),
	}
	if cfg.Region != "" {
		loadOpts = append(loadOpts, config.WithRegion(cfg.Region))
	}
	if cfg.Profile != "" {
		loadOpts = append(loadOpts, config.WithSharedConfigProfile(cfg.Profile))
	}
	if len(cfg.SharedConfigFiles) > 0 {
		loadOpts = append(loadOpts, config.WithSharedConfigFiles(expandHome(cfg.SharedConfigFiles)))
	}
	if len(cfg.SharedCredentialsFiles) > 0 {
		loadOpts = append(loadOpts, config.WithSharedCredentialsFiles(expandHome(cfg.SharedCredentialsFiles)))
	}

	plan, err := planCredentials(cfg, osEnv{})
	if err != nil {
		return nil, err
	}
	c.credentialSource = plan.describe()
	if plan.static != nil {
		loadOpts = append(loadOpts, config.WithCredentialsProvider(plan.static))
	}

	awsCfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return nil, fmt.Errorf("loading AWS configuration (credentials from %s): %w", c.credentialSource, err)
	}
	if awsCfg.Region == "" {
		return nil, errors.New("no AWS region: set region in the provider configuration, AWS_REGION, AWS_DEFAULT_REGION or region in the shared config profile")
	}
	c.region = awsCfg.Region

	// Retries: the provider's max_retries/retry_mode win, then
	// AWS_MAX_ATTEMPTS/AWS_RETRY_MODE or max_attempts/retry_mode in the
	// profile (which the SDK has resolved into awsCfg), then 25 retries in
	// standard mode. The resolved values are cleared afterwards, or every
	// client would re-apply them over our retryer.
	awsCfg.Retryer = newRetryer(cfg, awsCfg.RetryMaxAttempts, awsCfg.RetryMode)
	awsCfg.RetryMaxAttempts, awsCfg.RetryMode = 0, ""

	// The STS client for web identity and assume role is built from the base
	// configuration, so it signs with the base credentials and uses the sts
	// endpoint.
	baseSTS := sts.NewFromConfig(awsCfg)
	if creds := plan.wrap(baseSTS); creds != nil {
		awsCfg.Credentials = aws.NewCredentialsCache(creds)
	}

	c.ec2 = ec2.NewFromConfig(awsCfg)
	c.elbv2 = elbv2.NewFromConfig(awsCfg)
	c.ssm = ssm.NewFromConfig(awsCfg)
	c.autoscaling = autoscaling.NewFromConfig(awsCfg)
	c.cloudwatch = cloudwatch.NewFromConfig(awsCfg)
	c.sts = sts.NewFromConfig(awsCfg)
	c.events = eventbridge.NewFromConfig(awsCfg)

	if !cfg.SkipCredentialsValidation {
		out, err := c.sts.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil {
			return nil, fmt.Errorf("validating AWS credentials from %s: %w", c.credentialSource, translate("sts", "GetCallerIdentity", err))
		}
		c.account = aws.ToString(out.Account)
		c.arn = aws.ToString(out.Arn)
	}
	return c, nil
}

// CallerIdentity is the account and ARN STS reported when New validated the
// credentials; both are empty when validation was skipped.
func (c *Client) CallerIdentity() (account, arn string) { return c.account, c.arn }

// Region is the region the clients were configured with.
func (c *Client) Region() string { return c.region }

// CredentialSource describes where the credentials come from (never a secret).
func (c *Client) CredentialSource() string { return c.credentialSource }

// CallCounts returns the number of API calls made so far per operation name.
// Retried attempts count once.
func (c *Client) CallCounts() map[string]int { return c.calls.snapshot() }

// apiOptions are added to every client's middleware stack.
func (c *Client) apiOptions() []func(*middleware.Stack) error {
	version := c.cfg.UserAgentVersion
	if version == "" {
		version = "dev"
	}
	opts := []func(*middleware.Stack) error{
		c.calls.register,
		awsmiddleware.AddUserAgentKeyValue("terraform-provider-rolling", version),
	}
	if c.cfg.TerraformVersion != "" {
		opts = append(opts, awsmiddleware.AddUserAgentKeyValue("Terraform", c.cfg.TerraformVersion))
	}
	return opts
}

// applyEndpoint sets the configured endpoint as the client's BaseEndpoint.
// Services without a configured endpoint keep what the SDK resolved
// (AWS_ENDPOINT_URL_<SERVICE>, AWS_ENDPOINT_URL, endpoint_url in the
// profile, then the regional AWS endpoint).
func (c *Client) applyEndpoint(serviceID string, options any) {
	var url string
	for key, id := range endpointKeys {
		if id == serviceID {
			url = c.cfg.Endpoints[key]
		}
	}
	if url == "" {
		return
	}
	switch o := options.(type) {
	case *ec2.Options:
		o.BaseEndpoint = aws.String(url)
	case *elbv2.Options:
		o.BaseEndpoint = aws.String(url)
	case *ssm.Options:
		o.BaseEndpoint = aws.String(url)
	case *autoscaling.Options:
		o.BaseEndpoint = aws.String(url)
	case *cloudwatch.Options:
		o.BaseEndpoint = aws.String(url)
	case *sts.Options:
		o.BaseEndpoint = aws.String(url)
	case *eventbridge.Options:
		o.BaseEndpoint = aws.String(url)
	}
}

// newRetryer builds the SDK retryer: MaxRetries counts retries after the
// first attempt, as in the hashicorp/aws provider, so attempts = retries+1.
//
// The standard retryer's client-side retry quota (500 tokens, 5 per retry)
// is switched off: a rollout of a large fleet polls for an hour, and under
// sustained throttling the quota would fail calls outright after about a
// hundred retries, although MaxRetries and the backoff already bound each
// call. Adaptive mode still rate-limits attempts client-side.
func newRetryer(cfg Config, sdkMaxAttempts int, sdkMode aws.RetryMode) func() aws.Retryer {
	maxRetries := cfg.MaxRetries
	if maxRetries == 0 && sdkMaxAttempts > 0 {
		maxRetries = sdkMaxAttempts - 1
	}
	if maxRetries == 0 {
		maxRetries = DefaultMaxRetries
	}
	mode := cfg.RetryMode
	if mode == "" {
		mode = string(sdkMode)
	}
	standard := func(o *retry.StandardOptions) {
		o.MaxAttempts = maxRetries + 1
		o.RateLimiter = ratelimit.None
		switch {
		case cfg.retryBackoff != nil:
			o.Backoff = cfg.retryBackoff
		case cfg.BackoffScale > 0:
			o.Backoff = scaledBackoff{inner: retry.NewExponentialJitterBackoff(retry.DefaultMaxBackoff), scale: cfg.BackoffScale}
		}
	}
	if strings.EqualFold(mode, "adaptive") {
		return func() aws.Retryer {
			return retry.NewAdaptiveMode(func(o *retry.AdaptiveModeOptions) {
				o.StandardOptions = append(o.StandardOptions, standard)
			})
		}
	}
	return func() aws.Retryer { return retry.NewStandard(standard) }
}

// Ports returns the engine's view of AWS through this client.
func (c *Client) Ports(clk rollout.Clock, obs rollout.Observer) rollout.Ports {
	return rollout.Ports{
		LB:        &loadBalancer{c: c},
		Commands:  &commandRunner{c: c},
		Tags:      &tagger{c: c},
		Standby:   &standby{c: c},
		Capacity:  &capacity{c: c},
		Alarms:    &alarms{c: c},
		Instances: &instanceStates{c: c},
		Readiness: &readiness{c: c},
		Clock:     clk,
		Observer:  obs,
	}
}

// scaledBackoff is the SDK's back-off with every delay multiplied by scale
// (Config.BackoffScale).
type scaledBackoff struct {
	inner retry.BackoffDelayer
	scale float64
}

func (b scaledBackoff) BackoffDelay(attempt int, err error) (time.Duration, error) {
	d, e := b.inner.BackoffDelay(attempt, err)
	return time.Duration(float64(d) * b.scale), e
}
