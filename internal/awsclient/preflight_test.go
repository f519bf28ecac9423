package awsclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/fleetsim"
	"github.com/rollingdeploy/terraform-provider-rolling/internal/rollout"
)

// inFlight counts the simulator's concurrent requests of the named actions
// (the X-Amz-Target header names JSON operations, the form's Action field
// EC2 ones).
type inFlight struct {
	next      http.Handler
	actions   map[string]bool
	now, peak atomic.Int32
}

func (f *inFlight) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, action, _ := strings.Cut(r.Header.Get("X-Amz-Target"), ".")
	if action == "" {
		// The body is signed: read it and give the simulator the same bytes.
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		form, _ := url.ParseQuery(string(body))
		action = form.Get("Action")
	}
	if !f.actions[action] {
		f.next.ServeHTTP(w, r)
		return
	}
	n := f.now.Add(1)
	defer f.now.Add(-1)
	for p := f.peak.Load(); n > p && !f.peak.CompareAndSwap(p, n); p = f.peak.Load() {
	}
	f.next.ServeHTTP(w, r)
}

func TestPreflight_checkInstancesReadsStateStatusAndAgentInBatches(t *testing.T) {
	sim, c, _ := newSim(t, nil)
	ids := sim.AddInstances(fleetsim.InstanceConfig{Count: 230, AppVersion: "v1"})
	f := sim.Faults()
	for _, err := range []error{
		f.StopInstance(ids[1], 0),
		f.SetStatusChecks(ids[2], fleetsim.StatusImpaired, fleetsim.StatusOK, 0),
		f.SetAgentOnline(ids[3], false),
		f.TerminateInstance(ids[4], 0),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	sim.Advance(time.Second)
	unknown := "i-0000000000000dead"
	before := sim.Recorder().CallCount()
	got, err := c.CheckInstances(testContext(t), append([]string{unknown}, ids...))
	if err != nil {
		t.Fatalf("CheckInstances: %v", err)
	}
	calls := sim.Recorder().CallCount()
	// 231 ids: 3 status calls, one of them refused for the unknown id, then
	// DescribeInstances to find the ids that exist and the call again; 5
	// agent calls of at most 50 ids.
	if n := calls["DescribeInstanceStatus"] - before["DescribeInstanceStatus"]; n != 4 {
		t.Errorf("%d DescribeInstanceStatus calls, want 4", n)
	}
	if n := calls["DescribeInstances"] - before["DescribeInstances"]; n != 1 {
		t.Errorf("%d DescribeInstances calls, want 1", n)
	}
	if n := calls["DescribeInstanceInformation"] - before["DescribeInstanceInformation"]; n != 5 {
		t.Errorf("%d DescribeInstanceInformation calls, want 5", n)
	}
	if len(got) != 231 {
		t.Fatalf("%d rows for 231 ids", len(got))
	}
	for id, want := range map[string]InstanceReadiness{
		ids[0]:  {Exists: true, State: "running", InstanceStatus: "ok", SystemStatus: "ok", PingStatus: "Online"},
		ids[1]:  {Exists: true, State: "stopped", InstanceStatus: "not-applicable", SystemStatus: "not-applicable", PingStatus: "ConnectionLost"},
		ids[2]:  {Exists: true, State: "running", InstanceStatus: "impaired", SystemStatus: "ok", PingStatus: "Online"},
		ids[3]:  {Exists: true, State: "running", InstanceStatus: "ok", SystemStatus: "ok", PingStatus: "ConnectionLost"},
		ids[4]:  {Exists: true, State: "terminated", InstanceStatus: "not-applicable", SystemStatus: "not-applicable"},
		unknown: {},
	} {
		want.InstanceID, want.AgentChecked = id, true
		if got[id] != want {
			t.Errorf("%s:\n got %+v\nwant %+v", id, got[id], want)
		}
	}
}

func TestPreflight_checkInstancesRunsItsCallsConcurrentlyWithinTheBound(t *testing.T) {
	cleanAWSEnv(t)
	// Real time: the slow fault below is simulated time, 50 ms of it 50 ms
	// of wall time here.
	sim := fleetsim.New(fleetsim.Options{TimeScale: 1, TickInterval: -1, Credentials: map[string]string{simAccessKey: simSecretKey}})
	counter := &inFlight{next: sim, actions: map[string]bool{"DescribeInstanceStatus": true, "DescribeInstanceInformation": true}}
	srv := httptest.NewServer(counter)
	t.Cleanup(func() { srv.Close(); sim.Close() })
	c, err := New(testContext(t), Config{Region: sim.Region(), AccessKey: simAccessKey, SecretKey: simSecretKey,
		Endpoints: allEndpoints(srv.URL), retryBackoff: instantBackoff{}})
	if err != nil {
		t.Fatal(err)
	}
	ids := sim.AddInstances(fleetsim.InstanceConfig{Count: 500, AppVersion: "v1"})
	// Slow answers keep calls in flight long enough to overlap.
	sim.Faults().SlowResponses("DescribeInstanceStatus", 1, 50*time.Millisecond)
	sim.Faults().SlowResponses("DescribeInstanceInformation", 1, 50*time.Millisecond)
	if _, err := c.CheckInstances(testContext(t), ids); err != nil {
		t.Fatal(err)
	}
	if p := counter.peak.Load(); p < 2 || p > preflightConcurrency {
		t.Fatalf("peak %d calls in flight, want 2..%d", p, preflightConcurrency)
	}
}

func TestPreflight_checkInstancesFailsOnMalformedIdsAndHonoursCancellation(t *testing.T) {
	_, c, _ := newSim(t, nil)
	_, err := c.CheckInstances(testContext(t), []string{"web-1"})
	var aerr *Error
	if !errors.As(err, &aerr) || aerr.Code != "InvalidInstanceID.Malformed" || aerr.Operation != "DescribeInstanceStatus" {
		t.Fatalf("malformed id: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.CheckInstances(ctx, []string{"i-0000000000000dead"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	if got, err := c.CheckInstances(testContext(t), nil); err != nil || len(got) != 0 {
		t.Fatalf("no ids: %v %v", got, err)
	}
}

func TestPreflight_checkDocumentResolvesVersionsAndRequiredParameters(t *testing.T) {
	sim, c, _ := newSim(t, nil)
	sim.AddDocument(fleetsim.DocumentConfig{Name: "Web-Deploy", Versions: 2, DefaultVersion: 1,
		Declared:          []fleetsim.DocumentParameter{{Name: "version"}, {Name: "restart", DefaultValue: new(string)}},
		VersionParameters: map[int][]fleetsim.DocumentParameter{1: {{Name: "version"}}}})
	ctx := testContext(t)
	render := func(d DocumentInfo) string {
		var ps []string
		for _, p := range d.Parameters {
			ps = append(ps, fmt.Sprintf("%s:%t", p.Name, p.Required))
		}
		return fmt.Sprintf("%t/%t %s v%s (latest %s, default %s) %s", d.Exists, d.VersionExists, d.Name, d.Version, d.LatestVersion, d.DefaultVersion, strings.Join(ps, " "))
	}
	for _, tc := range []struct{ name, version, want string }{
		{"AWS-RunShellScript", "", "true/true AWS-RunShellScript v1 (latest 1, default 1) commands:true workingDirectory:false executionTimeout:false"},
		{"Web-Deploy", "", "true/true Web-Deploy v1 (latest 2, default 1) version:true"},
		{"Web-Deploy", "$LATEST", "true/true Web-Deploy v2 (latest 2, default 1) version:true restart:false"},
		{"arn:aws:ssm:us-east-1:" + sim.AccountID() + ":document/Web-Deploy", "2", "true/true Web-Deploy v2 (latest 2, default 1) version:true restart:false"},
		{"Web-Deploy", "3", "true/false  v (latest , default ) "},
		{"No-Such-Doc", "", "false/false  v (latest , default ) "},
	} {
		got, err := c.CheckDocument(ctx, tc.name, tc.version)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.name, tc.version, err)
		}
		if r := render(got); r != tc.want {
			t.Errorf("%s %q:\n got %s\nwant %s", tc.name, tc.version, r, tc.want)
		}
	}
	_, err := c.CheckDocument(ctx, "Web-Deploy", "latest")
	var aerr *Error
	if !errors.As(err, &aerr) || aerr.Code != "ValidationException" || errors.Is(err, rollout.ErrNotFound) {
		t.Fatalf("malformed version: %v", err)
	}
}

