package provider

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/fleetsim"
)

// The documented least-privilege policy must list exactly the actions the
// provider calls. Every simulator of the acceptance tests reports the
// actions it served when its test ends; after all tests, the union is
// compared with examples/iam/policy.json (the file the docs include).
var usedActions = struct {
	sync.Mutex
	set map[string]bool
}{set: map[string]bool{}}

// iamPrefix maps the SigV4 signing name to the IAM service prefix. STS is
// left out: GetCallerIdentity needs no permission, and AssumeRole is granted
// by the role's trust policy (see the docs).
var iamPrefix = map[string]string{
	"elasticloadbalancing": "elasticloadbalancing",
	"ec2":                  "ec2",
	"ssm":                  "ssm",
	"autoscaling":          "autoscaling",
	"monitoring":           "cloudwatch",
	"events":               "events",
}

// inspectorAccessKey signs the calls tests make to inspect the simulator;
// they are not the provider's.
const inspectorAccessKey = "AKIDINSPECTOR"

func recordUsedActions(sim *fleetsim.Sim) {
	usedActions.Lock()
	defer usedActions.Unlock()
	for _, c := range sim.Recorder().Calls("") {
		// The instances' own reads are the instance profile's, not the
		// provider's (instance-profile-policy.json).
		provider := c.AccessKeyID != inspectorAccessKey && c.AccessKeyID != fleetsim.InstanceProfileAccessKeyID
		if prefix, ok := iamPrefix[c.Service]; ok && c.ErrorCode == "" && provider {
			usedActions.set[prefix+":"+c.Action] = true
		}
	}
}

type iamPolicy struct {
	Statement []struct {
		Sid    string
		Action stringOrList
	}
}

// stringOrList reads a policy element given as one string or a list.
type stringOrList []string

func (l *stringOrList) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*l = []string{one}
		return nil
	}
	return json.Unmarshal(b, (*[]string)(l))
}

// The acceptance suite runs under the documented policies: every fleet of
// newTestFleetWithCredentials holds the provider to examples/iam/policy.json
// and the instances to examples/iam/instance-profile-policy.json, their
// variables resolved for a fleet whose every instance carries the tag
// fleet=acceptance from launch (fleetsim.Options.LaunchTags) and whose
// target groups, Auto Scaling groups and documents have any name. A call
// the policies do not allow fails the test that makes it.
const (
	testFleetTagKey   = "fleet"
	testFleetTagValue = "acceptance"
)

// testSecretsKeyARN is the customer managed key tests configure with
// secrets_kms_key_id (the default aws/ssm key needs no grant).
func testSecretsKeyARN(sim *fleetsim.Sim) string {
	return "arn:aws:kms:" + sim.Region() + ":" + sim.AccountID() + ":key/rolling-acceptance"
}

func acceptancePolicyVars(sim *fleetsim.Sim) map[string]string {
	return map[string]string{
		"region": sim.Region(), "account_id": sim.AccountID(),
		"target_group_names": "*", "auto_scaling_group_names": "*", "document_names": "*",
		"fleet_tag_key": testFleetTagKey, "fleet_tag_value": testFleetTagValue,
		"secrets_kms_key_arn": testSecretsKeyARN(sim),
		"event_bus_name":      testEventBus,
	}
}

var templateVariable = regexp.MustCompile(`\$\{([a-z_]+)\}`)

// examplePolicy is an examples/iam template with its variables resolved, as
// Terraform's templatefile would; an unresolved variable fails the test.
func examplePolicy(t testing.TB, file string, vars map[string]string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "examples", "iam", file))
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	out := templateVariable.ReplaceAllStringFunc(string(raw), func(m string) string {
		name := templateVariable.FindStringSubmatch(m)[1]
		v, ok := vars[name]
		if !ok {
			missing = append(missing, name)
		}
		return v
	})
	if len(missing) > 0 {
		t.Fatalf("%s: no value for %v", file, missing)
	}
	return []byte(out)
}

