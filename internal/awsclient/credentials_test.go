package awsclient

import (
	"encoding/base64"
	"strings"
	"testing"
)

func fakeJWT(claims string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256"}`)) + "." + enc([]byte(claims)) + ".c2ln"
}

func TestPlanCredentials_precedence(t *testing.T) {
	tfc := mapEnv{
		"TFC_AWS_PROVIDER_AUTH": "true", "TFC_AWS_RUN_ROLE_ARN": "arn:aws:iam::1:role/run",
		"TFC_WORKLOAD_IDENTITY_TOKEN": fakeJWT(`{"terraform_run_phase":"apply"}`),
		"AWS_ACCESS_KEY_ID":           "AKIAENV", "AWS_SECRET_ACCESS_KEY": "envsecret",
	}
	web := &AssumeRoleWithWebIdentity{RoleARN: "arn:aws:iam::1:role/web", WebIdentityToken: "tok"}
	tests := []struct {
		name string
		cfg  Config
		env  mapEnv
		want string // prefix of the description
	}{
		{"static keys beat everything", Config{AccessKey: "AKIA", SecretKey: "s", Profile: "p", AssumeRoleWithWebIdentity: web}, tfc, "static keys"},
		{"web identity block beats profile and TFC", Config{Profile: "p", AssumeRoleWithWebIdentity: web}, tfc, "web identity (assume_role_with_web_identity, role arn:aws:iam::1:role/web)"},
		{"configured profile beats TFC", Config{Profile: "ops"}, tfc, `profile "ops" (provider configuration)`},
		{"TFC beats environment keys", Config{}, tfc, "HCP Terraform dynamic credentials (TFC_AWS_PROVIDER_AUTH, role arn:aws:iam::1:role/run)"},
		{"environment keys", Config{}, mapEnv{"AWS_ACCESS_KEY_ID": "AKIAENV"}, "environment variables"},
		{"AWS_PROFILE", Config{}, mapEnv{"AWS_PROFILE": "dev"}, `profile "dev" (AWS_PROFILE)`},
		{"nothing set", Config{}, mapEnv{}, "the default credential chain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := planCredentials(tt.cfg, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.describe(); !strings.HasPrefix(got, tt.want) {
				t.Fatalf("describe() = %q, want prefix %q", got, tt.want)
			}
		})
	}
}

func TestPlanCredentials_describeNeverContainsSecrets(t *testing.T) {
	cfg := Config{AccessKey: "AKIASECRETID", SecretKey: "topsecret", Token: "sessiontoken",
		AssumeRole: &AssumeRole{RoleARN: "arn:aws:iam::1:role/deploy", ExternalID: "ext-secret"}}
	p, err := planCredentials(cfg, mapEnv{})
	if err != nil {
		t.Fatal(err)
	}
	d := p.describe()
	for _, secret := range []string{"AKIASECRETID", "topsecret", "sessiontoken", "ext-secret"} {
		if strings.Contains(d, secret) {
			t.Fatalf("description %q leaks %q", d, secret)
		}
	}
	if !strings.HasSuffix(d, "then assume role arn:aws:iam::1:role/deploy") {
		t.Fatalf("description %q does not name the assumed role", d)
	}
}

func TestPlanCredentials_tfcPicksThePhaseRole(t *testing.T) {
	base := mapEnv{
		"TFC_AWS_PROVIDER_AUTH": "true", "TFC_AWS_RUN_ROLE_ARN": "arn:run",
		"TFC_AWS_PLAN_ROLE_ARN": "arn:plan", "TFC_AWS_APPLY_ROLE_ARN": "arn:apply",
	}
	for phase, want := range map[string]string{"plan": "arn:plan", "apply": "arn:apply", "": "arn:run"} {
		env := mapEnv{}
		for k, v := range base {
			env[k] = v
		}
		env["TFC_WORKLOAD_IDENTITY_TOKEN"] = fakeJWT(`{"terraform_run_phase":"` + phase + `"}`)
		p, err := planCredentials(Config{}, env)
		if err != nil {
			t.Fatal(err)
		}
		if p.webIdentity == nil || p.webIdentity.roleARN != want {
			t.Fatalf("phase %q: role = %+v, want %s", phase, p.webIdentity, want)
		}
	}
}

func TestPlanCredentials_rejectsIncompleteSettings(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		env  mapEnv
		want string
	}{
		{"access key without secret", Config{AccessKey: "AKIA"}, mapEnv{}, "access_key and secret_key"},
		{"assume_role without ARN", Config{AssumeRole: &AssumeRole{}}, mapEnv{}, "role_arn is required"},
		{"web identity without token", Config{AssumeRoleWithWebIdentity: &AssumeRoleWithWebIdentity{RoleARN: "arn"}}, mapEnv{}, "web_identity_token"},
		{"web identity with both tokens", Config{AssumeRoleWithWebIdentity: &AssumeRoleWithWebIdentity{RoleARN: "arn", WebIdentityToken: "a", WebIdentityTokenFile: "/f"}}, mapEnv{}, "only one"},
		{"TFC without token", Config{}, mapEnv{"TFC_AWS_PROVIDER_AUTH": "true", "TFC_AWS_RUN_ROLE_ARN": "arn"}, "TFC_WORKLOAD_IDENTITY_TOKEN"},
		{"TFC without role", Config{}, mapEnv{"TFC_AWS_PROVIDER_AUTH": "true", "TFC_WORKLOAD_IDENTITY_TOKEN": "x.y.z"}, "TFC_AWS_RUN_ROLE_ARN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := planCredentials(tt.cfg, tt.env)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestSessionNameSafe_keepsOnlyAllowedCharacters(t *testing.T) {
	if got := sessionNameSafe("run-abc/DEF ghi"); got != "run-abcDEFghi" {
		t.Fatalf("got %q", got)
	}
	if got := sessionNameSafe("/"); got != "terraform-provider-rolling" {
		t.Fatalf("got %q", got)
	}
	if got := sessionNameSafe(strings.Repeat("a", 100)); len(got) != 64 {
		t.Fatalf("len = %d", len(got))
	}
}