func TestRunBounded_stopsAtTheFirstErrorAndNeverExceedsTheLimit(t *testing.T) {
	var now, peak atomic.Int32
	var mu sync.Mutex
	var ran []int
	boom := errors.New("boom")
	var tasks []func(context.Context) error
	for i := 0; i < 20; i++ {
		tasks = append(tasks, func(ctx context.Context) error {
			n := now.Add(1)
			defer now.Add(-1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			time.Sleep(time.Millisecond)
			mu.Lock()
			ran = append(ran, i)
			mu.Unlock()
			if i == 5 {
				return boom
			}
			return ctx.Err()
		})
	}
	if err := runBounded(context.Background(), 3, tasks); !errors.Is(err, boom) {
		t.Fatalf("err %v", err)
	}
	sort.Ints(ran)
	if peak.Load() > 3 || len(ran) == 20 {
		t.Fatalf("peak %d, ran %v", peak.Load(), ran)
	}
}

// Against moto, an emulator written by others: the requests are valid AWS
// requests, an unknown id is Exists false there too, and a document's
// parameters without a default are required. (moto does not ship
// AWS-RunShellScript as a document it describes, so one is created.)
func TestMoto_preflightReadsInstancesAndDocuments(t *testing.T) {
	f := newMotoFixture(t)
	ids := f.runInstances(2, nil)
	if _, err := f.c.ec2.StopInstances(f.ctx, &ec2.StopInstancesInput{InstanceIds: ids[1:]}); err != nil {
		t.Fatal(err)
	}
	unknown := "i-0000000000000dead"
	got, err := f.c.CheckInstances(f.ctx, append([]string{unknown}, ids...))
	if err != nil {
		t.Fatalf("CheckInstances: %v", err)
	}
	if r := got[ids[0]]; !r.Exists || r.State != "running" || r.InstanceStatus == "" {
		t.Errorf("running instance %+v", r)
	}
	if r := got[ids[1]]; !r.Exists || (r.State != "stopping" && r.State != "stopped") {
		t.Errorf("stopped instance %+v", r)
	}
	if r := got[unknown]; r.Exists {
		t.Errorf("unknown id %+v", r)
	}
	name := uniqueName("Web-Deploy")
	content := `{"schemaVersion": "2.2", "description": "deploy",
	  "parameters": {"version": {"type": "String"}, "restart": {"type": "String", "default": "true"}},
	  "mainSteps": [{"action": "aws:runShellScript", "name": "deploy", "inputs": {"runCommand": ["echo {{ version }}"]}}]}`
	if _, err := f.c.ssm.CreateDocument(f.ctx, &ssm.CreateDocumentInput{Name: aws.String(name), Content: aws.String(content),
		DocumentType: ssmtypes.DocumentTypeCommand, DocumentFormat: ssmtypes.DocumentFormatJson}); err != nil {
		t.Fatalf("CreateDocument: %v", err)
	}
	doc, err := f.c.CheckDocument(f.ctx, name, "$LATEST")
	if err != nil {
		t.Fatalf("CheckDocument: %v", err)
	}
	required := map[string]bool{}
	for _, p := range doc.Parameters {
		required[p.Name] = p.Required
	}
	if !doc.Exists || !doc.VersionExists || doc.Version != "1" || len(required) != 2 || !required["version"] || required["restart"] {
		t.Errorf("document on moto: %+v", doc)
	}
	if doc, err := f.c.CheckDocument(f.ctx, name, "7"); err != nil || !doc.Exists || doc.VersionExists {
		t.Errorf("unknown version on moto: %+v %v", doc, err)
	}
	if doc, err := f.c.CheckDocument(f.ctx, uniqueName("No-Such-Doc"), ""); err != nil || doc.Exists {
		t.Errorf("unknown document on moto: %+v %v", doc, err)
	}
}
