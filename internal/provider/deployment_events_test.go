package provider

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/fleetsim"
)

// testEventBus is the bus of the acceptance tests' events blocks; the
// documented policy is resolved with it (acceptancePolicyVars).
const testEventBus = "rolling-acceptance"

// withEvents adds the events endpoint and an events block naming bus to a
// test configuration.
func (f *testFleet) withEvents(d deployment, bus string) string {
	d.Extra += fmt.Sprintf("\n  events {\n    event_bus_name = %q\n  }\n", bus)
	return strings.Replace(f.config(d), "endpoints {", fmt.Sprintf("endpoints {\n    events      = %q", f.url), 1)
}

// published decodes the details published on bus, checking each against
// the documented schema and the envelope's fields.
func (f *testFleet) published(t *testing.T, bus string) []rolloutEvent {
	t.Helper()
	schema := loadEventSchema(t)
	var out []rolloutEvent
	for _, e := range f.sim.PublishedEvents(bus) {
		var raw any
		if err := json.Unmarshal(e.Detail, &raw); err != nil {
			t.Fatalf("event %s: %v", e.ID, err)
		}
		if problems := validateJSON(schema, raw, "detail"); len(problems) > 0 {
			t.Errorf("event %s does not match examples/events/rollout-event.schema.json:\n%s\n%s", e.DetailType, strings.Join(problems, "\n"), e.Detail)
		}
		var ev rolloutEvent
		if err := json.Unmarshal(e.Detail, &ev); err != nil {
			t.Fatal(err)
		}
		if e.Source != eventSource || e.DetailType != eventDetailTypes[ev.Type] || len(e.Resources) == 0 || !slices.Equal(e.Resources, ev.Deployment.TargetGroupARNs) {
			t.Errorf("event %s: source %q, detail-type %q, resources %v", ev.Type, e.Source, e.DetailType, e.Resources)
		}
		out = append(out, ev)
	}
	return out
}

func eventTypes(evs []rolloutEvent) []string {
	var out []string
	for _, e := range evs {
		s := e.Type
		if e.Batch != nil {
			s += fmt.Sprintf(" %d/%d", e.Batch.Number, e.Batch.Of)
		}
		if e.Instance != nil {
			s += " " + e.Instance.ID
		}
		out = append(out, s)
	}
	return out
}

// inOrder checks the sequence numbers: 1, 2, 3, ... in publishing order.
func inOrder(t *testing.T, evs []rolloutEvent) {
	t.Helper()
	for i, e := range evs {
		if e.Sequence != i+1 {
			t.Fatalf("event %d (%s) has sequence %d", i, e.Type, e.Sequence)
		}
	}
}

func TestAccEvents_successPublishesStartEachBatchAndTheEnd(t *testing.T) {
	f := newTestFleet(t)
	f.sim.AddEventBus(testEventBus)
	tg, ids := f.web(6, "v1")
	v1 := deployment{TargetGroups: []string{tg}, Version: "v1"}
	v2 := deployment{TargetGroups: []string{tg}, Version: "v2"}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: f.factories(),
		Steps: []resource.TestStep{
			{
				// Adopting a fleet already on v1 rolls nothing out: nothing
				// to tell a channel about.
				Config: f.withEvents(v1, testEventBus),
				Check: func(*terraform.State) error {
					if n := len(f.sim.PublishedEvents("")); n != 0 {
						return fmt.Errorf("%d events for a rollout with nothing to do", n)
					}
					return nil
				},
			},
			{
				Config: f.withEvents(v2, testEventBus),
				Check: func(*terraform.State) error {
					evs := f.published(t, testEventBus)
					want := []string{"rollout_started", "batch_started 1/3", "batch_finished 1/3", "batch_started 2/3",
						"batch_finished 2/3", "batch_started 3/3", "batch_finished 3/3", "rollout_succeeded"}
					if got := eventTypes(evs); !slices.Equal(got, want) {
						return fmt.Errorf("events %v, want %v", got, want)
					}
					inOrder(t, evs)
					first, last := evs[0], evs[len(evs)-1]
					if first.Rollout.Version != "v2" || first.Rollout.PreviousVersion != "v1" || first.Counts.ToUpdate != 6 || first.Capacity.Floor != 4 {
						return fmt.Errorf("rollout_started: %+v counts %+v capacity %+v", first.Rollout, first.Counts, first.Capacity)
					}
					if b := evs[1]; !slices.Equal(b.Batch.InstanceIDs, ids[:2]) || b.Capacity.InService != 4 {
						return fmt.Errorf("batch 1 started: %+v capacity %+v", b.Batch, b.Capacity)
					}
					if b := evs[2]; b.Batch.DurationSeconds == nil || *b.Batch.DurationSeconds <= 0 || b.Counts.Updated != 2 {
						return fmt.Errorf("batch 1 finished: %+v counts %+v", b.Batch, b.Counts)
					}
					if last.Status != "succeeded" || last.Counts.Updated != 6 || last.Counts.Failed != 0 || last.Rollout.ID != first.Rollout.ID {
						return fmt.Errorf("last event: %+v counts %+v", last, last.Counts)
					}
					return nil
				},
			},
			// Nothing new in state, and the contract holds.
			{Config: f.withEvents(v2, testEventBus), PlanOnly: true},
			{RefreshState: true},
			{Config: f.withEvents(v2, testEventBus), PlanOnly: true},
		},
	})
}

