package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/awsclient"
	"github.com/rollingdeploy/terraform-provider-rolling/internal/rollout"
)

// A rollout's progress goes where operators look: the Terraform log (one
// line per batch, deployment_report.go), an EventBridge bus (the events
// block: the events are made here and sent by
// deployment_events_publish.go) and, on request, a live page
// (progress_page.go). rolloutFeed is the engine's one Observer and feeds
// all three; none of them may hold the rollout back.

// eventSource is every event's source, the value IAM's events:source
// condition and EventBridge rules match.
const eventSource = "terraform-provider-rolling"

// eventSchemaVersion is the detail's schema_version: it changes only when a
// field is removed or changes meaning (examples/events/README.md); fields
// are added without changing it.
const eventSchemaVersion = 1

// The event types (detail.type) and their detail-type, in the words
// CodeDeploy and Auto Scaling use for theirs.
var eventDetailTypes = map[string]string{
	"rollout_started":     "Rolling Deployment Started",
	"batch_started":       "Rolling Deployment Batch Started",
	"batch_finished":      "Rolling Deployment Batch Finished",
	"instance_failed":     "Rolling Deployment Instance Failed",
	"rollback_started":    "Rolling Deployment Rollback Started",
	"rollout_succeeded":   "Rolling Deployment Succeeded",
	"rollout_failed":      "Rolling Deployment Failed",
	"rollout_rolled_back": "Rolling Deployment Rolled Back",
	"rollout_cancelled":   "Rolling Deployment Cancelled",
}

type eventsModel struct {
	EventBusName types.String `tfsdk:"event_bus_name"`
}

// eventBus is the bus the events block names ("" = the default bus) and
// whether events are published at all.
func (m deploymentModel) eventBus(ctx context.Context) (string, bool) {
	if m.EventsBlock.IsNull() || m.EventsBlock.IsUnknown() {
		return "", false
	}
	var e eventsModel
	_ = m.EventsBlock.As(ctx, &e, basetypes.ObjectAsOptions{UnhandledNullAsEmpty: true, UnhandledUnknownAsEmpty: true})
	return e.EventBusName.ValueString(), true
}

// rolloutEvent is an event's detail: the documented shape
// (examples/events/rollout-event.schema.json). Blocks that do not apply to
// a type are left out, never sent empty.
type rolloutEvent struct {
	SchemaVersion int             `json:"schema_version"`
	Type          string          `json:"type"`
	Sequence      int             `json:"sequence"`
	Time          string          `json:"time"`
	Rollout       eventRollout    `json:"rollout"`
	Deployment    eventDeployment `json:"deployment"`
	Batch         *eventBatch     `json:"batch,omitempty"`
	Instance      *eventInstance  `json:"instance,omitempty"`
	Instances     []string        `json:"instance_ids,omitempty"` // rollback_started
	Capacity      *eventCapacity  `json:"capacity,omitempty"`
	Counts        *eventCounts    `json:"counts,omitempty"`
	Status        string          `json:"status,omitempty"`
	Failed        []eventInstance `json:"failed_instances,omitempty"`
	OutOfService  []string        `json:"out_of_service_instance_ids,omitempty"`
	Message       string          `json:"message,omitempty"`
}

type eventRollout struct {
	ID              string  `json:"id"`
	Number          int64   `json:"number"`
	Version         string  `json:"version"`
	PreviousVersion string  `json:"previous_version,omitempty"`
	StartedAt       string  `json:"started_at"`
	ElapsedSeconds  float64 `json:"elapsed_seconds"`
}

type eventDeployment struct {
	ID              string   `json:"id"`
	TargetGroupARNs []string `json:"target_group_arns"`
}

type eventBatch struct {
	Number          int      `json:"number"`
	Of              int      `json:"of"`
	InstanceIDs     []string `json:"instance_ids"`
	DurationSeconds *float64 `json:"duration_seconds,omitempty"`
}

