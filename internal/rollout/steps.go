package rollout

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Stage 2, steps (stageSend, stageStepWait): send each step as one SSM
// command for the group, poll its invocations, and record how long it took
// on each instance (learnStepTime) so later polls are timed by what was
// seen (timing.go's stepPolls). Owns the commands in flight.

func (e *engine) sendStep(g *group, now time.Time) {
	if until, wait := e.waitForSiblings(g, now); wait {
		g.wakeAt = until
		return
	}
	if g.step >= len(g.steps) {
		g.stage = stageJoin
		g.wakeAt = now
		return
	}
	if e.cancelled && g.kind != kindRestore {
		e.restoreAfterCancel(g, g.members)
		return
	}
	st := g.steps[g.step]
	phase := g.phaseName(PhaseStep + ":" + st.Name)
	// No tag write here: rolling:phase says "draining" (or "rollback")
	// from leaving on; a step's name is written only on the instances left
	// out of service after it failed (fail), which saves one call per step.
	e.enterPhase(g.members, phase, g.batch, now)
	cmd := e.command(st)
	ids := append([]string(nil), g.members...)
	// The step's time runs from when it was sent, not from the start of
	// the pass (other groups' calls came first).
	sent := e.clock.Now()
	cmds, err := e.ports.Commands.Send(e.ctx, cmd, ids)
	if cmds == nil {
		cmds = map[string]string{}
	}
	causes := map[string]error{}
	if err != nil && len(ids) > 1 {
		// Instances that did get the command are polled as usual (it
		// runs); the others are sent one by one so that one bad instance
		// does not fail the rest.
		for _, id := range ids {
			if cmds[id] != "" {
				continue
			}
			one, err1 := e.ports.Commands.Send(e.ctx, cmd, []string{id})
			if err1 == nil && one[id] != "" {
				cmds[id] = one[id]
			}
			causes[id] = err1
		}
	}
	for _, id := range ids {
		if cmds[id] == "" {
			cause, ok := causes[id]
			if !ok {
				cause = err
			}
			if cause == nil {
				cause = errors.New("no command id returned for the instance")
			}
			// The step never started on it, so its application is as the
			// previous step left it: put it back if that is healthy.
			e.fail(g, []string{id}, failure{phase: PhaseStep, step: st.Name, err: fmt.Errorf("sending the command: %w", cause), restore: true})
		}
	}
	if len(g.members) == 0 {
		return
	}
	g.cmds = cmds
	g.results = map[string]Invocation{}
	g.stage = stageStepWait
	g.deadline = sent.Add(stepDeadline(st))
	g.sentAt = sent
	g.wakeAt = sent.Add(e.stepPolls(g, st).first())
}

// stepKey names a step for learning its duration: deploy and rollback steps
// are different scripts even when they share a name.
func (g *group) stepKey(st Step) string {
	if g.kind == kindRollback {
		return "rollback:" + st.Name
	}
	return "deploy:" + st.Name
}

// command turns a step into an SSM command: commands become
// AWS-RunShellScript with the timeout as executionTimeout (seconds).
func (e *engine) command(st Step) Command {
	timeout := stepTimeout(st)
	params := map[string][]string{}
	for k, v := range st.Parameters {
		params[k] = append([]string(nil), v...)
	}
	cmd := Command{DocumentName: st.DocumentName, DocumentVersion: st.DocumentVersion, Parameters: params, Timeout: timeout}
	if len(st.Commands) > 0 {
		cmd.DocumentName = "AWS-RunShellScript"
		cmd.DocumentVersion = ""
		params["commands"] = append([]string(nil), st.Commands...)
		params["executionTimeout"] = []string{strconv.Itoa(int((timeout + time.Second - 1) / time.Second))}
	}
	comment := fmt.Sprintf("rolling %s: %s", e.spec.RolloutID, st.Name)
	if len(comment) > 100 {
		comment = comment[:100]
	}
	cmd.Comment = comment
	return cmd
}

