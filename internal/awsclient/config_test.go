package awsclient

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/rollout"
)

// cleanAWSEnv isolates a test from the machine's AWS settings: no AWS_* or
// TFC_* variables, a temporary HOME (no ~/.aws), no instance metadata.
func cleanAWSEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "AWS_") || strings.HasPrefix(name, "TFC_") {
			t.Setenv(name, "")
			os.Unsetenv(name)
		}
	}
	t.Setenv("HOME", t.TempDir())
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

// stsService is the service credential tests talk to, behind a recording
// proxy.
func stsService(t *testing.T) (*recordingProxy, string) {
	return newRecordingProxy(t, upstream(t, motoURL(t)))
}

func allEndpoints(url string) map[string]string {
	m := map[string]string{}
	for key := range endpointKeys {
		m[key] = url
	}
	return m
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestNew_staticKeysSignRequests(t *testing.T) {
	cleanAWSEnv(t)
	proxy, url := stsService(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAIGNOREDENV")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "x")
	_, err := New(context.Background(), Config{Region: "eu-west-1", AccessKey: "AKIASTATIC", SecretKey: "s", Endpoints: allEndpoints(url)})
	if err != nil {
		t.Fatal(err)
	}
	if got := proxy.lastKey(t, "GetCallerIdentity"); got != "AKIASTATIC" {
		t.Fatalf("GetCallerIdentity signed with %q, want the static key", got)
	}
}

func TestNew_profileFromSharedFiles(t *testing.T) {
	cleanAWSEnv(t)
	proxy, url := stsService(t)
	creds := writeFile(t, "credentials", "[deploy]\naws_access_key_id = AKIAPROFILE\naws_secret_access_key = s\n")
	conf := writeFile(t, "config", "[profile deploy]\nregion = ap-south-1\n")
	c, err := New(context.Background(), Config{
		Profile: "deploy", SharedCredentialsFiles: []string{creds}, SharedConfigFiles: []string{conf}, Endpoints: allEndpoints(url),
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := proxy.lastKey(t, "GetCallerIdentity"); got != "AKIAPROFILE" {
		t.Fatalf("signed with %q, want the profile's key", got)
	}
	if c.Region() != "ap-south-1" {
		t.Fatalf("region = %q, want the profile's", c.Region())
	}
}

func TestNew_environmentVariables(t *testing.T) {
	cleanAWSEnv(t)
	proxy, url := stsService(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAENV")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "s")
	t.Setenv("AWS_DEFAULT_REGION", "sa-east-1")
	// No endpoints in the configuration: the SDK's AWS_ENDPOINT_URL_* apply.
	t.Setenv("AWS_ENDPOINT_URL_STS", url)
	c, err := New(context.Background(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	if got := proxy.lastKey(t, "GetCallerIdentity"); got != "AKIAENV" {
		t.Fatalf("signed with %q, want AWS_ACCESS_KEY_ID", got)
	}
	if c.Region() != "sa-east-1" {
		t.Fatalf("region = %q, want AWS_DEFAULT_REGION", c.Region())
	}
	if !strings.HasPrefix(c.CredentialSource(), "environment variables") {
		t.Fatalf("source = %q", c.CredentialSource())
	}
}

func TestNew_awsProfileAndFileVariables(t *testing.T) {
	cleanAWSEnv(t)
	proxy, url := stsService(t)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", writeFile(t, "credentials", "[ci]\naws_access_key_id = AKIACI\naws_secret_access_key = s\n"))
	t.Setenv("AWS_CONFIG_FILE", writeFile(t, "config", "[profile ci]\nregion = us-west-2\n"))
	t.Setenv("AWS_PROFILE", "ci")
	t.Setenv("AWS_ENDPOINT_URL", url)
	c, err := New(context.Background(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	if got := proxy.lastKey(t, "GetCallerIdentity"); got != "AKIACI" {
		t.Fatalf("signed with %q, want the AWS_PROFILE key", got)
	}
	if c.Region() != "us-west-2" || c.CredentialSource() != `profile "ci" (AWS_PROFILE)` {
		t.Fatalf("region %q source %q", c.Region(), c.CredentialSource())
	}
}

func TestNew_assumeRoleUsesBaseKeysThenTheRoleKeys(t *testing.T) {
	cleanAWSEnv(t)
	proxy, url := stsService(t)
	c, err := New(context.Background(), Config{
		Region: "us-east-1", AccessKey: "AKIABASE", SecretKey: "s", Endpoints: allEndpoints(url),
		AssumeRole: &AssumeRole{RoleARN: "arn:aws:iam::123456789012:role/deployer", SessionName: "rolling-test",
			ExternalID: "ext-1", Duration: 30 * time.Minute, Tags: map[string]string{"team": "web"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ar := proxy.requests("AssumeRole")
	if len(ar) != 1 || ar[0].AccessKeyID != "AKIABASE" {
		t.Fatalf("AssumeRole requests = %+v, want one signed with the base key", ar)
	}
	f := ar[0].Form
	if f.Get("RoleArn") != "arn:aws:iam::123456789012:role/deployer" || f.Get("RoleSessionName") != "rolling-test" ||
		f.Get("ExternalId") != "ext-1" || f.Get("DurationSeconds") != "1800" ||
		f.Get("Tags.member.1.Key") != "team" || f.Get("Tags.member.1.Value") != "web" {
		t.Fatalf("AssumeRole parameters = %v", f)
	}
	if got := proxy.lastKey(t, "GetCallerIdentity"); got == "" || got == "AKIABASE" {
		t.Fatalf("GetCallerIdentity signed with %q, want the assumed role's temporary key", got)
	}
	if _, arn := c.CallerIdentity(); !strings.Contains(arn, "assumed-role/deployer/rolling-test") {
		t.Fatalf("caller = %q, want the assumed role", arn)
	}
}

func TestNew_webIdentityTokenFile(t *testing.T) {
	cleanAWSEnv(t)
	proxy, url := stsService(t)
	token := writeFile(t, "token", "eyJ.token-from-file.sig")
	c, err := New(context.Background(), Config{
		Region: "us-east-1", Endpoints: allEndpoints(url),
		AssumeRoleWithWebIdentity: &AssumeRoleWithWebIdentity{RoleARN: "arn:aws:iam::123456789012:role/oidc", SessionName: "wi", WebIdentityTokenFile: token},
	})
	if err != nil {
		t.Fatal(err)
	}
	wi := proxy.requests("AssumeRoleWithWebIdentity")
	if len(wi) != 1 || wi[0].Form.Get("WebIdentityToken") != "eyJ.token-from-file.sig" || wi[0].Form.Get("RoleArn") != "arn:aws:iam::123456789012:role/oidc" {
		t.Fatalf("AssumeRoleWithWebIdentity requests = %+v", wi)
	}
	if got := proxy.lastKey(t, "GetCallerIdentity"); got == "" {
		t.Fatal("GetCallerIdentity was not signed with the web identity credentials")
	}
	if _, arn := c.CallerIdentity(); !strings.Contains(arn, "oidc") {
		t.Fatalf("caller = %q", arn)
	}
}

func TestNew_hcpTerraformDynamicCredentials(t *testing.T) {
	cleanAWSEnv(t)
	proxy, url := stsService(t)
	token := fakeJWT(`{"terraform_run_phase":"plan","sub":"organization:o:project:p:workspace:w:run_phase:plan"}`)
	t.Setenv("TFC_AWS_PROVIDER_AUTH", "true")
	t.Setenv("TFC_AWS_RUN_ROLE_ARN", "arn:aws:iam::123456789012:role/tfc-run")
	t.Setenv("TFC_AWS_PLAN_ROLE_ARN", "arn:aws:iam::123456789012:role/tfc-plan")
	t.Setenv("TFC_WORKLOAD_IDENTITY_TOKEN", token)
	t.Setenv("TFC_RUN_ID", "run-abc123")
	// Ambient keys lose to the workspace's explicit opt-in.
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAAMBIENT")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "s")
	c, err := New(context.Background(), Config{Region: "us-east-1", Endpoints: allEndpoints(url)})
	if err != nil {
		t.Fatal(err)
	}
	wi := proxy.requests("AssumeRoleWithWebIdentity")
	if len(wi) != 1 || wi[0].Form.Get("WebIdentityToken") != token ||
		wi[0].Form.Get("RoleArn") != "arn:aws:iam::123456789012:role/tfc-plan" || wi[0].Form.Get("RoleSessionName") != "run-abc123" {
		t.Fatalf("AssumeRoleWithWebIdentity requests = %+v", wi)
	}
	if got := proxy.lastKey(t, "GetCallerIdentity"); got == "AKIAAMBIENT" || got == "" {
		t.Fatalf("GetCallerIdentity signed with %q, want the TFC role's key", got)
	}
	if !strings.HasPrefix(c.CredentialSource(), "HCP Terraform dynamic credentials") {
		t.Fatalf("source = %q", c.CredentialSource())
	}
}

func TestNew_rejectedCredentialsNameTheSourceWithoutSecrets(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		env  map[string]string
		want string
	}{
		{"static", Config{AccessKey: "AKIABAD", SecretKey: "supersecret"}, nil, "static keys"},
		{"env", Config{}, map[string]string{"AWS_ACCESS_KEY_ID": "AKIABAD", "AWS_SECRET_ACCESS_KEY": "supersecret"}, "environment variables"},
		{"assume role", Config{AccessKey: "AKIABAD", SecretKey: "supersecret", AssumeRole: &AssumeRole{RoleARN: "arn:aws:iam::123456789012:role/r"}}, nil, "then assume role arn:aws:iam::123456789012:role/r: sts GetCallerIdentity (getting credentials: STS AssumeRole): InvalidClientTokenId"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cleanAWSEnv(t)
			proxy, url := stsService(t)
			proxy.reject["AKIABAD"] = true
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			tc.cfg.Region = "us-east-1"
			tc.cfg.Endpoints = allEndpoints(url)
			tc.cfg.MaxRetries = 1
			_, err := New(context.Background(), tc.cfg)
			if err == nil {
				t.Fatal("New accepted rejected credentials")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "InvalidClientTokenId") {
				t.Fatalf("error %q should name %q and the AWS code", err, tc.want)
			}
			if strings.Contains(err.Error(), "supersecret") {
				t.Fatalf("error leaks the secret: %q", err)
			}
		})
	}
}

func TestNew_skipCredentialsValidationMakesNoCall(t *testing.T) {
	cleanAWSEnv(t)
	proxy, url := stsService(t)
	c, err := New(context.Background(), Config{Region: "us-east-1", AccessKey: "AKIA", SecretKey: "s", Endpoints: allEndpoints(url), SkipCredentialsValidation: true})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(proxy.requests("GetCallerIdentity")); n != 0 {
		t.Fatalf("%d GetCallerIdentity calls, want none", n)
	}
	if a, arn := c.CallerIdentity(); a != "" || arn != "" {
		t.Fatalf("CallerIdentity = %q %q, want empty when not validated", a, arn)
	}
}

func TestNew_userAgentNamesProviderAndTerraform(t *testing.T) {
	cleanAWSEnv(t)
	proxy, url := stsService(t)
	_, err := New(context.Background(), Config{Region: "us-east-1", AccessKey: "AKIA", SecretKey: "s", Endpoints: allEndpoints(url),
		UserAgentVersion: "1.2.3", TerraformVersion: "1.9.8"})
	if err != nil {
		t.Fatal(err)
	}
	ua := proxy.requests("GetCallerIdentity")[0].UserAgent
	if !strings.Contains(ua, "terraform-provider-rolling/1.2.3") || !strings.Contains(ua, "Terraform/1.9.8") {
		t.Fatalf("User-Agent = %q", ua)
	}
}

func TestNew_rejectsBadSettingsBeforeAnyCall(t *testing.T) {
	cleanAWSEnv(t)
	cases := map[string]Config{
		"unknown endpoint key": {Region: "us-east-1", Endpoints: map[string]string{"s3": "http://x"}},
		"bad retry mode":       {Region: "us-east-1", RetryMode: "legacy"},
		"negative retries":     {Region: "us-east-1", MaxRetries: -1},
	}
	for name, cfg := range cases {
		if _, err := New(context.Background(), cfg); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
	_, err := New(context.Background(), Config{AccessKey: "a", SecretKey: "b"})
	if err == nil || !strings.Contains(err.Error(), "region") {
		t.Fatalf("no region: err = %v", err)
	}
	var target *Error
	if errors.As(err, &target) || errors.Is(err, rollout.ErrNotFound) {
		t.Fatalf("a configuration problem must not look like an AWS error: %v", err)
	}
}

// On a time-scaled clock the SDK's back-off is scaled too: at 0.001 a
// second of back-off is a millisecond, as every other wait of the run.
func TestScaledBackoff_multipliesTheSDKsDelay(t *testing.T) {
	inner := fixedBackoff(2 * time.Second)
	d, err := scaledBackoff{inner: inner, scale: 0.001}.BackoffDelay(3, nil)
	if err != nil || d != 2*time.Millisecond {
		t.Fatalf("scaled delay %s, %v; want 2ms", d, err)
	}
}

type fixedBackoff time.Duration

func (f fixedBackoff) BackoffDelay(int, error) (time.Duration, error) { return time.Duration(f), nil }
