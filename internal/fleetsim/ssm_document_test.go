package fleetsim

import (
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"
)

// webDeploySeed has three versions: 1 takes only version; 2 and 3 also take
// a required target and an optional restart; $DEFAULT is 2.
const webDeploySeed = `{"documents": [{"name": "Web-Deploy", "versions": 3, "default_version": 2,
  "parameters": ["version", {"name": "target", "type": "StringList", "description": "where to"},
                 {"name": "restart", "description": "restart after", "default_value": "true"}],
  "version_parameters": {"1": ["version"]}}]}`

func seedWebDeploy(t *testing.T, s *Sim) {
	t.Helper()
	sd, err := ParseSeed([]byte(webDeploySeed))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ApplySeed(sd); err != nil {
		t.Fatal(err)
	}
}

// params renders declared parameters as name:type[=default], "!" = required.
func params(d *ssmtypes.DocumentDescription) string {
	var out []string
	for _, p := range d.Parameters {
		s := *p.Name + ":" + string(p.Type)
		if p.DefaultValue != nil {
			s += "=" + *p.DefaultValue
		} else {
			s += "!"
		}
		out = append(out, s)
	}
	return strings.Join(out, " ")
}

func TestSSM_describeDocumentOfAWSRunShellScriptByNameAndARN(t *testing.T) {
	_, cfg, _ := newFrozenSim(t, Options{})
	c := ssm.NewFromConfig(cfg)
	for _, name := range []string{"AWS-RunShellScript", "arn:aws:ssm:us-east-1::document/AWS-RunShellScript"} {
		out, err := c.DescribeDocument(ctx(t), &ssm.DescribeDocumentInput{Name: aws.String(name)})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		d := out.Document
		if *d.Name != "AWS-RunShellScript" || *d.DocumentVersion != "1" || *d.LatestVersion != "1" || *d.DefaultVersion != "1" ||
			d.Status != ssmtypes.DocumentStatusActive || d.DocumentType != ssmtypes.DocumentTypeCommand || *d.Owner != "Amazon" {
			t.Fatalf("%s: %+v", name, d)
		}
		if got := params(d); got != "commands:StringList! workingDirectory:String= executionTimeout:String=3600" {
			t.Fatalf("parameters %s", got)
		}
	}
}

func TestSSM_describeDocumentResolvesVersionsOfASeededDocument(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{})
	seedWebDeploy(t, s)
	c := ssm.NewFromConfig(cfg)
	describe := func(version string) *ssmtypes.DocumentDescription {
		in := &ssm.DescribeDocumentInput{Name: aws.String("Web-Deploy")}
		if version != "" {
			in.DocumentVersion = aws.String(version)
		}
		out, err := c.DescribeDocument(ctx(t), in)
		if err != nil {
			t.Fatalf("version %q: %v", version, err)
		}
		return out.Document
	}
	for version, want := range map[string]string{"": "2", "$DEFAULT": "2", "$LATEST": "3", "1": "1", "3": "3"} {
		d := describe(version)
		if *d.DocumentVersion != want || *d.LatestVersion != "3" || *d.DefaultVersion != "2" || *d.Owner != s.AccountID() {
			t.Errorf("version %q: %s (latest %s, default %s)", version, *d.DocumentVersion, *d.LatestVersion, *d.DefaultVersion)
		}
	}
	if got := params(describe("1")); got != "version:String=" {
		t.Errorf("version 1 declares %s", got)
	}
	if got := params(describe("3")); got != "version:String= target:StringList! restart:String=true" {
		t.Errorf("version 3 declares %s", got)
	}
	if d := describe("3"); *d.Parameters[1].Description != "where to" {
		t.Errorf("description %q", *d.Parameters[1].Description)
	}
	arn := "arn:aws:ssm:us-east-1:" + s.AccountID() + ":document/Web-Deploy"
	if out, err := c.DescribeDocument(ctx(t), &ssm.DescribeDocumentInput{Name: aws.String(arn)}); err != nil || *out.Document.Name != "Web-Deploy" {
		t.Fatalf("by ARN: %v", err)
	}

	var doc *ssmtypes.InvalidDocument
	if _, err := c.DescribeDocument(ctx(t), &ssm.DescribeDocumentInput{Name: aws.String("Nope-Deploy")}); !errors.As(err, &doc) {
		t.Errorf("unknown document: %v", err)
	}
	if _, err := c.DescribeDocument(ctx(t), &ssm.DescribeDocumentInput{Name: aws.String("arn:aws:ssm:us-east-1:999999999999:document/Web-Deploy")}); !errors.As(err, &doc) {
		t.Errorf("another account's ARN: %v", err)
	}
	var version *ssmtypes.InvalidDocumentVersion
	if _, err := c.DescribeDocument(ctx(t), &ssm.DescribeDocumentInput{Name: aws.String("Web-Deploy"), DocumentVersion: aws.String("4")}); !errors.As(err, &version) {
		t.Errorf("unknown version: %v", err)
	}
	var ae smithy.APIError
	if _, err := c.DescribeDocument(ctx(t), &ssm.DescribeDocumentInput{Name: aws.String("Web-Deploy"), DocumentVersion: aws.String("latest")}); !errors.As(err, &ae) || ae.ErrorCode() != "ValidationException" {
		t.Errorf("malformed version: %v", err)
	}
}

