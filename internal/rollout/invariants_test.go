package rollout

import (
	"fmt"
	"strings"
)

// invariantViolations checks the rollout's safety properties on the world's
// own record, not on the engine's report of itself:
//   - in-service capacity never went below the floor through the engine's doing;
//   - no instance had the new version installed twice;
//   - every instance is where the Result says: updated ones run the new
//     version in service, rolled-back ones the previous version in service,
//     failed ones are tagged and reported out of service (or gone);
//   - every instance still carrying rolling:phase is reported OutOfService
//     (or StaleTags: its tags could not be written after retries);
//   - no instance whose application is healthy is left deregistered;
//   - every suspended Auto Scaling process was resumed, or the error (or a
//     warning) says which group to resume by hand.
func invariantViolations(w *world, s Spec, res Result, runErr error) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.settle()
	v := append([]string(nil), w.violations...)
	bad := func(format string, args ...any) { v = append(v, fmt.Sprintf(format, args...)) }

	for id, byVersion := range w.installs {
		if byVersion[s.Release.Version] > 1 {
			bad("%s: %s installed %d times", id, s.Release.Version, byVersion[s.Release.Version])
		}
	}
	reported := map[string]InstanceOutcome{}
	for _, o := range res.Instances {
		reported[o.ID] = o
	}
	for _, id := range w.ids {
		inst := w.insts[id]
		o, ok := reported[id]
		if !ok {
			bad("%s: not in the Result", id)
			continue
		}
		phase := inst.tags[TagPhase]
		if inst.terminated {
			continue
		}
		if phase != "" && !o.OutOfService && !o.StaleTags {
			bad("%s: tagged %s=%s but reported %s, not out of service", id, TagPhase, phase, o.Status)
		}
		// An instance an earlier run left out, which this run never got to
		// (it stopped first), is reported out of service and left as found.
		leftAsFound := o.Status == InstancePending && o.OutOfService && len(w.installs[id]) == 0
		if w.appHealthy(inst) && !w.inService(inst) && !leftAsFound {
			bad("%s: application healthy but not in service (status %s, phase tag %q)", id, o.Status, phase)
		}
		switch o.Status {
		case InstanceUpdated:
			if inst.version != s.Release.Version || !w.inService(inst) || (!o.StaleTags && (inst.tags[TagVersion] != s.Release.Version || phase != "")) {
				bad("%s: reported updated but runs %s, tagged %s, in service %v, phase %q", id, inst.version, inst.tags[TagVersion], w.inService(inst), phase)
			}
		case InstanceRolledBack:
			if s.Previous == nil || inst.version != s.Previous.Version || !w.inService(inst) || (!o.StaleTags && (inst.tags[TagVersion] != s.Previous.Version || phase != "")) {
				bad("%s: reported rolled back but runs %s, tagged %s, in service %v", id, inst.version, inst.tags[TagVersion], w.inService(inst))
			}
		case InstanceFailed:
			if o.OutOfService && phase == "" {
				bad("%s: reported out of service but carries no %s tag", id, TagPhase)
			}
			// StaleTags: the tag could not be removed after retries and
			// the error says so, as for every other status.
			if !o.OutOfService && phase != "" && !o.StaleTags {
				bad("%s: failed in service but tagged %s", id, phase)
			}
			if o.Err == nil {
				bad("%s: failed without an error", id)
			}
		case InstanceUpToDate, InstancePending:
			if n := len(w.installs[id]); n > 0 {
				bad("%s: reported %s but had installs %v", id, o.Status, w.installs[id])
			}
		case InstanceInterrupted, InstanceRecovered:
			if !w.inService(inst) || (phase != "" && !o.StaleTags) {
				bad("%s: reported %s but in service %v, phase %q", id, o.Status, w.inService(inst), phase)
			}
		default:
			bad("%s: unknown status %q", id, o.Status)
		}
	}
	for g, n := range w.suspended {
		what := "resuming processes of Auto Scaling group " + g
		reported := (runErr != nil && strings.Contains(runErr.Error(), what)) || strings.Contains(strings.Join(res.Warnings, "\n"), what)
		if n != 0 && !reported {
			bad("Auto Scaling group %s: %d suspensions not resumed, and the error does not say so", g, n)
		}
	}
	return v
}

// endsSettled: without a stop or cancellation every out-of-date instance
// ends on the new version, rolled back, or reported failed.
func endsSettled(res Result) []string {
	var v []string
	for _, o := range res.Instances {
		switch o.Status {
		case InstanceUpdated, InstanceUpToDate, InstanceRolledBack, InstanceFailed, InstanceRecovered, InstanceGone:
		default:
			v = append(v, fmt.Sprintf("%s ended %s", o.ID, o.Status))
		}
	}
	return v
}

func joinLines(v []string) string { return strings.Join(v, "\n") }
