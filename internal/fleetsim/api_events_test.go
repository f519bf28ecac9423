package fleetsim

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/smithy-go"
)

func eventEntry(bus, detailType, detail string) ebtypes.PutEventsRequestEntry {
	return ebtypes.PutEventsRequestEntry{
		EventBusName: aws.String(bus), Source: aws.String("terraform-provider-rolling"),
		DetailType: aws.String(detailType), Detail: aws.String(detail),
		Resources: []string{"arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef"},
	}
}

func TestEvents_putEventsWithTheSDKRecordsEachEventInOrder(t *testing.T) {
	t.Parallel()
	s, cfg, url := newFrozenSim(t, Options{})
	arn := s.AddEventBus("deploys")
	client := eventbridge.NewFromConfig(cfg)
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	first := eventEntry("deploys", "Rolling Deployment Started", `{"type": "rollout_started", "sequence": 1}`)
	first.Time = aws.Time(at)
	out, err := client.PutEvents(ctx(t), &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{
		first,
		eventEntry(arn, "Rolling Deployment Batch Started", `{"type":"batch_started","sequence":2}`),
		eventEntry("", "Rolling Deployment Batch Finished", `{"type":"batch_finished","sequence":3}`),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if out.FailedEntryCount != 0 || len(out.Entries) != 3 || aws.ToString(out.Entries[0].EventId) == "" {
		t.Fatalf("PutEvents answered %+v", out)
	}
	got := s.PublishedEvents("deploys")
	if len(got) != 2 || got[0].DetailType != "Rolling Deployment Started" || got[1].DetailType != "Rolling Deployment Batch Started" {
		t.Fatalf("events on deploys: %+v", got)
	}
	if string(got[0].Detail) != `{"type":"rollout_started","sequence":1}` || !got[0].Time.Equal(at) || got[0].AccessKeyID != testAccessKey {
		t.Errorf("first event recorded as %+v", got[0])
	}
	if got[0].ID != aws.ToString(out.Entries[0].EventId) {
		t.Errorf("recorded id %s, answered %s", got[0].ID, aws.ToString(out.Entries[0].EventId))
	}
	if def := s.PublishedEvents(defaultEventBus); len(def) != 1 || def[0].DetailType != "Rolling Deployment Batch Finished" {
		t.Errorf("an entry without EventBusName goes to the default bus: %+v", def)
	}

	// The admin route returns the same, filtered by bus.
	resp, err := http.Get(url + "/_sim/events?bus=deploys")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var listed []PublishedEvent
	if err := json.NewDecoder(resp.Body).Decode(&listed); err != nil || len(listed) != 2 || listed[1].ID != got[1].ID {
		t.Fatalf("GET /_sim/events?bus=deploys: %v %+v", err, listed)
	}
}

func TestEvents_badEntriesFailAloneAndAnUnknownBusFailsTheCall(t *testing.T) {
	t.Parallel()
	s, cfg, _ := newFrozenSim(t, Options{})
	s.AddEventBus("deploys")
	client := eventbridge.NewFromConfig(cfg)
	noSource := eventEntry("deploys", "x", `{}`)
	noSource.Source = nil
	out, err := client.PutEvents(ctx(t), &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{
		eventEntry("deploys", "ok", `{"a":1}`),
		eventEntry("deploys", "not an object", `[1, 2]`),
		noSource,
	}})
	if err != nil {
		t.Fatal(err)
	}
	if out.FailedEntryCount != 2 || aws.ToString(out.Entries[1].ErrorCode) != "MalformedDetail" || aws.ToString(out.Entries[2].ErrorCode) != "InvalidArgument" {
		t.Fatalf("PutEvents answered %+v", out.Entries)
	}
	if n := len(s.PublishedEvents("")); n != 1 {
		t.Fatalf("%d events kept, want the one good entry", n)
	}

	_, err = client.PutEvents(ctx(t), &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{eventEntry("nope", "x", `{}`)}})
	var rnf *ebtypes.ResourceNotFoundException
	if !errors.As(err, &rnf) || !strings.Contains(err.Error(), "Event bus nope does not exist") {
		t.Fatalf("PutEvents to an unknown bus: %v", err)
	}
	many := make([]ebtypes.PutEventsRequestEntry, 11)
	for i := range many {
		many[i] = eventEntry("deploys", "x", `{}`)
	}
	_, err = client.PutEvents(ctx(t), &eventbridge.PutEventsInput{Entries: many})
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "ValidationException" {
		t.Fatalf("11 entries: %v", err)
	}
}

