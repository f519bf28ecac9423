package provider

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/rollout"
)

// failedCount counts instances that failed, including those rolled back
// afterwards.
func failedCount(res rollout.Result) int {
	n := 0
	for _, o := range res.Instances {
		if o.Err != nil || o.Status == rollout.InstanceFailed {
			n++
		}
	}
	return n
}

func lastRolloutValue(number int64, res rollout.Result, runErr error, diags *diag.Diagnostics) types.Object {
	ts := func(t time.Time) types.String {
		if t.IsZero() {
			return types.StringValue("")
		}
		return types.StringValue(t.UTC().Format(time.RFC3339))
	}
	message := res.StopReason
	if message == "" && runErr != nil {
		message, _, _ = strings.Cut(runErr.Error(), "\n")
	}
	obj, d := types.ObjectValue(lastRolloutAttrTypes, map[string]attr.Value{
		"number":      types.Int64Value(number),
		"id":          types.StringValue(res.RolloutID),
		"status":      types.StringValue(string(res.Status)),
		"started_at":  ts(res.StartedAt),
		"finished_at": ts(res.FinishedAt),
		"batches":     types.Int64Value(int64(len(res.Batches))),
		"updated":     types.Int64Value(int64(res.Count(rollout.InstanceUpdated))),
		"failed":      types.Int64Value(int64(failedCount(res))),
		"rolled_back": types.Int64Value(int64(res.Count(rollout.InstanceRolledBack))),
		"message":     types.StringValue(message),
	})
	diags.Append(d...)
	return obj
}

// rolloutErrorSummary is the error's first line: how the fleet ended, in
// words that are true of every instance ("rolled back" only when every
// instance the rollout touched is back on the previous version).
func rolloutErrorSummary(res rollout.Result, version string) string {
	var onNew, outOfService []string
	touched, rolledBack := 0, 0
	for _, o := range res.Instances {
		switch o.Status {
		case rollout.InstanceUpToDate, rollout.InstancePending, rollout.InstanceGone:
			continue
		case rollout.InstanceRolledBack:
			rolledBack++
		}
		touched++
		if o.OutOfService {
			outOfService = append(outOfService, o.ID)
		} else if o.Status != rollout.InstanceRolledBack && o.Version == version && o.Status != rollout.InstanceRecovered {
			onNew = append(onNew, o.ID)
		}
	}
	head := fmt.Sprintf("Rollout %s failed", res.RolloutID)
	if res.Status == rollout.StatusCancelled {
		head = fmt.Sprintf("Rollout %s was cancelled", res.RolloutID)
	}
	var parts []string
	if rolledBack > 0 || res.Status == rollout.StatusRolledBack {
		parts = append(parts, fmt.Sprintf("rolled back %d of %d", rolledBack, touched))
	}
	if len(onNew) > 0 {
		parts = append(parts, fmt.Sprintf("%s on %s: %s", countOf(len(onNew), "instance"), version, strings.Join(onNew, ", ")))
	}
	if len(outOfService) > 0 {
		parts = append(parts, fmt.Sprintf("%s out of service: %s", countOf(len(outOfService), "instance"), strings.Join(outOfService, ", ")))
	}
	if len(parts) == 0 {
		return head + ": no instance changed"
	}
	return head + "; " + strings.Join(parts, "; ")
}

