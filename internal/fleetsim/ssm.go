package fleetsim

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Invocation statuses and status details as SSM reports them.
const (
	InvPending    = "Pending"
	InvDelayed    = "Delayed"
	InvInProgress = "InProgress"
	InvSuccess    = "Success"
	InvFailed     = "Failed"
	InvTimedOut   = "TimedOut"
	InvCancelled  = "Cancelled"

	DetailsPending          = "Pending"
	DetailsDelayed          = "Delayed"
	DetailsInProgress       = "In Progress"
	DetailsSuccess          = "Success"
	DetailsFailed           = "Failed"
	DetailsCancelled        = "Cancelled"
	DetailsUndeliverable    = "Undeliverable"
	DetailsDeliveryTimedOut = "Delivery Timed Out"
	DetailsExecTimedOut     = "Execution Timed Out"
	DetailsTerminated       = "Terminated"
)

const (
	maxStdout = 24000
	maxStderr = 8000
)

type command struct {
	id              string
	docName         string
	docVersion      string
	params          map[string][]string
	instanceIDs     []string // as requested (empty when Targets were used)
	resolved        []string // instances that get an invocation
	targets         []keyValues
	comment         string
	timeoutSeconds  int
	maxConcurrency  string
	maxErrors       string
	cwOutput        map[string]any
	requestedAt     time.Time
	expiresAfter    time.Time
	status, details string
	invocations     []*invocation
	byInstance      map[string]*invocation
	errorCount      int
	shell           bool
}

type keyValues struct {
	Key    string   `json:"Key"`
	Values []string `json:"Values"`
}

type invocation struct {
	cmd             *command
	instanceID      string
	instanceName    string
	status, details string
	responseCode    int
	stdout, stderr  strings.Builder
	requestedAt     time.Time
	startedAt       time.Time
	endedAt         time.Time
	line            int
	gen             int
	slot            bool // holds a MaxConcurrency slot (delivering or running)
	// env holds what the lines exported (Parameter Store reads,
	// instance_parameters.go); plaintext like Parameter Store's own, never
	// output.
	env map[string]string
}

func (inv *invocation) done() bool {
	switch inv.status {
	case InvPending, InvDelayed, InvInProgress:
		return false
	}
	return true
}

func (inv *invocation) finishLocked(s *Sim, status, details string, code int) {
	inv.status, inv.details, inv.responseCode = status, details, code
	inv.endedAt = s.now
	inv.gen++
	c := inv.cmd
	if status == InvFailed && details == DetailsFailed || status == InvTimedOut && details == DetailsExecTimedOut {
		c.errorCount++
	}
	s.pumpCommandLocked(c)
}

