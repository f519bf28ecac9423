package provider

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/awsclient"
	"github.com/rollingdeploy/terraform-provider-rolling/internal/rollout"
)

// heldLease is a lease this apply holds: renewed in its own goroutine until
// release. A nil *heldLease (no lease needed) releases nothing.
type heldLease struct {
	lease  *awsclient.Lease
	clock  rollout.Clock
	ttl    time.Duration
	cancel context.CancelCauseFunc
	stop   chan struct{}
	done   chan struct{}

	mu   sync.Mutex
	lost error // why the rollout was stopped, nil while held
}

// renewLoop renews every TTL/3. A renewal that finds the lease taken, or
// none confirmed for TTL/2 (then a taker may be one TTL/2 away), stops the
// rollout through the context: the engine lets nothing more leave and puts
// in-flight instances back. A renewal that is merely late (a busy machine)
// and then confirms is not a loss.
func (h *heldLease) renewLoop(ctx context.Context) {
	defer close(h.done)
	interval, retry := h.ttl/3, h.ttl/12
	confirmed := h.clock.Now()
	wait := interval
	for {
		select {
		case <-h.stop:
			return
		case <-h.clock.After(wait):
		}
		start := h.clock.Now()
		callCtx, cancel := context.WithTimeout(ctx, wallDuration(h.clock, h.ttl/4))
		err := h.lease.Renew(callCtx, start.UTC())
		cancel()
		switch {
		case err == nil:
			confirmed, wait = start, interval
			tflog.Debug(ctx, "rollout lease renewed", map[string]any{"lease": h.lease.Name(), "version": h.lease.Version()})
			continue
		case errors.Is(err, awsclient.ErrLeaseLost):
			h.fail(err)
			return
		}
		tflog.Warn(ctx, "cannot renew the rollout lease", map[string]any{"lease": h.lease.Name(), "error": err.Error()})
		if h.clock.Now().Sub(confirmed) >= h.ttl/2 {
			h.fail(fmt.Errorf("no renewal confirmed for %s (half its TTL of %s): %w", formatDuration(h.clock.Now().Sub(confirmed)), h.ttl, err))
			return
		}
		wait = retry
	}
}

func (h *heldLease) fail(err error) {
	h.mu.Lock()
	h.lost = err
	h.mu.Unlock()
	h.cancel(fmt.Errorf("rollout lease: %w", err))
}

// release stops renewing and deletes the lease if it is still ours, on a
// context that is not cancelled: also after a failure, a rollback or a
// cancellation.
func (h *heldLease) release(ctx context.Context, diags *diag.Diagnostics) {
	if h == nil {
		return
	}
	select {
	case <-h.stop:
		return // released already
	default:
	}
	close(h.stop)
	<-h.done
	defer liveLeases.add(h.lease.Value().Process, -1)
	ctx = context.WithoutCancel(ctx)
	h.mu.Lock()
	lost := h.lost
	h.mu.Unlock()
	defer h.cancel(context.Canceled)
	if err := h.lease.Release(ctx); err != nil {
		diags.AddWarning("Cannot release the rollout lease", fmt.Sprintf("%v\n\nThe lease %s stays until it expires "+
			"(%s after its last renewal; an apply from this working directory and workspace takes it over at once). "+
			"Once nothing runs on these instances you can also delete it: aws ssm delete-parameter --name %s",
			err, h.lease.Name(), h.ttl, h.lease.Name()))
	} else {
		tflog.Info(ctx, "rollout lease released", map[string]any{"lease": h.lease.Name()})
	}
	if lost == nil {
		return
	}
	var taken *awsclient.LeaseLostError
	holder := ""
	if errors.As(lost, &taken) && taken.Now != nil && taken.Now.Value.Write != h.lease.Value().Write {
		holder = "\n\nThe lease now reads: " + describeHolder(*taken.Now)
	}
	diags.AddError("The rollout lost its lease",
		fmt.Sprintf("%v.%s\n\nThe rollout was stopped like a cancellation: no instance left after that, and those out of "+
			"service were put back. Another rollout may be working on these instances now; apply again when it is done "+
			"(the plan shows what is left).", lost, holder))
}

