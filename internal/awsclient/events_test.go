package awsclient

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/rollout"
)

func testEvents(n int, detailType string) []Event {
	out := make([]Event, n)
	for i := range out {
		out[i] = Event{
			Source: "terraform-provider-rolling", DetailType: detailType,
			Detail:    fmt.Sprintf(`{"schema_version":1,"sequence":%d}`, i+1),
			Resources: []string{"arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef"},
			Time:      time.Date(2026, 3, 1, 12, 0, i, 0, time.UTC),
		}
	}
	return out
}

func TestPutEvents_chunksByTenAndKeepsTheOrder(t *testing.T) {
	sim, c, _ := newSim(t, nil)
	sim.AddEventBus("deploys")
	results, err := c.PutEvents(testContext(t), "deploys", testEvents(23, "Rolling Deployment Batch Started"))
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range results {
		if r.ID == "" || r.Code != "" {
			t.Fatalf("result %d: %+v", i, r)
		}
	}
	got := sim.PublishedEvents("deploys")
	if len(got) != 23 {
		t.Fatalf("%d events published, want 23", len(got))
	}
	for i, e := range got {
		if want := fmt.Sprintf(`"sequence":%d}`, i+1); !strings.Contains(string(e.Detail), want) || e.ID != results[i].ID {
			t.Fatalf("event %d is %s (id %s, result %s)", i, e.Detail, e.ID, results[i].ID)
		}
	}
	if n := sim.Recorder().CallCount()["PutEvents"]; n != 3 {
		t.Fatalf("%d PutEvents calls for 23 events, want 3", n)
	}
}

func TestPutEvents_reportsFailedEntriesAndWhichAreRetryable(t *testing.T) {
	sim, c, _ := newSim(t, nil)
	sim.Faults().FailEventEntries(1, "ThrottlingException")
	events := testEvents(2, "Rolling Deployment Started")
	events[1].Detail = `not json`
	results, err := c.PutEvents(testContext(t), "", events)
	if err != nil {
		t.Fatal(err)
	}
	if !results[0].Retryable() || results[1].Code != "MalformedDetail" || results[1].Retryable() {
		t.Fatalf("results %+v", results)
	}
	big := testEvents(1, "x")
	big[0].Detail = `{"x":"` + strings.Repeat("a", 300*1024) + `"}`
	results, err = c.PutEvents(testContext(t), "", big)
	if err != nil || results[0].Code != "EntryTooLarge" {
		t.Fatalf("an oversized event: %+v, %v", results, err)
	}
	if n := sim.Recorder().CallCount()["PutEvents"]; n != 1 {
		t.Fatalf("%d PutEvents calls, want 1 (an oversized event is not sent)", n)
	}
}

func TestPutEvents_aMissingBusIsNotFoundAndADenialNamesTheBus(t *testing.T) {
	sim, c, _ := newSim(t, nil)
	_, err := c.PutEvents(testContext(t), "nope", testEvents(1, "x"))
	if !errors.Is(err, rollout.ErrNotFound) || !strings.Contains(err.Error(), "events PutEvents: ResourceNotFoundException: Event bus nope does not exist") {
		t.Fatalf("missing bus: %v", err)
	}
	sim.AddEventBus("deploys")
	if err := sim.SetPolicy([]byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"events:PutEvents","Resource":"` +
		sim.EventBusARN("other") + `"}]}`)); err != nil {
		t.Fatal(err)
	}
	_, err = c.PutEvents(testContext(t), "deploys", testEvents(1, "x"))
	if !errors.Is(err, ErrAccessDenied) || !strings.Contains(err.Error(), "events:PutEvents on resource: "+sim.EventBusARN("deploys")) {
		t.Fatalf("denied: %v", err)
	}
}

func TestPutEvents_throttlingIsRetriedBrieflyThenReported(t *testing.T) {
	sim, c, _ := newSim(t, nil)
	sim.Faults().ServerErrors("PutEvents", 1)
	_, err := c.PutEvents(testContext(t), "", testEvents(1, "x"))
	if err == nil || !strings.Contains(err.Error(), "InternalException") {
		t.Fatalf("err %v", err)
	}
	if n := sim.Recorder().CallCount()["PutEvents"]; n != eventsAttempts {
		t.Fatalf("%d attempts, want %d: publishing never waits out the client's 26", n, eventsAttempts)
	}
}

// moto accepts the requests as the SDK sends them, and answers an unknown
// bus as the simulator does.
func TestMoto_putEvents(t *testing.T) {
	c := motoClient(t)
	results, err := c.PutEvents(testContext(t), "", testEvents(12, "Rolling Deployment Batch Finished"))
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range results {
		if r.ID == "" {
			t.Fatalf("result %d: %+v", i, r)
		}
	}
	_, err = c.PutEvents(testContext(t), "no-such-bus-"+fmt.Sprint(time.Now().UnixNano()), testEvents(1, "x"))
	if !errors.Is(err, rollout.ErrNotFound) {
		t.Fatalf("unknown bus on moto: %v", err)
	}
}
