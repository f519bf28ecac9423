package awsclient

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/rollout"
)

// commandRunner implements rollout.CommandRunner with SSM Run Command.
//
// Polling costs one ListCommandInvocations (Details=true, paginated) per
// command id per poll, never one call per instance. An invocation, once
// terminal, never changes, so it is remembered and not asked for again.
//
// Fallback: moto and LocalStack do not implement ListCommandInvocations.
// When the endpoint answers it with a not-implemented error, the runner
// switches (for the life of the Client) to GetCommandInvocation per
// instance, which those emulators do implement. Real AWS never takes this
// path.
type commandRunner struct {
	c *Client

	mu       sync.Mutex
	terminal map[invocationKey]rollout.Invocation
	sent     map[string]sentCommand // by command id, for listing several at once
}

// sentCommand is what Send learned of a command: when SSM took it and its
// document.
type sentCommand struct {
	at  time.Time
	doc string
}

// singleAttempt is used to probe an operation an emulator may lack: an
// emulator's "not implemented" can be an HTTP 500, which the SDK would
// otherwise retry MaxRetries times.
func singleAttempt(o *ssm.Options) { o.Retryer = retry.AddWithMaxAttempts(o.Retryer, 1) }

type invocationKey struct{ commandID, instanceID string }

// shellDocuments take an executionTimeout parameter in seconds.
var shellDocuments = map[string]bool{"AWS-RunShellScript": true, "AWS-RunPowerShellScript": true}

// Send sends cmd in chunks of 50 instances (SendCommand's limit), all at
// once. When a chunk fails, the ids of the chunks that were sent are
// returned with the error so that the caller can cancel or poll them.
func (r *commandRunner) Send(ctx context.Context, cmd rollout.Command, instanceIDs []string) (map[string]string, error) {
	params := make(map[string][]string, len(cmd.Parameters)+1)
	for k, v := range cmd.Parameters {
		params[k] = v
	}
	in := &ssm.SendCommandInput{
		DocumentName: aws.String(cmd.DocumentName),
		Parameters:   params,
		// The engine's failure policy decides what a failure means. SSM's
		// default MaxErrors of 0 would cancel ("Terminated") invocations
		// not yet started after the first failure, and a concurrency below
		// the chunk size would serialise a batch.
		MaxConcurrency: aws.String("100%"),
		MaxErrors:      aws.String("100%"),
	}
	if cmd.DocumentVersion != "" {
		in.DocumentVersion = aws.String(cmd.DocumentVersion)
	}
	if cmd.Comment != "" {
		in.Comment = aws.String(truncate(cmd.Comment, 100))
	}
	if secs := int32(cmd.Timeout.Seconds()); secs > 0 {
		if _, set := params["executionTimeout"]; !set && shellDocuments[cmd.DocumentName] {
			params["executionTimeout"] = []string{strconv.Itoa(int(secs))}
		}
		// TimeoutSeconds bounds how long SSM keeps trying to deliver the
		// command; a step that cannot even start within its own timeout
		// has failed. SSM accepts 30..2592000.
		in.TimeoutSeconds = aws.Int32(min(max(secs, 30), 2592000))
	}
	// The chunks go at once: a batch of 100 instances is two commands that
	// SSM runs side by side anyway.
	parts := chunks(instanceIDs, maxInstancesPerSendCommand)
	ids := make([]string, len(parts))
	sent := make([]bool, len(parts))
	tasks := make([]func(context.Context) error, len(parts))
	for i, part := range parts {
		tasks[i] = func(ctx context.Context) error {
			chunkIn := *in
			chunkIn.InstanceIds = part
			resp, err := r.c.ssm.SendCommand(ctx, &chunkIn)
			if err != nil {
				return translate("ssm", "SendCommand", err)
			}
			sent[i] = true
			if resp.Command != nil {
				ids[i] = aws.ToString(resp.Command.CommandId)
				r.rememberSent(ids[i], aws.ToTime(resp.Command.RequestedDateTime), cmd.DocumentName)
			}
			return nil
		}
	}
	var err error
	if len(tasks) > 0 {
		err = concurrently(ctx, tasks)
	}
	out := make(map[string]string, len(instanceIDs))
	for i, part := range parts {
		if !sent[i] {
			continue
		}
		for _, inst := range part {
			out[inst] = ids[i]
		}
	}
	return out, err
}

