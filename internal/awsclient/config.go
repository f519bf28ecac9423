package awsclient

import (
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
)

// Config is the provider configuration, already validated and with unknown
// values resolved. Zero values mean "not set" (use the AWS default chain).
type Config struct {
	Region                    string
	Profile                   string
	SharedConfigFiles         []string
	SharedCredentialsFiles    []string
	AccessKey                 string
	SecretKey                 string
	Token                     string
	AssumeRole                *AssumeRole
	AssumeRoleWithWebIdentity *AssumeRoleWithWebIdentity
	// Endpoints overrides per service: keys ec2, elbv2, ssm, autoscaling,
	// cloudwatch, sts. AWS_ENDPOINT_URL* variables are honoured by the SDK
	// when a key is absent.
	Endpoints                 map[string]string
	MaxRetries                int    // 0 = DefaultMaxRetries
	RetryMode                 string // "standard" | "adaptive"; "" = standard
	SkipCredentialsValidation bool
	// UserAgentVersion is the provider version for the user agent
	// terraform-provider-rolling/<version>.
	UserAgentVersion string
	// TerraformVersion, when known, is appended to the user agent.
	TerraformVersion string
	// SecretsKMSKeyID encrypts the SecureString parameters sensitive step
	// values are staged in (secrets.go); "" = DefaultSecretsKMSKeyID.
	SecretsKMSKeyID string

	// BackoffScale, when above 0, multiplies the SDK's retry back-off: the
	// provider sets it when it runs on a time-scaled clock against the
	// simulator (ROLLING_TIME_SCALE), where one second of back-off would
	// otherwise be 1/scale simulated seconds. 0 = real time.
	BackoffScale float64

	// retryBackoff replaces the SDK's exponential backoff (tests only, so
	// that throttling tests do not wait seconds between attempts).
	retryBackoff retry.BackoffDelayer
}

// AssumeRole mirrors the hashicorp/aws provider's assume_role block.
type AssumeRole struct {
	RoleARN     string
	SessionName string
	ExternalID  string
	Duration    time.Duration
	Tags        map[string]string
}

// AssumeRoleWithWebIdentity mirrors the hashicorp/aws provider's block.
type AssumeRoleWithWebIdentity struct {
	RoleARN              string
	SessionName          string
	WebIdentityTokenFile string
	WebIdentityToken     string
}

// DefaultMaxRetries matches the hashicorp/aws provider.
const DefaultMaxRetries = 25