// wallDuration converts a duration of the rollout's clock to wall time for a
// context deadline (the simulator's clock runs faster), with a floor that a
// busy machine's scheduling cannot undercut.
func wallDuration(c rollout.Clock, d time.Duration) time.Duration {
	if s, ok := c.(interface{ Scale() float64 }); ok {
		d = time.Duration(float64(d) * s.Scale())
	}
	return max(d, 5*time.Second)
}

// leaseBlocker is a live lease in the way: this scope's own, or another
// scope's that reaches some of our instances.
type leaseBlocker struct {
	rec       awsclient.LeaseRecord
	sameScope bool
	overlap   []string // our instances it reaches (another scope's lease)
}

// leaseHeldError is why an apply cannot take its lease, for the user.
type leaseHeldError struct {
	rec       *leaseBlocker
	name      string
	waited    time.Duration
	cancelled bool
}

func (e *leaseHeldError) Error() string { return "the lease " + e.name + " is held" }

// detail names the holder and says what to do.
func (e *leaseHeldError) detail(region string) string {
	var b strings.Builder
	b.WriteString("Nothing was changed: a rollout takes its lease before its first change.\n\n")
	if e.rec == nil {
		fmt.Fprintf(&b, "The lease %s kept changing hands; apply again.", e.name)
		return b.String()
	}
	rec := e.rec.rec
	if e.rec.sameScope {
		fmt.Fprintf(&b, "The lease on these target groups and instances (%s) is held by %s", rec.Name, describeHolder(rec))
	} else {
		fmt.Fprintf(&b, "%s of this fleet %s also covered by the lease %s, held by %s", countInstances(e.rec.overlap),
			isAre(len(e.rec.overlap)), rec.Name, describeHolder(rec))
	}
	switch {
	case e.cancelled:
		b.WriteString("\n\nThe apply was interrupted while waiting for it.")
	case e.waited > 0:
		fmt.Fprintf(&b, "\n\nWaited %s (lease.wait) for it.", e.waited)
	}
	if rec.Unreadable {
		fmt.Fprintf(&b, "\n\nThe parameter %s is not a lease written by this provider. Delete it if nothing uses it:\n"+
			"  aws ssm delete-parameter --region %s --name %s", rec.Name, region, rec.Name)
		return b.String()
	}
	ttl := leaseTTL(rec.Value)
	fmt.Fprintf(&b, "\n\nWhat to do:\n"+
		"  - If that rollout is still running, let it finish and apply again, or set lease { wait = \"30m\" } to wait for it.\n"+
		"  - If its run is gone for good (a killed CI job, a lost machine), its lease expires %s after its last renewal: "+
		"an apply whose lease.wait is longer than that sees it expire and takes it over. An apply from the same working "+
		"directory and workspace (or HCP Terraform workspace) as the holder takes it over at once.\n"+
		"  - To break it now, make sure nothing runs on these instances, then delete it:\n"+
		"      aws ssm delete-parameter --region %s --name %s", ttl, region, rec.Name)
	return b.String()
}

// describeHolder is one line about who holds a lease.
func describeHolder(rec awsclient.LeaseRecord) string {
	if rec.Unreadable {
		return fmt.Sprintf("an unknown writer (version %d, last modified %s)", rec.Version, rec.Modified.UTC().Format(time.RFC3339))
	}
	v := rec.Value
	var who []string
	if v.Run != "" {
		who = append(who, "run "+v.Run)
	}
	if v.Host != "" {
		who = append(who, fmt.Sprintf("host %s, pid %d", v.Host, v.PID))
	}
	s := fmt.Sprintf("rollout %s from %s", v.RolloutID, v.Origin)
	if len(who) > 0 {
		s += " (" + strings.Join(who, "; ") + ")"
	}
	// Both times are the holder's clock, so that they compare with each
	// other (Parameter Store's LastModifiedDate is another clock).
	s += fmt.Sprintf(", over %s, since %s", strings.Join(v.TargetGroups, ", "), v.AcquiredAt.UTC().Format(time.RFC3339))
	if v.RenewedAt.After(v.AcquiredAt) {
		s += fmt.Sprintf(", last renewed %s", v.RenewedAt.UTC().Format(time.RFC3339))
	}
	return s + fmt.Sprintf(" (TTL %s)", leaseTTL(v))
}

func countInstances(ids []string) string {
	const shown = 5
	if len(ids) <= shown {
		return listIDs(ids)
	}
	return fmt.Sprintf("%s and %d more", listIDs(ids[:shown]), len(ids)-shown)
}