// Invocations reports every requested (instance, command) pair, in no
// particular order; pairs SSM does not list yet are Pending.
func (r *commandRunner) Invocations(ctx context.Context, commandByInstance map[string]string) ([]rollout.Invocation, error) {
	byCommand := map[string][]string{}
	var out []rollout.Invocation
	for inst, cmd := range commandByInstance {
		if cmd == "" {
			return nil, fmt.Errorf("ssm: no command id for instance %s (was it sent?)", inst)
		}
		if inv, ok := r.cached(cmd, inst); ok {
			out = append(out, inv)
			continue
		}
		byCommand[cmd] = append(byCommand[cmd], inst)
	}
	if len(byCommand) >= minCommandsForRangeListing {
		listed, err := r.rangeInvocations(ctx, byCommand)
		if err != nil {
			return nil, err
		}
		out = append(out, listed...)
	}
	// One listing per command left, all at once (the commands of a window
	// of groups polled together, or the two of a 100-instance batch).
	cmds := sortedKeys(byCommand)
	listed := make([][]rollout.Invocation, len(cmds))
	tasks := make([]func(context.Context) error, len(cmds))
	for i, cmd := range cmds {
		tasks[i] = func(ctx context.Context) (err error) {
			listed[i], err = r.commandInvocations(ctx, cmd, byCommand[cmd])
			for _, inv := range listed[i] {
				if inv.Status.Terminal() {
					r.remember(inv)
				}
			}
			return err
		}
	}
	if len(tasks) > 0 {
		if err := concurrently(ctx, tasks); err != nil {
			return nil, err
		}
	}
	for _, invs := range listed {
		out = append(out, invs...)
	}
	return out, nil
}

// minCommandsForRangeListing: from this many commands to poll at once, one
// ListCommandInvocations over the time since the oldest of them was sent
// (filtered by document when they share one) replaces one listing per
// command. Where instances run their steps at their own pace (window mode,
// batch mode by default) a poll often covers a few commands of few
// instances: the fast members' next step and the slow ones' current one.
const minCommandsForRangeListing = 2