func (e *engine) waitStep(g *group, now time.Time) {
	st := g.steps[g.step]
	pending := map[string]string{}
	for _, id := range g.members {
		if r, ok := g.results[id]; !ok || !r.Status.Terminal() {
			pending[id] = g.cmds[id]
		}
	}
	if len(pending) > 0 {
		invs, err := e.invocations(pending)
		e.emit(Event{Kind: EventPoll, Batch: g.batch, Phase: PhaseStep + ":" + st.Name, Message: fmt.Sprintf(
			"polled %d invocations of step %s", len(pending), st.Name)})
		if err != nil {
			e.emit(Event{Kind: EventPoll, Batch: g.batch, Message: "reading invocations failed, will retry: " + err.Error()})
		}
		for _, inv := range invs {
			if _, ok := pending[inv.InstanceID]; ok {
				g.results[inv.InstanceID] = inv
				if inv.Status.Terminal() {
					delete(pending, inv.InstanceID)
					if inv.Status == InvocationSuccess {
						e.learnStepTime(g, st, inv, now)
					}
				}
			}
		}
	}
	// Failures are dealt with as soon as they are known. A command we
	// cancelled because the run was cancelled is no failure of the
	// instance: it is put back if healthy.
	for _, id := range append([]string(nil), g.members...) {
		r, ok := g.results[id]
		switch {
		case !ok || !r.Status.Terminal() || r.Status == InvocationSuccess:
		case r.Status == InvocationCancelled && e.cancelled && g.kind != kindRestore:
			e.restoreAfterCancel(g, []string{id})
		case r.Status == InvocationUndeliverable:
			// The step never reached the instance (agent offline, say), so
			// its application is as the previous step left it: like a send
			// that failed, put it back if that is healthy. If an earlier
			// step stopped the application, it fails its health checks and
			// stays out, tagged.
			e.fail(g, []string{id}, failure{phase: PhaseStep, step: st.Name, status: string(r.Status),
				exit: r.ExitCode, stderr: r.Stderr, details: r.StatusDetails, restore: true})
		default:
			e.fail(g, []string{id}, failure{phase: PhaseStep, step: st.Name, status: string(r.Status),
				exit: r.ExitCode, stderr: r.Stderr, details: r.StatusDetails})
		}
	}
	if len(g.members) == 0 {
		return
	}
	if len(pending) > 0 && e.ownPace() && (e.windowed() || e.stepKnown(g, st)) {
		// In window mode, and in batch mode unless lockstep, the instances
		// that are done go on without waiting for slower ones of the same
		// departure.
		if done := without(g.members, sortedKeys(pending)); len(done) > 0 {
			ng := e.splitOff(g, done)
			ng.step++
			ng.stage, ng.wakeAt = stageSend, now
			if e.cancelled && ng.kind != kindRestore && ng.step < len(ng.steps) {
				e.restoreAfterCancel(ng, ng.members)
			}
		}
	}
	if len(pending) > 0 {
		cut := ""
		switch {
		case !now.Before(g.deadline):
			cut = "timeout"
		case e.cancelled && !now.Before(e.graceUntil) && g.kind != kindRestore:
			cut = "cancel"
		}
		if cut == "" {
			g.wakeAt = now.Add(e.stepPolls(g, st).next(now.Sub(g.sentAt)))
			if g.wakeAt.After(g.deadline) {
				g.wakeAt = g.deadline
			}
			if e.cancelled && g.wakeAt.After(e.graceUntil) && e.graceUntil.After(now) {
				g.wakeAt = e.graceUntil
			}
			return
		}
		err := e.ports.Commands.Cancel(e.ctx, pending)
		if cut == "cancel" {
			// Put back only once the commands have stopped: an instance
			// rejoined while a step still runs on it could be broken by
			// that step after it was found healthy. Cancel again at every
			// poll until SSM reports them terminal (or the step deadline).
			if err != nil {
				e.emit(Event{Kind: EventPoll, Batch: g.batch, Message: "cancelling step " + st.Name + " failed, will retry: " + err.Error()})
			}
			g.wakeAt = minTime(g.deadline, now.Add(lookSoon))
			return
		}
		// Timed out: SSM's own execution timeout (the step timeout) has
		// ended the command by now; the instance stays out either way.
		e.fail(g, sortedKeys(pending), failure{phase: PhaseStep, step: st.Name, status: string(InvocationTimedOut), exit: -1,
			err: fmt.Errorf("no result within the step timeout %s", stepTimeout(st))})
	}
	if len(g.members) == 0 {
		return
	}
	g.step++
	g.cmds, g.results = nil, nil
	if e.cancelled && g.kind != kindRestore && g.step < len(g.steps) {
		e.restoreAfterCancel(g, g.members)
		return
	}
	g.stage = stageSend
	g.wakeAt = now
}

