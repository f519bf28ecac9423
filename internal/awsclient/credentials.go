package awsclient

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
)

// Credential precedence, first match wins for the base credentials:
//
//  1. access_key/secret_key(/token) in the provider configuration (static).
//  2. assume_role_with_web_identity in the provider configuration
//     (role_arn, web_identity_token or web_identity_token_file; AWS_ROLE_ARN,
//     AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_SESSION_NAME fill what the
//     block leaves empty). Needs no base credentials.
//  3. profile in the provider configuration (shared config/credentials
//     files, including role_arn/source_profile, SSO and credential_process
//     profiles, resolved by the SDK).
//  4. HCP Terraform dynamic credentials: TFC_AWS_PROVIDER_AUTH=true with
//     TFC_WORKLOAD_IDENTITY_TOKEN and TFC_AWS_RUN_ROLE_ARN (or the phase's
//     TFC_AWS_PLAN_ROLE_ARN / TFC_AWS_APPLY_ROLE_ARN, the phase read from the
//     token's terraform_run_phase claim) -> AssumeRoleWithWebIdentity.
//     HCP's workspace variables are an explicit opt-in, so they beat the
//     ambient environment, but never an explicit provider setting.
//  5. The SDK default chain: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY,
//     AWS_PROFILE, the shared files (AWS_SHARED_CREDENTIALS_FILE,
//     AWS_CONFIG_FILE), AWS_WEB_IDENTITY_TOKEN_FILE, container credentials,
//     instance metadata.
//
// Then, when assume_role is configured, its role is assumed with the base
// credentials, through an STS client that uses the sts endpoint.

// env reads environment variables; tests substitute a map.
type env interface{ Get(string) string }

type osEnv struct{}

func (osEnv) Get(key string) string { return os.Getenv(key) }

type mapEnv map[string]string

func (m mapEnv) Get(key string) string { return m[key] }

// webIdentity is a resolved AssumeRoleWithWebIdentity call.
type webIdentity struct {
	roleARN     string
	sessionName string
	token       stscreds.IdentityTokenRetriever
	origin      string // for messages: "assume_role_with_web_identity" or "HCP Terraform dynamic credentials"
}

// credentialPlan is what New does about credentials, decided before any
// network call so that it can be described in errors.
type credentialPlan struct {
	static      aws.CredentialsProvider // rule 1
	webIdentity *webIdentity            // rules 2 and 4
	baseSource  string                  // description of the base credentials
	assumeRole  *AssumeRole
}

func planCredentials(cfg Config, e env) (credentialPlan, error) {
	p := credentialPlan{assumeRole: cfg.AssumeRole}
	if p.assumeRole != nil && p.assumeRole.RoleARN == "" {
		return p, errors.New("assume_role: role_arn is required")
	}
	switch {
	case cfg.AccessKey != "" || cfg.SecretKey != "":
		if cfg.AccessKey == "" || cfg.SecretKey == "" {
			return p, errors.New("access_key and secret_key must be set together")
		}
		p.static = credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.SecretKey, cfg.Token)
		p.baseSource = "static keys (access_key/secret_key in the provider configuration)"
	case cfg.AssumeRoleWithWebIdentity != nil:
		w, err := configuredWebIdentity(cfg.AssumeRoleWithWebIdentity, e)
		if err != nil {
			return p, err
		}
		p.webIdentity = w
		p.baseSource = "web identity (assume_role_with_web_identity, role " + w.roleARN + ")"
	case cfg.Profile != "":
		p.baseSource = fmt.Sprintf("profile %q (provider configuration)", cfg.Profile)
	case strings.EqualFold(e.Get("TFC_AWS_PROVIDER_AUTH"), "true"):
		w, err := tfcWebIdentity(e)
		if err != nil {
			return p, err
		}
		p.webIdentity = w
		p.baseSource = "HCP Terraform dynamic credentials (TFC_AWS_PROVIDER_AUTH, role " + w.roleARN + ")"
	default:
		p.baseSource = describeDefaultChain(e)
	}
	return p, nil
}

func configuredWebIdentity(b *AssumeRoleWithWebIdentity, e env) (*webIdentity, error) {
	w := &webIdentity{roleARN: b.RoleARN, sessionName: b.SessionName, origin: "assume_role_with_web_identity"}
	if w.roleARN == "" {
		w.roleARN = e.Get("AWS_ROLE_ARN")
	}
	if w.sessionName == "" {
		w.sessionName = e.Get("AWS_ROLE_SESSION_NAME")
	}
	switch {
	case b.WebIdentityToken != "" && b.WebIdentityTokenFile != "":
		return nil, errors.New("assume_role_with_web_identity: set only one of web_identity_token and web_identity_token_file")
	case b.WebIdentityToken != "":
		w.token = inlineToken(b.WebIdentityToken)
	case b.WebIdentityTokenFile != "":
		w.token = stscreds.IdentityTokenFile(expandHome([]string{b.WebIdentityTokenFile})[0])
	case e.Get("AWS_WEB_IDENTITY_TOKEN_FILE") != "":
		w.token = stscreds.IdentityTokenFile(e.Get("AWS_WEB_IDENTITY_TOKEN_FILE"))
	default:
		return nil, errors.New("assume_role_with_web_identity: one of web_identity_token, web_identity_token_file or AWS_WEB_IDENTITY_TOKEN_FILE is required")
	}
	if w.roleARN == "" {
		return nil, errors.New("assume_role_with_web_identity: role_arn (or AWS_ROLE_ARN) is required")
	}
	return w, nil
}