// rangeInvocations lists every invocation requested since the oldest of
// byCommand's commands was sent, and takes the ones it found out of
// byCommand; the caller lists what is left per command, so a filter is
// never trusted to prove an invocation absent. It reads at most as many
// pages as there are commands: when other commands of the account crowd
// the time range it stops there (at worst twice the calls of listing per
// command from the start).
func (r *commandRunner) rangeInvocations(ctx context.Context, byCommand map[string][]string) ([]rollout.Invocation, error) {
	if r.c.listInvocationsUnsupported.Load() || !r.c.listInvocationsSupported.Load() {
		return nil, nil // not probed yet, or an emulator without the call
	}
	var oldest time.Time
	docs := map[string]bool{}
	r.mu.Lock()
	for cmd := range byCommand {
		sc, ok := r.sent[cmd]
		if !ok || sc.at.IsZero() {
			r.mu.Unlock()
			return nil, nil // sent by an earlier run: its time is unknown
		}
		if oldest.IsZero() || sc.at.Before(oldest) {
			oldest = sc.at
		}
		docs[sc.doc] = true
	}
	r.mu.Unlock()
	// InvokedAfter takes whole seconds: start one second early.
	filters := []ssmtypes.CommandFilter{{
		Key: ssmtypes.CommandFilterKeyInvokedAfter, Value: aws.String(oldest.Add(-time.Second).UTC().Format(time.RFC3339)),
	}}
	if len(docs) == 1 {
		for doc := range docs {
			// A document named by ARN may be listed under its name.
			if !strings.Contains(doc, ":") {
				filters = append(filters, ssmtypes.CommandFilter{Key: ssmtypes.CommandFilterKeyDocumentName, Value: aws.String(doc)})
			}
		}
	}
	want := map[invocationKey]bool{}
	for cmd, instances := range byCommand {
		for _, inst := range instances {
			want[invocationKey{cmd, inst}] = true
		}
	}
	found := map[invocationKey]ssmtypes.CommandInvocation{}
	p := ssm.NewListCommandInvocationsPaginator(r.c.ssm, &ssm.ListCommandInvocationsInput{
		Filters: filters, Details: true, MaxResults: aws.Int32(50),
	})
	for pages := 0; p.HasMorePages() && pages < len(byCommand); pages++ {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, translate("ssm", "ListCommandInvocations", err)
		}
		for _, ci := range page.CommandInvocations {
			k := invocationKey{aws.ToString(ci.CommandId), aws.ToString(ci.InstanceId)}
			if want[k] {
				found[k] = ci
			}
		}
		if len(found) == len(want) {
			break
		}
	}
	var out []rollout.Invocation
	for cmd, instances := range byCommand {
		var rest []string
		for _, inst := range instances {
			ci, ok := found[invocationKey{cmd, inst}]
			switch {
			case ok:
				inv := fromListed(ci)
				if inv.Status == rollout.InvocationFailed || inv.Status == rollout.InvocationTimedOut {
					if err := r.addOutput(ctx, &inv, failedPlugin(ci)); err != nil {
						return nil, err
					}
				}
				if inv.Status.Terminal() {
					r.remember(inv)
				}
				out = append(out, inv)
			default:
				// Not listed: crowded out by other commands, not visible
				// yet after SendCommand, or a filter that did not match
				// (a document named by ARN): asked per command.
				rest = append(rest, inst)
			}
		}
		if len(rest) == 0 {
			delete(byCommand, cmd)
		} else {
			byCommand[cmd] = rest
		}
	}
	return out, nil
}

func (r *commandRunner) rememberSent(cmd string, at time.Time, doc string) {
	if cmd == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sent == nil {
		r.sent = map[string]sentCommand{}
	}
	r.sent[cmd] = sentCommand{at: at, doc: doc}
}

func (r *commandRunner) cached(cmd, inst string) (rollout.Invocation, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	inv, ok := r.terminal[invocationKey{cmd, inst}]
	return inv, ok
}

func (r *commandRunner) remember(inv rollout.Invocation) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.terminal == nil {
		r.terminal = map[invocationKey]rollout.Invocation{}
	}
	r.terminal[invocationKey{inv.CommandID, inv.InstanceID}] = inv
}

func pending(cmd, inst string) rollout.Invocation {
	return rollout.Invocation{InstanceID: inst, CommandID: cmd, Status: rollout.InvocationPending, ExitCode: -1}
}

func (r *commandRunner) commandInvocations(ctx context.Context, cmd string, instances []string) ([]rollout.Invocation, error) {
	if !r.c.listInvocationsUnsupported.Load() {
		probing := !r.c.listInvocationsSupported.Load()
		listed, err := r.listInvocations(ctx, cmd, probing)
		if err != nil && probing && !isNotImplemented(err) {
			// The probe failed for an ordinary reason (throttling, a 5xx):
			// ask again with the configured retries.
			listed, err = r.listInvocations(ctx, cmd, false)
		}
		if err == nil {
			r.c.listInvocationsSupported.Store(true)
		}
		switch {
		case err == nil:
			out := make([]rollout.Invocation, 0, len(instances))
			for _, inst := range instances {
				ci, ok := listed[inst]
				if !ok {
					// Eventual consistency right after SendCommand.
					out = append(out, pending(cmd, inst))
					continue
				}
				inv := fromListed(ci)
				if inv.Status == rollout.InvocationFailed || inv.Status == rollout.InvocationTimedOut {
					if err := r.addOutput(ctx, &inv, failedPlugin(ci)); err != nil {
						return nil, err
					}
				}
				out = append(out, inv)
			}
			return out, nil
		case isNotImplemented(err):
			r.c.listInvocationsUnsupported.Store(true)
		default:
			return nil, translate("ssm", "ListCommandInvocations", err)
		}
	}
	out := make([]rollout.Invocation, 0, len(instances))
	for _, inst := range instances {
		inv, err := r.getInvocation(ctx, cmd, inst, "")
		if err != nil {
			return nil, err
		}
		out = append(out, inv)
	}
	return out, nil
}