// stepKnown says whether a batch at its own pace lets its members go on
// one by one at st: a large batch always (a poll there costs a call per 50
// members), a small one once the step has been seen done on a batch's
// worth of instances. Until then (a small batch, the first of a rollout,
// for each step) the members wait for each other at the step: its polls
// have nothing to go by but a growing interval (2 s, 3 s, 4.5 s, ...), and
// each of those that found members done would cost a command of its own,
// in a batch whose end is its slowest member's anyway. Measured in the
// fake world (100 instances, 10 a batch): 0.2 calls per instance fewer for
// 0.3 % more time.
func (e *engine) stepKnown(g *group, st Step) bool {
	n := e.batchSize(g)
	return n >= largeGroup || len(e.stepTimes[g.stepKey(st)]) >= n
}

// stepPolls gathers what the timing of g's polls of st depends on
// (timing.go): the durations seen so far, the mode, the group's size.
func (e *engine) stepPolls(g *group, st Step) stepPolls {
	p := stepPolls{step: st, seen: e.stepTimes[g.stepKey(st)], windowed: e.windowed(), members: len(g.members)}
	if !p.windowed && e.ownPace() {
		// Fragments of a batch are polled as the batch: its size decides.
		p.ownPace, p.members = true, e.batchSize(g)
	}
	return p
}

// learnStepTime records how long a step took on one instance, from the send
// (at sentAt) to now, when the poll saw it done. SSM's own request and
// finish times, when reported, give the real duration; a poll only bounds
// it from above.
func (e *engine) learnStepTime(g *group, st Step, inv Invocation, now time.Time) {
	took := now.Sub(g.sentAt)
	if exact := inv.FinishedAt.Sub(inv.RequestedAt); !inv.RequestedAt.IsZero() && !inv.FinishedAt.IsZero() &&
		exact > 0 && exact < took {
		took = exact
	}
	if took <= 0 {
		return
	}
	key := g.stepKey(st)
	obs := append(e.stepTimes[key], took)
	if len(obs) > maxStepSamples {
		obs = obs[len(obs)-maxStepSamples:]
	}
	e.stepTimes[key] = obs
}

// maxStepSamples bounds the memory of learnStepTime: the most recent
// durations describe the step well enough.
const maxStepSamples = 256

// invocations reads the invocations of pending (instance to command id).
// The first read of a loop iteration also reads those of every other group
// polling its step at this moment (pollDue), in the same call, and keeps
// the answers for them; the Commands port then makes one listing per
// command, or one for all of them.
func (e *engine) invocations(pending map[string]string) ([]Invocation, error) {
	key := func(id, cmd string) string { return cmd + "/" + id }
	if e.invCache == nil {
		e.invCache = map[string]Invocation{}
	}
	var out []Invocation
	missing := map[string]string{}
	for id, cmd := range pending {
		if inv, ok := e.invCache[key(id, cmd)]; ok {
			out = append(out, inv)
		} else {
			missing[id] = cmd
		}
	}
	if len(missing) == 0 {
		return out, nil
	}
	if e.pollDue != nil {
		for _, o := range e.groups {
			if o.stage != stageStepWait || !e.pollDue(o) {
				continue
			}
			for _, id := range o.members {
				r, done := o.results[id]
				if cmd := o.cmds[id]; cmd != "" && (!done || !r.Status.Terminal()) {
					if _, cached := e.invCache[key(id, cmd)]; !cached {
						missing[id] = cmd
					}
				}
			}
		}
	}
	invs, err := e.ports.Commands.Invocations(e.ctx, missing)
	for _, inv := range invs {
		e.invCache[key(inv.InstanceID, inv.CommandID)] = inv
		if pending[inv.InstanceID] == inv.CommandID {
			out = append(out, inv)
		}
	}
	return out, err
}