type eventInstance struct {
	ID     string `json:"id"`
	Batch  int    `json:"batch,omitempty"`
	Phase  string `json:"phase,omitempty"`
	Reason string `json:"reason,omitempty"`
}

type eventCapacity struct {
	InService int `json:"in_service"`
	Floor     int `json:"floor"`
	Fleet     int `json:"fleet"`
}

type eventCounts struct {
	ToUpdate   int `json:"to_update"`
	Updated    int `json:"updated"`
	Failed     int `json:"failed"`
	RolledBack int `json:"rolled_back"`
	Pending    int `json:"pending"`
}

// rolloutInfo is what every event says of the rollout and the resource.
type rolloutInfo struct {
	id, version, previous string
	number                int64
	deploymentID          string
	targetGroups          []string
	toUpdate              int      // instances the passes so far set out to update
	secrets               []string // masked out of every event, again
}

// rolloutFeed follows one apply's rollout across its passes (instances that
// joined meanwhile are rolled in further passes, whose batches go on
// numbering) and hands each event to the log, the publisher and the page.
type rolloutFeed struct {
	info rolloutInfo
	log  *logObserver
	pub  *eventPublisher // nil without an events block
	page *progressPage   // nil without ROLLING_PROGRESS_ADDR
	// warnings are reported with the apply's diagnostics (finish),
	// summary then detail: distinct summaries, since Terraform folds
	// warnings that share one.
	warnings [][2]string

	mu         sync.Mutex
	started    time.Time
	passes     int
	offset     int // batches of the earlier passes
	lastBatch  int
	batchStart map[int]time.Time
	sequence   int
}

func newRolloutFeed(info rolloutInfo, log *logObserver) *rolloutFeed {
	return &rolloutFeed{info: info, log: log, batchStart: map[int]time.Time{}}
}

// Event implements rollout.Observer. It never blocks on AWS: the publisher
// queues, the page only updates memory.
func (f *rolloutFeed) Event(e rollout.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	again := false
	if e.Kind == rollout.EventRolloutStarted {
		f.passes++
		if f.passes == 1 {
			f.started = e.Time
		} else {
			again, f.offset = true, f.lastBatch
		}
	}
	if e.Batch > 0 {
		e.Batch += f.offset
		f.lastBatch = max(f.lastBatch, e.Batch)
	}
	if e.Progress != nil {
		p := *e.Progress
		p.Batches += f.offset
		e.Progress = &p
		if e.Kind == rollout.EventRolloutStarted {
			// Each pass starts with its instances pending.
			f.info.toUpdate += p.Pending
		}
	}
	var took time.Duration
	switch e.Kind {
	case rollout.EventBatchStarted:
		f.batchStart[e.Batch] = e.Time
	case rollout.EventBatchFinished:
		if at, ok := f.batchStart[e.Batch]; ok {
			took = e.Time.Sub(at)
		}
	}
	elapsed := time.Duration(0)
	if !f.started.IsZero() {
		elapsed = e.Time.Sub(f.started)
	}
	f.log.report(e, elapsed, took)
	if f.page != nil {
		f.page.event(e)
	}
	if f.pub == nil || again || e.Kind == rollout.EventRolloutFinished {
		// One start and one end per apply: the end is the apply's result
		// (finish), not a pass's.
		return
	}
	if ev, ok := f.detail(e, elapsed, took); ok {
		f.publishLocked(ev, e.Time)
	}
}

func seconds(d time.Duration) float64 { return float64(d.Milliseconds()) / 1000 }

func eventTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func (f *rolloutFeed) base(typ string, at time.Time, elapsed time.Duration) rolloutEvent {
	return rolloutEvent{
		SchemaVersion: eventSchemaVersion, Type: typ, Time: eventTime(at),
		Rollout: eventRollout{ID: f.info.id, Number: f.info.number, Version: f.info.version, PreviousVersion: f.info.previous,
			StartedAt: eventTime(f.started), ElapsedSeconds: seconds(elapsed)},
		Deployment: eventDeployment{ID: f.info.deploymentID, TargetGroupARNs: f.info.targetGroups},
	}
}