// limit parses MaxConcurrency / MaxErrors: a number or a percentage of the
// targets (rounded up, at least 1 for concurrency).
func parseLimit(v string, targets int, def int) (int, bool) {
	if v == "" {
		return def, true
	}
	if strings.HasSuffix(v, "%") {
		p, err := strconv.Atoi(strings.TrimSuffix(v, "%"))
		if err != nil || p < 0 || p > 100 {
			return 0, false
		}
		return int(math.Ceil(float64(targets) * float64(p) / 100)), true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// sendCommandLocked creates the command; invocations start asynchronously.
func (s *Sim) sendCommandLocked(c *command) {
	s.commands[c.id] = c
	s.commandList = append(s.commandList, c)
	c.byInstance = map[string]*invocation{}
	c.status, c.details = "Pending", DetailsPending
	for _, id := range c.resolved {
		inv := &invocation{cmd: c, instanceID: id, status: InvPending, details: DetailsPending, responseCode: -1, requestedAt: s.now}
		if inst := s.instances[id]; inst != nil {
			inv.instanceName = inst.privateIP
		}
		c.invocations = append(c.invocations, inv)
		c.byInstance[id] = inv
	}
	// Delivery timeout: invocations that could not start in time.
	s.after(time.Duration(c.timeoutSeconds)*time.Second, func() {
		for _, inv := range c.invocations {
			if inv.status == InvPending || inv.status == InvDelayed {
				inv.finishLocked(s, InvTimedOut, DetailsDeliveryTimedOut, -1)
			}
		}
	})
	s.pumpCommandLocked(c)
}

// pumpCommandLocked starts pending invocations up to MaxConcurrency, cancels
// the rest once more than MaxErrors failed, and settles the command status.
func (s *Sim) pumpCommandLocked(c *command) {
	n := len(c.invocations)
	conc, _ := parseLimit(c.maxConcurrency, n, 50)
	if conc < 1 {
		conc = 1
	}
	maxErr, _ := parseLimit(c.maxErrors, n, 0)
	running := 0
	for _, inv := range c.invocations {
		if inv.status == InvInProgress || (inv.status == InvPending || inv.status == InvDelayed) && inv.slot {
			running++
		}
	}
	for _, inv := range c.invocations {
		if inv.status != InvPending || inv.slot {
			continue
		}
		if c.errorCount > maxErr {
			inv.status, inv.details, inv.endedAt = InvCancelled, DetailsTerminated, s.now
			continue
		}
		if running >= conc {
			break
		}
		running++
		s.deliverLocked(inv)
	}
	s.settleCommandLocked(c, maxErr)
}

func (s *Sim) settleCommandLocked(c *command, maxErr int) {
	if c.status == "Cancelled" {
		return
	}
	all := true
	var success, cancelled, timedOut, started int
	for _, inv := range c.invocations {
		if !inv.done() {
			all = false
		}
		if !inv.startedAt.IsZero() {
			started++
		}
		switch inv.status {
		case InvSuccess:
			success++
		case InvCancelled:
			cancelled++
		case InvTimedOut:
			timedOut++
		}
	}
	if !all {
		if started > 0 {
			c.status, c.details = "InProgress", DetailsInProgress
		}
		return
	}
	switch {
	case success == len(c.invocations):
		c.status, c.details = "Success", DetailsSuccess
	case c.errorCount > maxErr && timedOut > 0 && timedOut == c.errorCount:
		c.status, c.details = "TimedOut", DetailsExecTimedOut
	case c.errorCount > maxErr:
		c.status, c.details = "Failed", DetailsFailed
	case timedOut > 0 && success == 0:
		c.status, c.details = "TimedOut", DetailsDeliveryTimedOut
	default:
		// Everything attempted, failures within MaxErrors (AWS: "Incomplete").
		c.status, c.details = "Success", "Incomplete"
	}
}

// deliverLocked hands an invocation to the agent after the delivery delay.
// While the agent is offline (or the instance not running) the invocation is
// Delayed and delivery is retried; after Timing.Undeliverable it gives up as
// Undeliverable (Status Failed), which does not count toward MaxErrors, unless
// the delivery timeout (TimeoutSeconds) ends it first.
func (s *Sim) deliverLocked(inv *invocation) {
	inv.slot = true
	gen := inv.gen
	firstTry := s.now.Add(s.timing.Delivery)
	var attempt func()
	attempt = func() {
		if inv.gen != gen || (inv.status != InvPending && inv.status != InvDelayed) {
			return
		}
		inst := s.instances[inv.instanceID]
		if inst == nil || !inst.agentOnline || inst.state != StateRunning {
			if !s.now.Before(firstTry.Add(s.timing.Undeliverable)) {
				inv.finishLocked(s, InvFailed, DetailsUndeliverable, -1)
				return
			}
			inv.status, inv.details = InvDelayed, DetailsDelayed
			s.after(deliveryRetry, attempt)
			return
		}
		s.startInvocationLocked(inv)
	}
	s.after(s.timing.Delivery, attempt)
}

// deliveryRetry is how often delivery to an unreachable agent is retried.
const deliveryRetry = 5 * time.Second

func (s *Sim) startInvocationLocked(inv *invocation) {
	inv.status, inv.details = InvInProgress, DetailsInProgress
	inv.startedAt = s.now
	s.settleCommandLocked(inv.cmd, 0)
	exec := 3600 * time.Second
	if v := inv.cmd.params["executionTimeout"]; len(v) > 0 {
		if secs, err := strconv.ParseFloat(strings.TrimSpace(v[0]), 64); err == nil && secs > 0 && secs < 1e7 {
			exec = time.Duration(secs * float64(time.Second))
		}
	}
	g := inv.gen
	s.after(exec, func() {
		if inv.gen == g && inv.status == InvInProgress {
			inv.finishLocked(s, InvTimedOut, DetailsExecTimedOut, -1)
		}
	})
	s.runLineLocked(inv)
}

func (inv *invocation) lines() []string {
	if !inv.cmd.shell {
		return []string{""}
	}
	var out []string
	for _, entry := range inv.cmd.params["commands"] {
		for _, l := range strings.Split(entry, "\n") {
			if strings.TrimSpace(l) != "" {
				out = append(out, strings.TrimSpace(l))
			}
		}
	}
	return out
}

// runLineLocked runs line inv.line: it takes the modelled run time (or the
// sleep), then applies its effect; the first failing line ends the invocation.
func (s *Sim) runLineLocked(inv *invocation) {
	lines := inv.lines()
	if inv.line >= len(lines) {
		inv.finishLocked(s, InvSuccess, DetailsSuccess, 0)
		return
	}
	line := lines[inv.line]
	if s.faults.hangsLocked(inv.instanceID, line) {
		return // finishes only by execution timeout or cancellation
	}
	d := s.stepDurationLocked()
	if verb, arg := splitVerb(line); verb == "sleep" {
		if secs, err := strconv.ParseFloat(arg, 64); err == nil && secs >= 0 && secs < 1e7 {
			d = time.Duration(secs * float64(time.Second))
		}
	}
	gen := inv.gen
	s.after(d, func() {
		if inv.gen != gen || inv.status != InvInProgress {
			return
		}
		inst := s.instances[inv.instanceID]
		if inst == nil || inst.state != StateRunning {
			inv.finishLocked(s, InvFailed, DetailsFailed, -1)
			return
		}
		code := 0
		if inv.cmd.shell {
			code = s.applyLineLocked(inv, inst, line)
		} else {
			params, _ := json.Marshal(inv.cmd.params)
			appendCapped(&inv.stdout, fmt.Sprintf("%s ran with parameters %s\n", inv.cmd.docName, params), maxStdout)
		}
		if code != 0 {
			inv.finishLocked(s, InvFailed, DetailsFailed, code)
			return
		}
		inv.line++
		s.runLineLocked(inv)
	})
}

func splitVerb(line string) (string, string) {
	verb, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
	return verb, strings.TrimSpace(rest)
}

func appendCapped(b *strings.Builder, text string, limit int) {
	if room := limit - b.Len(); room > 0 {
		if len(text) > room {
			text = text[:room]
		}
		b.WriteString(text)
	}
}

// applyLineLocked is the command convention of AWS-RunShellScript here. A
// trailing "|| true" makes a line's failure harmless, as in a shell.
func (s *Sim) applyLineLocked(inv *invocation, inst *instance, line string) int {
	if code, ok := s.parameterLineLocked(inv, inst, line); ok {
		return code
	}
	if rest, ok := strings.CutSuffix(line, "|| true"); ok {
		s.applyLineLocked(inv, inst, strings.TrimSpace(rest))
		return 0
	}
	verb, arg := splitVerb(line)
	switch verb {
	case "app":
		sub, ver := splitVerb(arg)
		switch sub {
		case "stop":
			inst.appRunning = false
		case "start":
			if inst.appVersion == "" {
				appendCapped(&inv.stderr, "app start: no version installed\n", maxStderr)
				return 1
			}
			inst.appRunning = true
		case "deploy":
			if ver == "" {
				appendCapped(&inv.stderr, "app deploy: missing VERSION\n", maxStderr)
				return 2
			}
			if s.faults.deployFailsLocked(ver, inst.id) {
				appendCapped(&inv.stderr, fmt.Sprintf("app deploy %s: installation failed on %s\n", ver, inst.id), maxStderr)
				return 1
			}
			inst.appVersion = ver
			appendCapped(&inv.stdout, fmt.Sprintf("deployed %s\n", ver), maxStdout)
		case "check":
			if !s.checkPassesLocked(inst) {
				appendCapped(&inv.stderr, fmt.Sprintf("app check: %s is not healthy (running=%t)\n", inst.appVersion, inst.appRunning), maxStderr)
				return 1
			}
			appendCapped(&inv.stdout, "ok\n", maxStdout)
		}
	case "exit":
		n, err := strconv.Atoi(arg)
		if err != nil {
			return 2
		}
		return n & 0xff
	case "echo":
		appendCapped(&inv.stdout, arg+"\n", maxStdout)
	case "fail":
		appendCapped(&inv.stderr, arg+"\n", maxStderr)
		return 1
	}
	return 0
}

// abortInvocationsLocked fails what an instance was running when it stopped.
func (s *Sim) abortInvocationsLocked(inst *instance) {
	for _, c := range s.commandList {
		if inv := c.byInstance[inst.id]; inv != nil && inv.status == InvInProgress {
			inv.finishLocked(s, InvFailed, DetailsFailed, -1)
		}
	}
}

func (s *Sim) cancelCommandLocked(c *command, ids []string) {
	for _, inv := range c.invocations {
		if len(ids) > 0 && !containsString(ids, inv.instanceID) {
			continue
		}
		if !inv.done() {
			inv.status, inv.details, inv.endedAt = InvCancelled, DetailsCancelled, s.now
			inv.gen++
		}
	}
	all := true
	for _, inv := range c.invocations {
		if !inv.done() {
			all = false
		}
	}
	if all || len(ids) == 0 {
		c.status, c.details = "Cancelled", DetailsCancelled
	}
}

// visibleLocked reports whether an invocation is past the eventual
// consistency window after SendCommand.
func (s *Sim) visibleLocked(c *command) bool {
	return !s.now.Before(c.requestedAt.Add(s.timing.InvocationLag))
}

func (s *Sim) sortedCommandsNewestFirstLocked() []*command {
	out := append([]*command(nil), s.commandList...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].requestedAt.After(out[j].requestedAt) })
	return out
}