// assumeRoleStatement is what the provider's starting credentials need
// beyond policy.json when the provider configuration assumes a role (the
// docs say so); the role itself gets policy.json.
const assumeRoleStatement = `{"Sid": "AssumeTheProviderRole", "Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "arn:aws:iam::*:role/*"}`

// enforceExamplePolicies holds sim's callers to the documented policies.
func enforceExamplePolicies(t testing.TB, sim *fleetsim.Sim) {
	t.Helper()
	doc := examplePolicy(t, "policy.json", acceptancePolicyVars(sim))
	var p map[string]any
	if err := json.Unmarshal(doc, &p); err != nil {
		t.Fatalf("examples/iam/policy.json: %v", err)
	}
	p["Statement"] = append(p["Statement"].([]any), json.RawMessage(assumeRoleStatement))
	withRole, _ := json.Marshal(p)
	if err := sim.SetPolicy(withRole); err != nil {
		t.Fatalf("examples/iam/policy.json: %v", err)
	}
	if err := sim.SetInstanceProfilePolicy(examplePolicy(t, "instance-profile-policy.json", acceptancePolicyVars(sim))); err != nil {
		t.Fatalf("examples/iam/instance-profile-policy.json: %v", err)
	}
}

// withoutPolicy runs fn, a test's own inspection of AWS (which the
// provider's policy need not allow), with enforcement off.
func withoutPolicy(sim *fleetsim.Sim, fn func()) {
	saved := sim.Policy()
	_ = sim.SetPolicy(nil)
	defer func() { _ = sim.SetPolicy(saved) }()
	fn()
}

// checkDocumentedActions returns a problem when the policy and the calls
// differ. Unused documented actions count only when every test ran.
func checkDocumentedActions(path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var p iamPolicy
	if err := json.Unmarshal(raw, &p); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	documented := map[string]bool{}
	for _, st := range p.Statement {
		for _, a := range st.Action {
			documented[a] = true
		}
	}
	usedActions.Lock()
	defer usedActions.Unlock()
	var undocumented, unused []string
	for a := range usedActions.set {
		if !documented[a] {
			undocumented = append(undocumented, a)
		}
	}
	fullRun := flag.Lookup("test.run") == nil || flag.Lookup("test.run").Value.String() == ""
	if fullRun {
		for a := range documented {
			// SSM calls KMS on the provider's behalf (a customer managed
			// key): the recorder sees only the SSM call.
			if !usedActions.set[a] && !strings.HasPrefix(a, "kms:") {
				unused = append(unused, a)
			}
		}
	}
	sort.Strings(undocumented)
	sort.Strings(unused)
	if len(undocumented)+len(unused) > 0 {
		return fmt.Errorf("IAM policy %s differs from the actions called: undocumented %s; documented but unused %s",
			path, strings.Join(undocumented, ", "), strings.Join(unused, ", "))
	}
	return nil
}

// The aws_iam_policy_document version in examples/iam/README.md states the
// same statements with the same actions as the JSON templates.
func TestIAMPolicy_terraformExampleMatchesTheJSONTemplates(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "examples", "iam", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{"policy.json", "instance-profile-policy.json"} {
		raw, err := os.ReadFile(filepath.Join("..", "..", "examples", "iam", file))
		if err != nil {
			t.Fatal(err)
		}
		var p iamPolicy
		if err := json.Unmarshal(raw, &p); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for _, st := range p.Statement {
			block := regexp.MustCompile(`sid\s+=\s+"` + st.Sid + `"(?s:.*?)\n\s*(?:statement|dynamic) |sid\s+=\s+"` + st.Sid + `"(?s:.*)`).Find(readme)
			if block == nil {
				t.Errorf("%s: statement %s is not in the README's aws_iam_policy_document", file, st.Sid)
				continue
			}
			for _, a := range st.Action {
				if !strings.Contains(string(block), `"`+a+`"`) {
					t.Errorf("%s: the README's statement %s lacks %s", file, st.Sid, a)
				}
			}
		}
	}
}