// detail maps an engine event to the published one; per-instance progress
// and polls stay in the log.
func (f *rolloutFeed) detail(e rollout.Event, elapsed, took time.Duration) (rolloutEvent, bool) {
	var ev rolloutEvent
	switch e.Kind {
	case rollout.EventRolloutStarted:
		ev = f.base("rollout_started", e.Time, elapsed)
	case rollout.EventBatchStarted:
		ev = f.base("batch_started", e.Time, elapsed)
		ev.Batch = &eventBatch{Number: e.Batch, InstanceIDs: e.Instances}
	case rollout.EventBatchFinished:
		ev = f.base("batch_finished", e.Time, elapsed)
		d := seconds(took)
		ev.Batch = &eventBatch{Number: e.Batch, InstanceIDs: e.Instances, DurationSeconds: &d}
	case rollout.EventInstanceFailed:
		ev = f.base("instance_failed", e.Time, elapsed)
		ev.Instance = &eventInstance{ID: e.InstanceID, Batch: e.Batch, Phase: e.Phase, Reason: e.Message}
	case rollout.EventRollbackStarted:
		ev = f.base("rollback_started", e.Time, elapsed)
		ev.Instances, ev.Message = e.Instances, e.Message
	default:
		return ev, false
	}
	if p := e.Progress; p != nil {
		ev.Capacity = &eventCapacity{InService: p.InService, Floor: p.Floor, Fleet: p.Fleet}
		ev.Counts = &eventCounts{ToUpdate: f.info.toUpdate, Updated: p.Updated, Failed: p.Failed, RolledBack: p.RolledBack, Pending: p.Pending}
		if ev.Batch != nil {
			ev.Batch.Of = max(p.Batches, ev.Batch.Number)
		}
	}
	if ev.Batch != nil && ev.Batch.InstanceIDs == nil {
		ev.Batch.InstanceIDs = []string{}
	}
	return ev, true
}

func (f *rolloutFeed) publishLocked(ev rolloutEvent, at time.Time) {
	f.sequence++
	ev.Sequence = f.sequence
	body, err := json.Marshal(ev)
	if err != nil {
		return // the types above always marshal
	}
	detail := string(body)
	for _, s := range f.info.secrets {
		// The engine masks its messages; this holds for whatever else an
		// event quotes (an SSM error's stderr).
		detail = strings.ReplaceAll(detail, s, maskedValue)
	}
	f.pub.publish(awsclient.Event{
		Source: eventSource, DetailType: eventDetailTypes[ev.Type], Detail: detail,
		Resources: f.info.targetGroups, Time: at,
	})
}

// maskedValue replaces a sensitive value wherever it would appear.
const maskedValue = "(sensitive value)"

// finish publishes the apply's outcome, waits briefly for the events still
// queued, closes the page and reports as warnings what could not be done:
// the rollout's own result is never changed by any of it.
func (f *rolloutFeed) finish(res rollout.Result, runErr error, clk rollout.Clock, diags *diag.Diagnostics) {
	f.mu.Lock()
	if f.pub != nil && f.passes > 0 {
		ev, at := f.outcome(res, runErr)
		f.publishLocked(ev, at)
	}
	f.mu.Unlock()
	if f.pub != nil {
		if w := f.pub.close(clk, publishFlushWait); w != "" {
			f.warnings = append(f.warnings, [2]string{"Rollout events not all published", w})
		}
	}
	if f.page != nil {
		f.page.close()
	}
	for _, w := range f.warnings {
		diags.AddWarning(w[0], w[1])
	}
}

