package fleetsim

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

const testSecretName = "/rolling/secrets/web/r-1/deploy/TOKEN"

func readLine(name string) string {
	return `TOKEN="$(aws ssm get-parameter --region us-east-1 --name '` + name +
		`' --with-decryption --query Parameter.Value --output text)" || exit 3; export TOKEN`
}

func digest(v string) string {
	sum := sha256.Sum256([]byte(v))
	return "sha256:" + hex.EncodeToString(sum[:])
}

func putSecret(t *testing.T, c *ssm.Client, name, value, keyID string) {
	t.Helper()
	in := &ssm.PutParameterInput{Name: aws.String(name), Value: aws.String(value), Type: ssmtypes.ParameterTypeSecureString}
	if keyID != "" {
		in.KeyId = aws.String(keyID)
	}
	putParam(t, c, in)
}

// A command reads a SecureString on the instance: the instance gets the
// plaintext, the command and every recorded call carry only the name.
func TestInstanceParameters_commandReadsASecureStringAsTheInstance(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{})
	ids := s.AddInstances(InstanceConfig{Count: 2, AppVersion: "v1"})
	c := ssm.NewFromConfig(cfg)
	const secret = "tok-Secret-99"
	putSecret(t, c, testSecretName, secret, "")
	cmd := runShell(t, c, ids, readLine(testSecretName), "echo after")
	s.Advance(time.Minute)
	for _, id := range ids {
		inv := getInvocation(t, c, cmd, id)
		if inv.Status != ssmtypes.CommandInvocationStatusSuccess || !strings.Contains(*inv.StandardOutputContent, "after") {
			t.Fatalf("%s: %s %q %q", id, inv.Status, *inv.StandardOutputContent, *inv.StandardErrorContent)
		}
		if got := s.InvocationEnv(cmd, id)["TOKEN"]; got != digest(secret) {
			t.Errorf("%s got TOKEN %s, want the secret's digest", id, got)
		}
	}
	reads := 0
	for _, call := range s.Recorder().Calls("") {
		raw, _ := json.Marshal(call)
		if strings.Contains(string(raw), secret) {
			t.Errorf("recorded call %s carries the secret: %s", call.Action, raw)
		}
		if call.Action == "GetParameter" && call.AccessKeyID == InstanceProfileAccessKeyID && call.ErrorCode == "" &&
			call.Params["Name"] == testSecretName && call.Params["WithDecryption"] == "true" {
			reads++
		}
	}
	if reads != len(ids) {
		t.Errorf("%d instance reads recorded, want %d", reads, len(ids))
	}
}

// A missing parameter or one the instance profile may not read fails the
// line with the AWS CLI's error and the exit status the line gives; the
// export spelling hides the failure, as a shell does.
func TestInstanceParameters_missingOrDeniedFailsTheLine(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{})
	ids := s.AddInstances(InstanceConfig{Count: 1, AppVersion: "v1"})
	c := ssm.NewFromConfig(cfg)

	cmd := runShell(t, c, ids, readLine("/rolling/secrets/web/r-1/deploy/GONE"), "echo never")
	s.Advance(time.Minute)
	inv := getInvocation(t, c, cmd, ids[0])
	if inv.Status != ssmtypes.CommandInvocationStatusFailed || inv.ResponseCode != 3 ||
		!strings.Contains(*inv.StandardErrorContent, "An error occurred (ParameterNotFound) when calling the GetParameter operation") ||
		strings.Contains(*inv.StandardOutputContent, "never") {
		t.Fatalf("missing: %s %d %q", inv.Status, inv.ResponseCode, *inv.StandardErrorContent)
	}

	putSecret(t, c, testSecretName, "v", "")
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ssm:GetParameter",
	  "Resource":"arn:aws:ssm:us-east-1:123456789012:parameter/rolling/secrets/api/*"}]}`
	if err := s.SetInstanceProfilePolicy([]byte(policy)); err != nil {
		t.Fatal(err)
	}
	cmd = runShell(t, c, ids, readLine(testSecretName))
	s.Advance(time.Minute)
	inv = getInvocation(t, c, cmd, ids[0])
	want := "is not authorized to perform: ssm:GetParameter on resource: arn:aws:ssm:us-east-1:123456789012:parameter" + testSecretName
	if inv.Status != ssmtypes.CommandInvocationStatusFailed || !strings.Contains(*inv.StandardErrorContent, "(AccessDeniedException)") ||
		!strings.Contains(*inv.StandardErrorContent, "assumed-role/"+InstanceProfileRole+"/"+ids[0]) || !strings.Contains(*inv.StandardErrorContent, want) {
		t.Fatalf("denied: %s %q", inv.Status, *inv.StandardErrorContent)
	}

	cmd = runShell(t, c, ids, `export TOKEN="$(aws ssm get-parameter --name `+testSecretName+` --with-decryption --query Parameter.Value --output text)"`)
	s.Advance(time.Minute)
	if inv = getInvocation(t, c, cmd, ids[0]); inv.Status != ssmtypes.CommandInvocationStatusSuccess || s.InvocationEnv(cmd, ids[0])["TOKEN"] != digest("") {
		t.Fatalf("export spelling: %s, TOKEN %s", inv.Status, s.InvocationEnv(cmd, ids[0])["TOKEN"])
	}
}

// Under a customer managed key the instance profile needs kms:Decrypt on
// it; without --with-decryption the instance gets the ciphertext.
func TestInstanceParameters_customerKeyNeedsDecryptAndCiphertextWithoutIt(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{})
	ids := s.AddInstances(InstanceConfig{Count: 1, AppVersion: "v1"})
	c := ssm.NewFromConfig(cfg)
	const key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	putSecret(t, c, testSecretName, "plain", key)
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ssm:GetParameter",
	  "Resource":"arn:aws:ssm:us-east-1:123456789012:parameter/rolling/secrets/*"}]}`
	if err := s.SetInstanceProfilePolicy([]byte(policy)); err != nil {
		t.Fatal(err)
	}
	cmd := runShell(t, c, ids, readLine(testSecretName))
	s.Advance(time.Minute)
	if inv := getInvocation(t, c, cmd, ids[0]); inv.Status != ssmtypes.CommandInvocationStatusFailed ||
		!strings.Contains(*inv.StandardErrorContent, "kms:Decrypt on resource: "+key) {
		t.Fatalf("without kms:Decrypt: %s %q", inv.Status, *inv.StandardErrorContent)
	}
	cmd = runShell(t, c, ids, `TOKEN="$(aws ssm get-parameter --name `+testSecretName+` --query Parameter.Value --output text)" || exit 1`)
	s.Advance(time.Minute)
	if inv := getInvocation(t, c, cmd, ids[0]); inv.Status != ssmtypes.CommandInvocationStatusSuccess ||
		s.InvocationEnv(cmd, ids[0])["TOKEN"] == digest("plain") {
		t.Fatalf("without decryption the instance must get the ciphertext: %s", inv.Status)
	}
}