func TestAccEvents_failureWithRollbackPublishesTheFailureTheRollbackAndTheEnd(t *testing.T) {
	f := newTestFleet(t)
	f.sim.AddEventBus(testEventBus)
	tg, ids := f.web(6, "v1")
	v1 := deployment{TargetGroups: []string{tg}, Version: "v1", Failure: "rollback = true"}
	v2 := deployment{TargetGroups: []string{tg}, Version: "v2", Failure: "rollback = true"}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: f.factories(),
		Steps: []resource.TestStep{
			{Config: f.withEvents(v1, testEventBus)},
			{
				PreConfig:   func() { f.sim.Faults().FailDeploy("v2", ids[3]) },
				Config:      f.withEvents(v2, testEventBus),
				ExpectError: regexp.MustCompile(`rolled back 4 of 4`),
			},
		},
	})
	evs := f.published(t, testEventBus)
	got := eventTypes(evs)
	// The failed instance is rolled back at once; its batch mate finishes
	// batch 2, now the last (2/2), and the two updated before it follow.
	want := []string{"rollout_started", "batch_started 1/3", "batch_finished 1/3", "batch_started 2/3",
		"instance_failed " + ids[3], "rollback_started", "batch_finished 2/2", "rollback_started", "rollout_rolled_back"}
	if !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	inOrder(t, evs)
	failed := evs[4]
	if failed.Instance.Batch != 2 || failed.Instance.Phase != "step" || !strings.Contains(failed.Instance.Reason, `(step "deploy"): SSM command Failed, exit code 1`) {
		t.Errorf("instance_failed: %+v", failed.Instance)
	}
	if rb := evs[5]; !slices.Equal(rb.Instances, []string{ids[3]}) || !strings.Contains(rb.Message, "v1") {
		t.Errorf("first rollback_started: %+v", rb)
	}
	if rb := evs[7]; len(rb.Instances) != 3 {
		t.Errorf("second rollback_started: %+v", rb)
	}
	last := evs[len(evs)-1]
	if last.Status != "rolled_back" || last.Counts.RolledBack != 4 || len(last.Failed) != 1 || last.Failed[0].ID != ids[3] || last.Message == "" {
		t.Errorf("last event: status %s counts %+v failed %+v message %q", last.Status, last.Counts, last.Failed, last.Message)
	}
}

func TestAccEvents_cancelledRolloutPublishesTheCancellation(t *testing.T) {
	f := newTestFleet(t)
	f.sim.AddEventBus(testEventBus)
	// A 3000 s deregistration delay (3 s of wall time) keeps the first
	// batch draining past the 1 s update timeout, which cancels the run.
	tg := f.sim.AddTargetGroup(fleetsim.TargetGroupConfig{Name: "web", Port: 80, DeregistrationDelay: 3000 * time.Second})
	f.sim.AddInstances(fleetsim.InstanceConfig{Count: 4, AppVersion: "v1", Tags: map[string]string{"rolling:version": "v1"}, TargetGroupARNs: []string{tg}})
	v1 := deployment{TargetGroups: []string{tg}, Version: "v1"}
	v2 := deployment{TargetGroups: []string{tg}, Version: "v2", Extra: "timeouts {\n    update = \"1s\"\n  }"}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: f.factories(),
		Steps: []resource.TestStep{
			{Config: f.withEvents(v1, testEventBus)},
			{Config: f.withEvents(v2, testEventBus), ExpectError: regexp.MustCompile(`was cancelled`)},
		},
	})
	evs := f.published(t, testEventBus)
	got := eventTypes(evs)
	// 60% of 4 keeps 3 in service: one instance a batch.
	if !slices.Equal(got, []string{"rollout_started", "batch_started 1/4", "rollout_cancelled"}) {
		t.Fatalf("events %v, want rollout_started, batch_started 1/4, rollout_cancelled", got)
	}
	inOrder(t, evs)
	if last := evs[len(evs)-1]; last.Status != "cancelled" || last.Counts.Updated != 0 {
		t.Errorf("last event: status %s counts %+v", last.Status, last.Counts)
	}
}