func countOf(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	if strings.HasSuffix(noun, "ch") || strings.HasSuffix(noun, "s") {
		return fmt.Sprintf("%d %ses", n, noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// rolloutErrorDetail says what failed, what was done about it (the
// engine's error lists both, instance by instance) and what happens next.
// noPrevious: rollback was asked for but there is no release to go back to
// (a create), which the counts alone ("0 rolled back") do not explain.
func rolloutErrorDetail(res rollout.Result, err error, noPrevious bool) string {
	next := "The state records which instance runs which version: the next plan shows what is left and the next apply resumes."
	if noPrevious && res.Status == rollout.StatusFailed && res.Count(rollout.InstanceUpdated)+res.Count(rollout.InstanceFailed) > 0 {
		next = "Nothing was rolled back: rollback runs the steps of the last release whose rollout completed, " +
			"which a create (the resource's first rollout, or a replacement) does not know. " + next
	}
	for _, o := range res.Instances {
		if o.OutOfService {
			next += " Instances left out of service are recovered first."
			break
		}
	}
	return err.Error() + "\n\n" + next
}

// logObserver turns engine events into tflog entries that read at
// TF_LOG=info: one line when the rollout starts and ends, one when each
// batch starts and ends (batch k of n, its instances, in service against
// the floor, elapsed time) and one per failure, each with the rollout id
// as a field. Instance phases are Debug, polls Trace. Messages arrive
// masked by the engine and the context masks again. rolloutFeed calls
// report with the times it follows; used alone, Event reports none.
type logObserver struct{ ctx context.Context }

func (o *logObserver) Event(e rollout.Event) { o.report(e, 0, 0) }

// report logs e; elapsed is the time since the rollout started, took the
// batch's duration (batch_finished).
func (o *logObserver) report(e rollout.Event, elapsed, took time.Duration) {
	fields := map[string]any{"rollout_id": e.RolloutID}
	if e.Batch > 0 {
		fields["batch"] = e.Batch
	}
	if e.InstanceID != "" {
		fields["instance_id"] = e.InstanceID
	}
	if e.Phase != "" {
		fields["phase"] = e.Phase
	}
	switch e.Kind {
	case rollout.EventPoll:
		tflog.Trace(o.ctx, string(e.Kind)+": "+e.Message, fields)
	case rollout.EventInstancePhase, rollout.EventInstanceDone:
		tflog.Debug(o.ctx, string(e.Kind)+": "+e.Message, fields)
	case rollout.EventInstanceFailed, rollout.EventStopped:
		tflog.Warn(o.ctx, logLine(e, elapsed, took), fields)
	default:
		tflog.Info(o.ctx, logLine(e, elapsed, took), fields)
	}
}

// logLine is one line a person reads in a terminal, e.g.
//
//	batch 3 of 13 started: i-0a1, i-0b2; 10 of 12 in service (floor 9); 12m4s elapsed
//	batch 3 of 13 finished in 3m10s: i-0a1, i-0b2; 12 of 12 in service (floor 9); 6 of 12 updated; 15m14s elapsed
func logLine(e rollout.Event, elapsed, took time.Duration) string {
	p := e.Progress
	var b strings.Builder
	switch e.Kind {
	case rollout.EventRolloutStarted:
		b.WriteString("rollout started: " + e.Message)
		if p != nil {
			if p.Batches == 1 {
				b.WriteString(" in 1 batch")
			} else {
				fmt.Fprintf(&b, " in %d batches", p.Batches)
			}
		}
	case rollout.EventBatchStarted:
		fmt.Fprintf(&b, "batch %s started: %s", batchOf(e), idList(e.Instances))
	case rollout.EventBatchFinished:
		fmt.Fprintf(&b, "batch %s finished", batchOf(e))
		if took > 0 {
			b.WriteString(" in " + formatDuration(took))
		}
		b.WriteString(": " + idList(e.Instances))
	case rollout.EventInstanceFailed:
		fmt.Fprintf(&b, "instance %s failed", e.InstanceID)
		if e.Batch > 0 {
			fmt.Fprintf(&b, " in batch %d", e.Batch)
		}
		if e.Phase != "" {
			b.WriteString(" (" + e.Phase + ")")
		}
		first, _, _ := strings.Cut(e.Message, "\n")
		b.WriteString(": " + first)
	case rollout.EventRollbackStarted:
		b.WriteString("rollback started: " + e.Message)
	case rollout.EventStopped:
		b.WriteString("rollout stopping: " + strings.TrimPrefix(e.Message, "stopping: "))
	case rollout.EventRolloutFinished:
		b.WriteString("rollout finished: " + e.Message)
	default:
		b.WriteString(string(e.Kind) + ": " + e.Message)
	}
	if p != nil && e.Kind != rollout.EventRolloutFinished {
		fmt.Fprintf(&b, "; %d of %d in service (floor %d)", p.InService, p.Fleet, p.Floor)
	}
	if p != nil && e.Kind == rollout.EventBatchFinished {
		fmt.Fprintf(&b, "; %d of %d updated", p.Updated, p.Updated+p.Pending+p.Failed+p.RolledBack)
	}
	if elapsed > 0 {
		b.WriteString("; " + formatDuration(elapsed) + " elapsed")
	}
	return b.String()
}

func batchOf(e rollout.Event) string {
	if e.Progress == nil || e.Progress.Batches < e.Batch {
		return fmt.Sprint(e.Batch)
	}
	return fmt.Sprintf("%d of %d", e.Batch, e.Progress.Batches)
}

// idList names at most eight instances, so that a 100-instance batch stays
// one readable line; the events and the debug log have every id.
func idList(ids []string) string {
	const shown = 8
	if len(ids) <= shown {
		return strings.Join(ids, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(ids[:shown], ", "), len(ids)-shown)
}

// unreadyValue maps each instance that cannot be deployed now to why.
func unreadyValue(f rollout.Fleet) types.Map {
	elems := map[string]attr.Value{}
	for _, inst := range f.Instances {
		switch {
		case inst.State == "stopped" || inst.State == "stopping":
			elems[inst.ID] = types.StringValue(inst.State)
		case inst.Unready != "" && !outsideFleet(inst):
			elems[inst.ID] = types.StringValue(inst.Unready)
		}
	}
	return types.MapValueMust(types.StringType, elems)
}

// versionsValue counts the instances per rolling:version tag.
func versionsValue(f rollout.Fleet) types.Map {
	counts := map[string]int64{}
	for _, inst := range liveFleet(f) {
		counts[inst.Tags[rollout.TagVersion]]++
	}
	elems := make(map[string]attr.Value, len(counts))
	for v, n := range counts {
		elems[v] = types.Int64Value(n)
	}
	return types.MapValueMust(types.Int64Type, elems)
}