// tfcWebIdentity reads HCP Terraform's workspace variables. TFC_DEFAULT_*
// copies are honoured as fallbacks, as HCP documents for shared settings.
func tfcWebIdentity(e env) (*webIdentity, error) {
	get := func(name string) string {
		if v := e.Get("TFC_" + name); v != "" {
			return v
		}
		return e.Get("TFC_DEFAULT_" + name)
	}
	token := get("WORKLOAD_IDENTITY_TOKEN")
	if token == "" {
		return nil, errors.New("HCP Terraform dynamic credentials: TFC_AWS_PROVIDER_AUTH is true but TFC_WORKLOAD_IDENTITY_TOKEN is empty")
	}
	role := ""
	switch runPhase(token) {
	case "plan":
		role = get("AWS_PLAN_ROLE_ARN")
	case "apply":
		role = get("AWS_APPLY_ROLE_ARN")
	}
	if role == "" {
		role = get("AWS_RUN_ROLE_ARN")
	}
	if role == "" {
		return nil, errors.New("HCP Terraform dynamic credentials: TFC_AWS_PROVIDER_AUTH is true but no role is set (TFC_AWS_RUN_ROLE_ARN, or TFC_AWS_PLAN_ROLE_ARN/TFC_AWS_APPLY_ROLE_ARN)")
	}
	session := "terraform-provider-rolling"
	if run := e.Get("TFC_RUN_ID"); run != "" {
		session = sessionNameSafe(run)
	}
	return &webIdentity{roleARN: role, sessionName: session, token: inlineToken(token), origin: "HCP Terraform dynamic credentials"}, nil
}

// runPhase reads the terraform_run_phase claim of an HCP workload identity
// token without verifying it (STS does that); "" when it cannot be read.
func runPhase(token string) string {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return ""
	}
	var claims struct {
		Phase string `json:"terraform_run_phase"`
	}
	if json.Unmarshal(payload, &claims) != nil {
		return ""
	}
	return claims.Phase
}

// sessionNameSafe keeps the characters STS accepts in a role session name
// ([\w+=,.@-], 2..64).
func sessionNameSafe(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r < 128 && (r == '_' || r == '+' || r == '=' || r == ',' || r == '.' || r == '@' || r == '-' ||
			(r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')) {
			b.WriteRune(r)
		}
	}
	out := b.String()
	if len(out) > 64 {
		out = out[:64]
	}
	if len(out) < 2 {
		out = "terraform-provider-rolling"
	}
	return out
}

func describeDefaultChain(e env) string {
	switch {
	case e.Get("AWS_ACCESS_KEY_ID") != "":
		return "environment variables (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)"
	case e.Get("AWS_PROFILE") != "":
		return fmt.Sprintf("profile %q (AWS_PROFILE)", e.Get("AWS_PROFILE"))
	case e.Get("AWS_WEB_IDENTITY_TOKEN_FILE") != "":
		return "web identity (AWS_WEB_IDENTITY_TOKEN_FILE, role " + e.Get("AWS_ROLE_ARN") + ")"
	}
	return "the default credential chain (shared credentials/config files, container or instance metadata)"
}

func (p credentialPlan) describe() string {
	if p.assumeRole != nil {
		return p.baseSource + ", then assume role " + p.assumeRole.RoleARN
	}
	return p.baseSource
}

// wrap returns the credentials provider to use in place of the base
// credentials, or nil when those are final. stsClient signs with the base
// credentials and uses the sts endpoint.
func (p credentialPlan) wrap(stsClient *sts.Client) aws.CredentialsProvider {
	var out aws.CredentialsProvider
	if p.webIdentity != nil {
		w := p.webIdentity
		out = stscreds.NewWebIdentityRoleProvider(stsClient, w.roleARN, w.token, func(o *stscreds.WebIdentityRoleOptions) {
			if w.sessionName != "" {
				o.RoleSessionName = w.sessionName
			}
		})
	}
	if p.assumeRole == nil {
		return out
	}
	if out != nil {
		// The role is assumed with the web identity's credentials.
		stsClient = sts.New(stsClient.Options(), func(o *sts.Options) { o.Credentials = aws.NewCredentialsCache(out) })
	}
	ar := p.assumeRole
	return stscreds.NewAssumeRoleProvider(stsClient, ar.RoleARN, func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = ar.SessionName
		if o.RoleSessionName == "" {
			o.RoleSessionName = "terraform-provider-rolling"
		}
		if ar.ExternalID != "" {
			o.ExternalID = aws.String(ar.ExternalID)
		}
		if ar.Duration > 0 {
			o.Duration = ar.Duration
		}
		for k, v := range ar.Tags {
			o.Tags = append(o.Tags, ststypes.Tag{Key: aws.String(k), Value: aws.String(v)})
		}
	})
}

// inlineToken is a web identity token given as a value rather than a file.
type inlineToken string

func (t inlineToken) GetIdentityToken() ([]byte, error) { return []byte(t), nil }

// expandHome resolves a leading "~/" as the hashicorp/aws provider does for
// shared_config_files and friends.
func expandHome(paths []string) []string {
	out := make([]string, len(paths))
	home, _ := os.UserHomeDir()
	for i, p := range paths {
		if home != "" && (p == "~" || strings.HasPrefix(p, "~/")) {
			p = filepath.Join(home, strings.TrimPrefix(p, "~"))
		}
		out[i] = p
	}
	return out
}