func (r *commandRunner) listInvocations(ctx context.Context, cmd string, probe bool) (map[string]ssmtypes.CommandInvocation, error) {
	var opts []func(*ssm.Options)
	if probe {
		opts = append(opts, singleAttempt)
	}
	out := map[string]ssmtypes.CommandInvocation{}
	p := ssm.NewListCommandInvocationsPaginator(r.c.ssm, &ssm.ListCommandInvocationsInput{
		CommandId:  aws.String(cmd),
		Details:    true,
		MaxResults: aws.Int32(50),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx, opts...)
		if err != nil {
			return nil, err
		}
		for _, ci := range page.CommandInvocations {
			out[aws.ToString(ci.InstanceId)] = ci
		}
	}
	return out, nil
}

// fromListed converts a ListCommandInvocations row. The exit code is the
// failing plugin's, or the last plugin's when none failed; stdout is the
// plugins' Output (each truncated by SSM to 2,500 characters).
func fromListed(ci ssmtypes.CommandInvocation) rollout.Invocation {
	inv := rollout.Invocation{
		InstanceID:    aws.ToString(ci.InstanceId),
		CommandID:     aws.ToString(ci.CommandId),
		Status:        invocationStatus(string(ci.Status), aws.ToString(ci.StatusDetails)),
		StatusDetails: aws.ToString(ci.StatusDetails),
		ExitCode:      -1,
	}
	var outputs []string
	for _, p := range ci.CommandPlugins {
		if o := aws.ToString(p.Output); o != "" {
			outputs = append(outputs, o)
		}
	}
	inv.Stdout = strings.Join(outputs, "\n")
	inv.RequestedAt = aws.ToTime(ci.RequestedDateTime)
	if inv.Status.Terminal() {
		// The run ended when its last plugin did.
		for _, p := range ci.CommandPlugins {
			if t := aws.ToTime(p.ResponseFinishDateTime); t.After(inv.FinishedAt) {
				inv.FinishedAt = t
			}
		}
	}
	if n := len(ci.CommandPlugins); n > 0 {
		inv.ExitCode = int(ci.CommandPlugins[n-1].ResponseCode)
		for _, p := range ci.CommandPlugins {
			if p.Status == ssmtypes.CommandPluginStatusFailed || p.Status == ssmtypes.CommandPluginStatusTimedOut {
				inv.ExitCode = int(p.ResponseCode)
				break
			}
		}
	}
	return inv
}

// failedPlugin names the plugin to ask GetCommandInvocation about: required
// for documents with several steps, omitted for the usual single one.
func failedPlugin(ci ssmtypes.CommandInvocation) string {
	if len(ci.CommandPlugins) < 2 {
		return ""
	}
	for _, p := range ci.CommandPlugins {
		if p.Status == ssmtypes.CommandPluginStatusFailed || p.Status == ssmtypes.CommandPluginStatusTimedOut {
			return aws.ToString(p.Name)
		}
	}
	return ""
}

// addOutput fills stdout/stderr of a failed invocation from
// GetCommandInvocation: the list output has no stderr and shorter stdout.
func (r *commandRunner) addOutput(ctx context.Context, inv *rollout.Invocation, plugin string) error {
	in := &ssm.GetCommandInvocationInput{CommandId: aws.String(inv.CommandID), InstanceId: aws.String(inv.InstanceID)}
	if plugin != "" {
		in.PluginName = aws.String(plugin)
	}
	out, err := r.c.ssm.GetCommandInvocation(ctx, in)
	if err != nil {
		if errors.Is(translate("ssm", "GetCommandInvocation", err), rollout.ErrNotFound) {
			return nil // keep what the list said
		}
		return translate("ssm", "GetCommandInvocation", err)
	}
	if s := aws.ToString(out.StandardOutputContent); len(s) > len(inv.Stdout) {
		inv.Stdout = s
	}
	inv.Stderr = aws.ToString(out.StandardErrorContent)
	return nil
}