func TestSSM_sendCommandRefusesParametersTheDocumentVersionDoesNotAllow(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{})
	seedWebDeploy(t, s)
	ids := s.AddInstances(InstanceConfig{Count: 1, AppVersion: "v1"})
	c := ssm.NewFromConfig(cfg)
	send := func(doc, version string, p map[string][]string) error {
		in := &ssm.SendCommandInput{DocumentName: aws.String(doc), InstanceIds: ids, Parameters: p}
		if version != "" {
			in.DocumentVersion = aws.String(version)
		}
		_, err := c.SendCommand(ctx(t), in)
		return err
	}
	var bad *ssmtypes.InvalidParameters
	for name, tc := range map[string]struct {
		doc, version string
		params       map[string][]string
		mention      string
	}{
		"required target missing":     {"Web-Deploy", "", map[string][]string{"version": {"v2"}}, "target"},
		"undeclared parameter":        {"Web-Deploy", "", map[string][]string{"target": {"a"}, "colour": {"red"}}, "colour"},
		"declared in a later version": {"Web-Deploy", "1", map[string][]string{"restart": {"false"}}, "restart"},
		"String given two values":     {"Web-Deploy", "3", map[string][]string{"target": {"a"}, "version": {"v1", "v2"}}, "version"},
		"shell without commands":      {"AWS-RunShellScript", "", map[string][]string{"workingDirectory": {"/"}}, "commands"},
	} {
		err := send(tc.doc, tc.version, tc.params)
		if !errors.As(err, &bad) || !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("%s: want InvalidParameters naming %s, got %v", name, tc.mention, err)
		}
	}
	var doc *ssmtypes.InvalidDocument
	if err := send("Nope-Deploy", "", nil); !errors.As(err, &doc) {
		t.Errorf("unknown document: %v", err)
	}
	var version *ssmtypes.InvalidDocumentVersion
	if err := send("Web-Deploy", "7", map[string][]string{"target": {"a"}}); !errors.As(err, &version) {
		t.Errorf("unknown version: %v", err)
	}
	if err := send("Web-Deploy", "", map[string][]string{"target": {"a", "b"}, "version": {"v2"}}); err != nil {
		t.Errorf("a valid $DEFAULT command: %v", err)
	}
	if err := send("arn:aws:ssm:us-east-1:"+s.AccountID()+":document/Web-Deploy", "1", nil); err != nil {
		t.Errorf("by ARN, version 1 with its optional parameter left out: %v", err)
	}
}

func TestSeed_refusesMalformedDocuments(t *testing.T) {
	_, err := ParseSeed([]byte(`{"documents": [{"name": "D", "versions": 2, "default_version": 3,
	  "parameters": [{"name": ""}, {"name": "a", "type": "Number"}, "b", "b"],
	  "version_parameters": {"5": []}}]}`))
	if err == nil {
		t.Fatal("a malformed document was accepted")
	}
	for _, want := range []string{"default_version", "name is required", "String or StringList", "duplicate parameter", `"5" is not a version`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q: %v", want, err)
		}
	}
	if _, err := ParseSeed([]byte(`{"documents": [{"name": "D", "parameters": [{"name": "a", "defaut_value": "x"}]}]}`)); err == nil {
		t.Error("a misspelt parameter field was accepted")
	}
}