func TestEvents_injectedEntryFailuresAreReportedPerEntry(t *testing.T) {
	t.Parallel()
	s, cfg, _ := newFrozenSim(t, Options{})
	s.Faults().FailEventEntries(1, "ThrottlingException")
	client := eventbridge.NewFromConfig(cfg)
	out, err := client.PutEvents(ctx(t), &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{
		eventEntry("default", "a", `{}`), eventEntry("default", "b", `{}`),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if out.FailedEntryCount != 1 || aws.ToString(out.Entries[0].ErrorCode) != "ThrottlingException" || out.Entries[1].EventId == nil {
		t.Fatalf("PutEvents answered %+v", out.Entries)
	}
}

func TestEvents_iamScopesPutEventsToTheBus(t *testing.T) {
	t.Parallel()
	s, cfg, _ := newFrozenSim(t, Options{})
	s.AddEventBus("deploys")
	s.AddEventBus("other")
	policy := `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "events:PutEvents",
		"Resource": "` + s.EventBusARN("deploys") + `",
		"Condition": {"StringEquals": {"events:source": "terraform-provider-rolling"}}}]}`
	if err := s.SetPolicy([]byte(policy)); err != nil {
		t.Fatal(err)
	}
	client := eventbridge.NewFromConfig(cfg)
	if _, err := client.PutEvents(ctx(t), &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{eventEntry("deploys", "a", `{}`)}}); err != nil {
		t.Fatalf("allowed bus: %v", err)
	}
	_, err := client.PutEvents(ctx(t), &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{eventEntry("other", "a", `{}`)}})
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "AccessDeniedException" || !strings.Contains(api.ErrorMessage(), "events:PutEvents on resource: "+s.EventBusARN("other")) {
		t.Fatalf("other bus: %v", err)
	}
	other := eventEntry("deploys", "a", `{}`)
	other.Source = aws.String("someone-else")
	if _, err := client.PutEvents(ctx(t), &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{other}}); !errors.As(err, &api) || api.ErrorCode() != "AccessDeniedException" {
		t.Fatalf("another source: %v", err)
	}
}

func TestEvents_throttlingAndServerErrorsUseEventBridgeCodes(t *testing.T) {
	t.Parallel()
	s, cfg, _ := newFrozenSim(t, Options{})
	cfg.Retryer = func() aws.Retryer { return aws.NopRetryer{} }
	client := eventbridge.NewFromConfig(cfg)
	s.Faults().ServerErrors("PutEvents", 1)
	_, err := client.PutEvents(ctx(t), &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{eventEntry("default", "a", `{}`)}})
	var internal *ebtypes.InternalException
	if !errors.As(err, &internal) {
		t.Fatalf("server error: %v", err)
	}
}

func TestAWSCLI_eventsCreateEventBusAndPutEvents(t *testing.T) {
	t.Parallel()
	s, _, url := newFrozenSim(t, Options{})
	var bus struct{ EventBusArn string }
	awsCLI(t, url, &bus, "events", "create-event-bus", "--name", "deploys")
	if bus.EventBusArn != s.EventBusARN("deploys") {
		t.Fatalf("create-event-bus: %+v", bus)
	}
	var out struct {
		FailedEntryCount int
		Entries          []struct{ EventId string }
	}
	awsCLI(t, url, &out, "events", "put-events", "--entries",
		`[{"EventBusName":"deploys","Source":"terraform-provider-rolling","DetailType":"Rolling Deployment Succeeded","Detail":"{\"type\":\"rollout_succeeded\"}"}]`)
	if out.FailedEntryCount != 0 || len(out.Entries) != 1 || out.Entries[0].EventId == "" {
		t.Fatalf("put-events: %+v", out)
	}
	got := s.PublishedEvents("deploys")
	if len(got) != 1 || string(got[0].Detail) != `{"type":"rollout_succeeded"}` {
		t.Fatalf("recorded %+v", got)
	}
	if msg := awsCLIFails(t, url, "events", "create-event-bus", "--name", "deploys"); !strings.Contains(msg, "ResourceAlreadyExistsException") {
		t.Fatalf("second create-event-bus: %s", msg)
	}
}
