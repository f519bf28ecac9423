package awsclient

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
)

// Event is one EventBridge event to publish.
type Event struct {
	Source     string
	DetailType string
	Detail     string // a JSON object
	Resources  []string
	Time       time.Time // zero = when EventBridge receives it
}

// EventResult is EventBridge's answer for one event: its id, or why that
// entry failed (PutEventsResultEntry) while the call itself succeeded.
type EventResult struct {
	ID      string
	Code    string
	Message string
}

// Retryable reports whether AWS documents the entry's error as retryable
// (InternalFailure, ThrottlingException); the others (access denied,
// malformed detail, ...) fail again the same way.
func (r EventResult) Retryable() bool {
	return r.Code == "InternalFailure" || r.Code == "ThrottlingException"
}

// PutEvents limits (PutEvents API reference): ten entries and 256 KB of
// entries per call.
const (
	maxEventsPerCall = 10
	maxEventsBytes   = 256 * 1024
)

// eventsAttempts bounds the SDK's attempts of one PutEvents call, against
// the client's default of 26: publishing reports a rollout's progress and
// must never hold it back, so its caller retries what is left a few times
// and then gives up with a warning.
const eventsAttempts = 3

// eventSize is an entry's size as EventBridge counts it ("Calculating
// PutEvents event entry size", EventBridge User Guide): 14 bytes for a
// time, plus the UTF-8 bytes of Source, DetailType, Detail and each
// resource.
func eventSize(e Event) int {
	n := len(e.Source) + len(e.DetailType) + len(e.Detail)
	if !e.Time.IsZero() {
		n += 14
	}
	for _, r := range e.Resources {
		n += len(r)
	}
	return n
}

// PutEvents publishes events to bus (a name or an ARN; "" = the account's
// default bus) in as few calls as the limits allow, and returns one result
// per event, in order. An error means a whole call failed (access denied,
// a bus that does not exist, throttling past the few attempts made): the
// events of that call and of the calls after it are not sent. Events over
// the size limit on their own are answered without a call, as AWS would
// refuse them.
func (c *Client) PutEvents(ctx context.Context, bus string, events []Event) ([]EventResult, error) {
	results := make([]EventResult, len(events))
	for i := 0; i < len(events); {
		var batch []int // indices into events
		size := 0
		for i < len(events) && len(batch) < maxEventsPerCall {
			s := eventSize(events[i])
			if s > maxEventsBytes {
				results[i] = EventResult{Code: "EntryTooLarge", Message: "the event is larger than the 256 KB EventBridge accepts"}
				i++
				continue
			}
			if size+s > maxEventsBytes {
				break
			}
			size += s
			batch = append(batch, i)
			i++
		}
		if len(batch) == 0 {
			continue
		}
		entries := make([]ebtypes.PutEventsRequestEntry, len(batch))
		for k, j := range batch {
			e := events[j]
			entries[k] = ebtypes.PutEventsRequestEntry{
				Source: aws.String(e.Source), DetailType: aws.String(e.DetailType), Detail: aws.String(e.Detail),
				Resources: e.Resources,
			}
			if bus != "" {
				entries[k].EventBusName = aws.String(bus)
			}
			if !e.Time.IsZero() {
				entries[k].Time = aws.Time(e.Time)
			}
		}
		out, err := c.events.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: entries}, func(o *eventbridge.Options) {
			o.RetryMaxAttempts = eventsAttempts
		})
		if err != nil {
			return results, translate("events", "PutEvents", err)
		}
		for k, j := range batch {
			// An entry without an answer (never seen) counts as a failure
			// worth retrying.
			r := EventResult{Code: "InternalFailure", Message: "EventBridge returned no result for this entry"}
			if k < len(out.Entries) && (out.Entries[k].EventId != nil || out.Entries[k].ErrorCode != nil) {
				e := out.Entries[k]
				r = EventResult{ID: aws.ToString(e.EventId), Code: aws.ToString(e.ErrorCode), Message: aws.ToString(e.ErrorMessage)}
			}
			results[j] = r
		}
	}
	return results, nil
}