// A throttled publish is retried: every event arrives, and the apply has no
// warning to give.
func TestAccEvents_throttledEntriesAreRetried(t *testing.T) {
	f := newTestFleet(t)
	f.sim.AddEventBus(testEventBus)
	tg, _ := f.web(4, "v1")
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: f.factories(),
		Steps: []resource.TestStep{
			{Config: f.withEvents(deployment{TargetGroups: []string{tg}, Version: "v1"}, testEventBus)},
			{
				PreConfig: func() { f.sim.Faults().FailEventEntries(2, "ThrottlingException") },
				Config:    f.withEvents(deployment{TargetGroups: []string{tg}, Version: "v2"}, testEventBus),
				Check: func(*terraform.State) error {
					evs := f.published(t, testEventBus)
					// One instance a batch (60% of 4 stay in service).
					if got := eventTypes(evs); len(got) != 10 || got[9] != "rollout_succeeded" {
						return fmt.Errorf("events %v, want all 10", got)
					}
					inOrder(t, evs)
					return nil
				},
			},
		},
	})
}

// The published details are checked against the documented schema; so is
// the documented example.
func TestEvents_documentedExampleMatchesTheSchema(t *testing.T) {
	schema := loadEventSchema(t)
	raw, err := os.ReadFile(filepath.Join("..", "..", "examples", "events", "rollout-event.example.json"))
	if err != nil {
		t.Fatal(err)
	}
	var envelope struct {
		Source     string `json:"source"`
		DetailType string `json:"detail-type"`
		Detail     any    `json:"detail"`
	}
	if err := json.Unmarshal(raw, &envelope); err != nil {
		t.Fatal(err)
	}
	if problems := validateJSON(schema, envelope.Detail, "detail"); len(problems) > 0 {
		t.Fatalf("the example does not match the schema:\n%s", strings.Join(problems, "\n"))
	}
	if envelope.Source != eventSource || envelope.DetailType != eventDetailTypes["batch_finished"] {
		t.Fatalf("example envelope: source %q, detail-type %q", envelope.Source, envelope.DetailType)
	}
	// And every type the provider publishes is in the schema's enum.
	enum := schema["properties"].(map[string]any)["type"].(map[string]any)["enum"].([]any)
	for typ := range eventDetailTypes {
		if !slices.Contains(enum, any(typ)) {
			t.Errorf("type %s is not documented in the schema", typ)
		}
	}
}

func loadEventSchema(t *testing.T) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "examples", "events", "rollout-event.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// validateJSON checks v against the subset of JSON Schema the event schema
// uses (type, const, enum, required, properties, items, minimum) and also
// refuses properties the schema does not declare, so that a field added to
// the events is added to the documentation too.
func validateJSON(schema map[string]any, v any, at string) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, at+": "+fmt.Sprintf(format, args...)) }
	if c, ok := schema["const"]; ok && fmt.Sprint(c) != fmt.Sprint(v) {
		bad("is %v, want %v", v, c)
	}
	if enum, ok := schema["enum"].([]any); ok && !slices.Contains(enum, v) {
		bad("%v is not one of %v", v, enum)
	}
	switch schema["type"] {
	case "object":
		obj, ok := v.(map[string]any)
		if !ok {
			bad("is not an object")
			return problems
		}
		props, _ := schema["properties"].(map[string]any)
		for _, r := range asList(schema["required"]) {
			if _, ok := obj[r.(string)]; !ok {
				bad("lacks %s", r)
			}
		}
		for k, val := range obj {
			sub, ok := props[k].(map[string]any)
			if !ok {
				bad("has %s, which the schema does not document", k)
				continue
			}
			problems = append(problems, validateJSON(sub, val, at+"."+k)...)
		}
	case "array":
		list, ok := v.([]any)
		if !ok {
			bad("is not an array")
			return problems
		}
		if items, ok := schema["items"].(map[string]any); ok {
			for i, e := range list {
				problems = append(problems, validateJSON(items, e, fmt.Sprintf("%s[%d]", at, i))...)
			}
		}
	case "string":
		if _, ok := v.(string); !ok {
			bad("is not a string")
		}
	case "integer", "number":
		n, ok := v.(float64)
		switch {
		case !ok:
			bad("is not a number")
		case schema["type"] == "integer" && n != float64(int64(n)):
			bad("%v is not an integer", n)
		}
		if lo, has := schema["minimum"].(float64); ok && has && n < lo {
			bad("%v is below %v", n, lo)
		}
	}
	return problems
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