// outcome is the apply's last event, from its result.
func (f *rolloutFeed) outcome(res rollout.Result, runErr error) (rolloutEvent, time.Time) {
	typ := map[rollout.Status]string{
		rollout.StatusSucceeded: "rollout_succeeded", rollout.StatusNoop: "rollout_succeeded",
		rollout.StatusFailed: "rollout_failed", rollout.StatusRolledBack: "rollout_rolled_back", rollout.StatusCancelled: "rollout_cancelled",
	}[res.Status]
	if typ == "" {
		typ = "rollout_failed"
	}
	end := res.FinishedAt
	if end.IsZero() {
		end = f.started
	}
	ev := f.base(typ, end, end.Sub(f.started))
	ev.Status = string(res.Status)
	if res.Status == rollout.StatusNoop {
		ev.Status = string(rollout.StatusSucceeded)
	}
	pending := res.Count(rollout.InstancePending)
	ev.Counts = &eventCounts{ToUpdate: f.info.toUpdate, Updated: res.Count(rollout.InstanceUpdated), Failed: failedCount(res),
		RolledBack: res.Count(rollout.InstanceRolledBack), Pending: pending}
	for _, o := range res.Instances {
		if o.OutOfService {
			ev.OutOfService = append(ev.OutOfService, o.ID)
		}
		if o.Err != nil || o.Status == rollout.InstanceFailed {
			reason := ""
			if o.Err != nil {
				reason, _, _ = strings.Cut(o.Err.Error(), "\n")
			}
			ev.Failed = append(ev.Failed, eventInstance{ID: o.ID, Batch: o.Batch, Phase: o.Phase, Reason: reason})
		}
	}
	sort.Strings(ev.OutOfService)
	// The error's first line has the stop reason and the counts in words
	// ("rollout cancelled: 0 updated, 0 rolled back, 6 not reached").
	ev.Message = res.StopReason
	if runErr != nil {
		ev.Message, _, _ = strings.Cut(runErr.Error(), "\n")
	}
	if ev.Message == "" {
		ev.Message = fmt.Sprintf("%d of %d instances updated in %s", ev.Counts.Updated, f.info.toUpdate, formatDuration(end.Sub(f.started)))
	}
	return ev, end
}

// rolloutFeed builds the rollout's observer for apply: the log always, the
// publisher when the events block is set, the page when
// ROLLING_PROGRESS_ADDR asks for it.
func (r *deploymentResource) rolloutFeed(ctx context.Context, plan *deploymentModel, spec rollout.Spec, number int64, fleet rollout.Fleet) *rolloutFeed {
	info := rolloutInfo{id: spec.RolloutID, version: spec.Release.Version, number: number,
		deploymentID: plan.ID.ValueString(), secrets: spec.Sensitive}
	if spec.Previous != nil {
		info.previous = spec.Previous.Version
	}
	for _, tg := range fleet.TargetGroups {
		info.targetGroups = append(info.targetGroups, tg.ARN)
	}
	sort.Strings(info.targetGroups)
	f := newRolloutFeed(info, &logObserver{ctx: ctx})
	if bus, on := plan.eventBus(ctx); on {
		f.pub = newEventPublisher(ctx, bus, r.client().PutEvents, r.data.clock)
	}
	title := fmt.Sprintf("Rollout %d of %s", number, spec.Release.Version)
	if info.previous != "" {
		title = fmt.Sprintf("Rollout %d: %s → %s", number, info.previous, spec.Release.Version)
	}
	page, err := startProgressPage(fleet, title, spec.Strategy.MinHealthyPercent, r.data.clock)
	switch {
	case err != nil:
		tflog.Warn(ctx, err.Error())
		f.warnings = append(f.warnings, [2]string{"No live progress page", err.Error()})
	case page != nil:
		tflog.Info(ctx, "live progress page at http://"+page.addr+"/")
		f.page = page
	}
	return f
}

// wrap lets the page see the answers of the rollout's own calls.
func (f *rolloutFeed) wrap(p rollout.Ports) rollout.Ports {
	if f.page == nil {
		return p
	}
	return f.page.wrap(p)
}