// getInvocation reads one invocation with GetCommandInvocation (the
// emulator fallback). InvocationDoesNotExist means "not visible yet".
func (r *commandRunner) getInvocation(ctx context.Context, cmd, inst, plugin string) (rollout.Invocation, error) {
	in := &ssm.GetCommandInvocationInput{CommandId: aws.String(cmd), InstanceId: aws.String(inst)}
	if plugin != "" {
		in.PluginName = aws.String(plugin)
	}
	out, err := r.c.ssm.GetCommandInvocation(ctx, in)
	if err != nil {
		if errorCode(err) == "InvocationDoesNotExist" {
			return pending(cmd, inst), nil
		}
		return rollout.Invocation{}, translate("ssm", "GetCommandInvocation", err)
	}
	return rollout.Invocation{
		InstanceID:    inst,
		CommandID:     cmd,
		Status:        invocationStatus(string(out.Status), aws.ToString(out.StatusDetails)),
		StatusDetails: aws.ToString(out.StatusDetails),
		ExitCode:      int(out.ResponseCode),
		Stdout:        aws.ToString(out.StandardOutputContent),
		Stderr:        aws.ToString(out.StandardErrorContent),
	}, nil
}

// invocationStatus normalises SSM's Status/StatusDetails pair. Undeliverable
// is only visible in StatusDetails (Status says Failed or Cancelled
// depending on the era), and it matters: the instance never ran anything.
func invocationStatus(status, details string) rollout.InvocationStatus {
	if details == "Undeliverable" {
		return rollout.InvocationUndeliverable
	}
	switch rollout.InvocationStatus(status) {
	case rollout.InvocationPending, rollout.InvocationInProgress, rollout.InvocationDelayed,
		rollout.InvocationSuccess, rollout.InvocationFailed, rollout.InvocationTimedOut,
		rollout.InvocationCancelled, rollout.InvocationCancelling:
		return rollout.InvocationStatus(status)
	case "Canceled":
		return rollout.InvocationCancelled
	}
	// An unknown status is treated as still running rather than guessed
	// terminal; the engine's step timeout bounds the wait.
	return rollout.InvocationInProgress
}

// Cancel cancels each command on its instances. Best effort: commands that
// no longer exist or endpoints without CancelCommand are not errors; other
// failures are joined.
func (r *commandRunner) Cancel(ctx context.Context, commandByInstance map[string]string) error {
	byCommand := map[string][]string{}
	for inst, cmd := range commandByInstance {
		byCommand[cmd] = append(byCommand[cmd], inst)
	}
	cmds := sortedKeys(byCommand)
	errs := make([]error, len(cmds))
	tasks := make([]func(context.Context) error, len(cmds))
	for i, cmd := range cmds {
		tasks[i] = func(ctx context.Context) error {
			if r.c.cancelUnsupported.Load() {
				return nil
			}
			in := &ssm.CancelCommandInput{CommandId: aws.String(cmd), InstanceIds: byCommand[cmd]}
			_, err := r.c.ssm.CancelCommand(ctx, in, singleAttempt)
			if err != nil && isNotImplemented(err) {
				r.c.cancelUnsupported.Store(true)
				return nil
			}
			if isRetryable(err) {
				// The probe met an ordinary transient failure: retry properly.
				_, err = r.c.ssm.CancelCommand(ctx, in)
			}
			if err == nil {
				return nil
			}
			if terr := translate("ssm", "CancelCommand", err); !errors.Is(terr, rollout.ErrNotFound) {
				errs[i] = terr
			}
			return nil
		}
	}
	if len(tasks) > 0 {
		_ = concurrently(ctx, tasks) // each keeps its own error
	}
	if r.c.cancelUnsupported.Load() {
		return nil
	}
	return errors.Join(errs...)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary.
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