// As a user sees it with the real CLI: events that cannot be published and
// a page that may not be served are warnings of a successful apply, the
// log at TF_LOG=info says where the rollout is in one line per batch, and
// the contract holds.
func TestAccEvents_cliWarnsOfWhatCouldNotBeReportedAndTheLogReads(t *testing.T) {
	f := newTestFleet(t)
	tg, ids := f.web(6, "v1") // the bus is never created
	dir := t.TempDir()
	write := func(version string) {
		config := requiredProviders + f.withEvents(deployment{TargetGroups: []string{tg}, Version: version}, testEventBus)
		if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(config), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cli := newTerraformCLI(t, dir, fmt.Sprintf("%s=%g", EnvTimeScale, testTimeScale), "TF_LOG=info",
		EnvProgressAddr+"=0.0.0.0:"+strings.Split(freeAddr(t), ":")[1])
	write("v1")
	cli.must("apply", "-auto-approve", "-no-color")
	write("v2")
	out := cli.must("apply", "-auto-approve", "-no-color")
	for _, want := range []string{
		"Warning: Rollout events not all published",
		"No event reached event bus " + testEventBus + " (8 events); the rollout itself was not affected.",
		"Warning: No live progress page",
		"ResourceNotFoundException",
		"is not a loopback address",
		"rollout started: rolling out v2 to 6 of 6 instances in 3 batches; 6 of 6 in service (floor 4)",
		"batch 1 of 3 started: " + ids[0] + ", " + ids[1] + "; 4 of 6 in service (floor 4)",
		"batch 3 of 3 finished in ",
		"rollout finished: succeeded",
	} {
		// Terraform wraps a diagnostic's lines.
		if !strings.Contains(strings.Join(strings.Fields(out), " "), want) {
			t.Errorf("the apply's output lacks %q", want)
		}
	}
	if m := regexp.MustCompile(`batch 2 of 3 finished in [^:]+: [^;]+; 6 of 6 in service \(floor 4\); 4 of 6 updated; [0-9.ms]+ elapsed: .*rollout_id=r-`).FindString(out); m == "" {
		t.Errorf("no readable batch_finished line with the rollout id in:\n%s", grepLines(out, "batch 2"))
	}
	// The bus's absence is learnt from the first call: no call is made for
	// the events after it.
	if n := f.sim.Recorder().CallCount()["PutEvents"]; n != 1 {
		t.Errorf("%d PutEvents calls to a bus that does not exist, want 1", n)
	}
	for _, detail := range []string{"instance_phase:", "poll:"} {
		if strings.Contains(out, detail) {
			t.Errorf("TF_LOG=info shows per-instance detail %q", detail)
		}
	}
	if t.Failed() {
		t.Logf("rollout lines:\n%s\nwarnings:\n%s", grepLines(out, "rollout_id="), grepLines(out, "arning"))
	}
	for _, args := range [][]string{{"plan", "-detailed-exitcode", "-no-color"}, {"plan", "-refresh-only", "-detailed-exitcode", "-no-color"}} {
		if code, out := cli.code(args...); code != 0 {
			t.Errorf("terraform %v exits %d after a successful apply:\n%s", args, code, out)
		}
	}
}

func grepLines(out, substr string) string {
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, substr) {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// Without the documented PublishRolloutEvents statement AWS refuses the
// first publish; the rollout goes on to succeed, and no call is wasted on
// the events after it.
func TestAccEvents_withoutThePermissionTheRolloutStillSucceeds(t *testing.T) {
	f := newTestFleet(t)
	f.sim.AddEventBus(testEventBus)
	policy := withoutStatement(t, examplePolicy(t, "policy.json", acceptancePolicyVars(f.sim)), "PublishRolloutEvents")
	if err := f.sim.SetPolicy(policy); err != nil {
		t.Fatal(err)
	}
	tg, ids := f.web(4, "v1")
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: f.factories(),
		Steps: []resource.TestStep{
			{Config: f.withEvents(deployment{TargetGroups: []string{tg}, Version: "v1"}, testEventBus)},
			{Config: f.withEvents(deployment{TargetGroups: []string{tg}, Version: "v2"}, testEventBus)},
		},
	})
	for id, v := range f.versions(ids) {
		if v != "v2" {
			t.Errorf("%s runs %s", id, v)
		}
	}
	calls := f.sim.Recorder().Calls("PutEvents")
	if len(calls) != 1 || calls[0].ErrorCode != "AccessDeniedException" || len(f.sim.PublishedEvents("")) != 0 {
		t.Fatalf("PutEvents calls %+v, %d events published", calls, len(f.sim.PublishedEvents("")))
	}
}
