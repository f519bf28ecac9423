package provider

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"

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
}

// inspectorAccessKey signs the calls tests make to inspect the simulator;
// they are not the provider's.
const inspectorAccessKey = "AKIDINSPECTOR"

func recordUsedActions(sim *fleetsim.Sim) {
	usedActions.Lock()
	defer usedActions.Unlock()
	for _, c := range sim.Recorder().Calls("") {
		if prefix, ok := iamPrefix[c.Service]; ok && c.ErrorCode == "" && c.AccessKeyID != inspectorAccessKey {
			usedActions.set[prefix+":"+c.Action] = true
		}
	}
}

type iamPolicy struct {
	Statement []struct {
		Action []string
	}
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
			if !usedActions.set[a] {
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
