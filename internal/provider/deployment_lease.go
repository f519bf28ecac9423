package provider

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	mathrand "math/rand/v2"
	"os"
	"path/filepath"
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

// One rollout at a time per instance. Before its first mutating call an
// apply takes a lease on its fleet (awsclient/lease.go holds the protocol),
// renews it while the rollout runs and releases it whatever the outcome; a
// rollout that finds the lease held fails, or waits up to lease.wait.
//
// Coverage. The lease is one parameter per scope (target groups +
// instance_ids), so two runs of one configuration exclude each other by
// the atomic create alone. Scopes that differ can still share instances
// (two target groups with a common instance, or instance_ids subsets), so
// after taking its own lease an apply lists every lease and backs off when
// another one, live, reaches one of its instances. Both of two such applies
// may back off (each saw the other): never both proceed. One lease per
// instance would make exclusion atomic everywhere, but costs a write per
// instance per renewal: 1,000 instances would need more PutParameter calls
// than Parameter Store's default throughput allows.
//
// Staleness is judged without comparing clocks: a lease is stale when
//   - it comes from our own origin (this working directory and workspace on
//     this host, or this HCP Terraform workspace) and its run has ended: its
//     provider process is gone from this host, or its HCP run id is another
//     (see leftByEndedRun); a SIGKILL, a crashed runner; or
//   - this apply has watched it go unrenewed for its holder's TTL, measured
//     on our own clock, as the DynamoDB lock client does.
// Holders renew every TTL/3 and stop their rollout (a cancellation: nothing
// more leaves, in-flight instances are put back) when a renewal finds the
// lease taken, or when none has been confirmed for TTL/2.

const (
	defaultLeaseTTL = 5 * time.Minute
	// maxLeaseValueBytes leaves room under Parameter Store's 4 KB for
	// what the value holds beside instance_ids.
	maxLeaseValueBytes = 3500
)

type leaseModel struct {
	Wait types.String `tfsdk:"wait"`
	TTL  types.String `tfsdk:"ttl"`
}

// leaseSettings are lease.wait and lease.ttl with their defaults.
func (m deploymentModel) leaseSettings(ctx context.Context) (wait, ttl time.Duration) {
	var l leaseModel
	if !m.LeaseBlock.IsNull() && !m.LeaseBlock.IsUnknown() {
		_ = m.LeaseBlock.As(ctx, &l, basetypes.ObjectAsOptions{UnhandledNullAsEmpty: true, UnhandledUnknownAsEmpty: true})
	}
	return parseDuration(l.Wait, 0), parseDuration(l.TTL, defaultLeaseTTL)
}

// leaseBook is what one provider configuration (one Terraform run) knows of
// leases: the token that tells its leases from those of earlier runs, and
// the scopes planned so far (for the overlap warning).
type leaseBook struct {
	once    sync.Once
	process string

	mu      sync.Mutex
	planned []plannedScope
}

func (b *leaseBook) token() string {
	b.once.Do(func() {
		var raw [8]byte
		_, _ = rand.Read(raw[:])
		b.process = hex.EncodeToString(raw[:])
	})
	return b.process
}

// leaseOrigin names where this run comes from, and the HCP Terraform run id.
func leaseOrigin() (origin, run string) {
	if slug := os.Getenv("TFC_WORKSPACE_SLUG"); slug != "" {
		return "HCP Terraform workspace " + slug, os.Getenv("TFC_RUN_ID")
	}
	host, _ := os.Hostname()
	dir, _ := os.Getwd() // terraform starts its providers in the working directory
	return fmt.Sprintf("%s:%s (workspace %s)", host, dir, terraformWorkspace(dir)), ""
}

// terraformWorkspace is the selected workspace: TF_WORKSPACE, else what
// `terraform workspace select` wrote in the data directory.
func terraformWorkspace(dir string) string {
	if ws := os.Getenv("TF_WORKSPACE"); ws != "" {
		return ws
	}
	data := os.Getenv("TF_DATA_DIR")
	if data == "" {
		data = ".terraform"
	}
	if !filepath.IsAbs(data) {
		data = filepath.Join(dir, data)
	}
	if raw, err := os.ReadFile(filepath.Join(data, "environment")); err == nil && strings.TrimSpace(string(raw)) != "" {
		return strings.TrimSpace(string(raw))
	}
	return "default"
}

// leaseKey names a scope's lease: the first target group's name for people
// listing /rolling/lease, and a digest of the whole scope.
func leaseKey(tgs, ids []string) string {
	sum := sha256.Sum256([]byte(fleetKey(tgs, ids)))
	name := "fleet"
	if len(tgs) > 0 {
		// arn:aws:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/ID
		if parts := strings.Split(tgs[0], "/"); len(parts) == 3 && parts[1] != "" {
			name = parts[1]
		}
	}
	return name + "-" + hex.EncodeToString(sum[:8])
}

func (r *deploymentResource) leaseValue(rolloutID string, tgs, ids []string, ttl time.Duration) awsclient.LeaseValue {
	origin, run := leaseOrigin()
	host, _ := os.Hostname()
	now := r.data.clock.Now().UTC()
	v := awsclient.LeaseValue{
		RolloutID: rolloutID, Origin: origin, Run: run, Host: host, PID: os.Getpid(), Process: r.data.leases.token(),
		TargetGroups: tgs, InstanceIDs: ids, AcquiredAt: now, RenewedAt: now, TTL: ttl.String(),
	}
	if raw, _ := json.Marshal(v); len(raw) > maxLeaseValueBytes {
		v.InstanceIDs, v.Partial = nil, true
	}
	return v
}

// rolloutMoves reports whether the apply may change anything on the fleet:
// an instance planned, or one left out of service to recover. An apply
// with nothing to do takes no lease.
func rolloutMoves(ctx context.Context, plan *deploymentModel, fleet rollout.Fleet) bool {
	if plan.PlannedBatches.IsUnknown() {
		return true
	}
	planned := map[string]bool{}
	for _, id := range plannedInstances(ctx, plan.PlannedBatches) {
		planned[id] = true
	}
	for _, inst := range fleet.Instances {
		if planned[inst.ID] || inst.Tags[rollout.TagPhase] != "" {
			return true
		}
	}
	return false
}

// takeLease takes this rollout's lease before anything changes, or adds an
// error naming its holder. It returns a context that is cancelled when the
// lease is lost, and the held lease (nil when the apply needs none). When it
// had to wait, it reads the fleet again into *fleet.
func (r *deploymentResource) takeLease(ctx context.Context, plan *deploymentModel, fleet *rollout.Fleet, rolloutID string, diags *diag.Diagnostics) (context.Context, *heldLease) {
	client := r.client()
	if client == nil || diags.HasError() || !rolloutMoves(ctx, plan, *fleet) {
		return ctx, nil
	}
	wait, ttl := plan.leaseSettings(ctx)
	tgs, ids := plan.targetGroupARNs(ctx, diags), plan.instanceIDs(ctx, diags)
	want := r.leaseValue(rolloutID, tgs, ids, ttl)
	name := awsclient.LeaseName(leaseKey(tgs, ids))
	// Known as live from before the create: another resource of this
	// process must never take our lease, while we check for overlaps, for
	// one left by an ended run.
	liveLeases.add(want.Process, 1)
	lease, waited, err := r.acquireLease(ctx, name, want, *fleet, wait)
	if err != nil {
		liveLeases.add(want.Process, -1)
	}
	var held *leaseHeldError
	switch {
	case errors.As(err, &held):
		diags.AddError("Another rollout holds this fleet", held.detail(client.Region()))
		return ctx, nil
	case err != nil:
		diags.AddError("Cannot take the rollout lease", fmt.Sprintf("%v\n\nNothing was changed. The lease lives in SSM Parameter Store under %s; "+
			"see the IAM permissions in the rolling_deployment documentation.", err, awsclient.LeasePath))
		return ctx, nil
	}
	tflog.Info(ctx, "rollout lease taken", map[string]any{"lease": name, "version": lease.Version(), "ttl": ttl.String(), "waited": waited})
	h := &heldLease{lease: lease, clock: r.data.clock, ttl: ttl, stop: make(chan struct{}), done: make(chan struct{})}
	ctx, h.cancel = context.WithCancelCause(ctx)
	go h.renewLoop(context.WithoutCancel(ctx))
	if waited {
		// Another rollout ran meanwhile: plan what is left on the fleet as
		// it is now.
		fresh, err := r.discover(ctx, plan, diags)
		if err != nil {
			h.release(ctx, diags)
			diags.AddError("Cannot read the fleet", err.Error())
			return ctx, nil
		}
		*fleet = fresh
	}
	return ctx, h
}

// acquireLease tries until it holds the lease or wait has passed. While a
// lease is in the way it only reads that lease (one GetParameter a poll),
// and tries again when it is gone, has changed hands or has gone stale.
func (r *deploymentResource) acquireLease(ctx context.Context, name string, want awsclient.LeaseValue, fleet rollout.Fleet, wait time.Duration) (*awsclient.Lease, bool, error) {
	clk := r.data.clock
	deadline := clk.Now().Add(wait)
	seen := map[string]leaseSighting{}
	waited, quick := false, 0
	for {
		lease, blocker, err := r.tryLease(ctx, name, want, fleet, seen)
		switch {
		case err != nil:
			return nil, waited, err
		case lease != nil:
			return lease, waited, nil
		case blocker == nil && quick < 3:
			quick++ // released between our create and our read: try again now
			continue
		}
		quick = 0
		for {
			left := deadline.Sub(clk.Now())
			if blocker == nil || left <= 0 {
				return nil, waited, &leaseHeldError{rec: blocker, name: name, waited: wait}
			}
			// Poll about four times per holder TTL, jittered so that two
			// applies that backed off from each other do not meet again.
			poll := leaseTTL(blocker.rec.Value) / 4
			poll = time.Duration(float64(poll) * (0.75 + 0.5*mathrand.Float64()))
			tflog.Info(ctx, "waiting for the rollout lease", map[string]any{"lease": blocker.rec.Name, "holder": blocker.rec.Value.RolloutID, "left": left.String()})
			select {
			case <-ctx.Done():
				return nil, waited, &leaseHeldError{rec: blocker, name: name, waited: wait, cancelled: true}
			case <-clk.After(min(poll, left)):
			}
			waited = true
			if !r.stillBlocks(ctx, blocker, seen) {
				break
			}
		}
	}
}

// stillBlocks reads the lease in the way again: true while it is there,
// unchanged in holder and not stale.
func (r *deploymentResource) stillBlocks(ctx context.Context, b *leaseBlocker, seen map[string]leaseSighting) bool {
	rec, err := r.client().ReadLease(ctx, b.rec.Name)
	if err != nil {
		return false // gone, or unreadable now: let an attempt find out
	}
	if rec.Value.RolloutID != b.rec.Value.RolloutID || rec.Value.Process != b.rec.Value.Process {
		return false
	}
	b.rec = rec
	return r.staleness(rec, seen) == ""
}

// tryLease makes one attempt: the lease, or what blocks it (nil, nil, nil:
// nothing blocks, try again).
func (r *deploymentResource) tryLease(ctx context.Context, name string, want awsclient.LeaseValue, fleet rollout.Fleet, seen map[string]leaseSighting) (*awsclient.Lease, *leaseBlocker, error) {
	client := r.client()
	lease, err := client.CreateLease(ctx, name, want)
	if errors.Is(err, awsclient.ErrLeaseHeld) {
		rec, readErr := client.ReadLease(ctx, name)
		switch {
		case errors.Is(readErr, rollout.ErrNotFound):
			return nil, nil, nil
		case readErr != nil:
			return nil, nil, readErr
		}
		why := r.staleness(rec, seen)
		if why == "" {
			return nil, &leaseBlocker{rec: rec, sameScope: true}, nil
		}
		tflog.Warn(ctx, "taking over a stale rollout lease", map[string]any{"lease": name, "holder": rec.Value.RolloutID, "why": why})
		lease, err = client.TakeOverLease(ctx, rec, want)
		if errors.Is(err, awsclient.ErrLeaseHeld) {
			return nil, nil, nil // someone wrote first: read it again
		}
	}
	if err != nil {
		return nil, nil, err
	}
	blocker, err := r.overlappingLease(ctx, name, fleet, seen)
	if err != nil || blocker != nil {
		if relErr := lease.Release(context.WithoutCancel(ctx)); relErr != nil {
			tflog.Warn(ctx, "cannot release the lease after backing off", map[string]any{"lease": name, "error": relErr.Error()})
		}
		return nil, blocker, err
	}
	return lease, nil, nil
}

// leftByEndedRun reports whether a lease comes from our own origin but a
// run that has ended. Terraform's state lock lets one run of a state go at
// a time, but one run may hold several provider processes (aliases), and
// -lock=false lifts the lock; so the holder must also be gone: its HCP
// Terraform run id is not ours (HCP runs a workspace's applies one at a
// time), or its provider process no longer runs on this host (leases of
// this process are known to it).
func leftByEndedRun(v awsclient.LeaseValue) bool {
	origin, run := leaseOrigin()
	if v.Origin != origin {
		return false
	}
	if run != "" {
		return v.Run != run
	}
	if host, _ := os.Hostname(); v.Host != host {
		return false
	}
	if v.PID == os.Getpid() {
		return !liveLeases.holds(v.Process)
	}
	return !processAlive(v.PID)
}

// liveLeases are the process tokens holding a lease in this OS process:
// tests and debuggers serve many Terraform runs from one provider process.
var liveLeases leaseTokens

type leaseTokens struct {
	mu   sync.Mutex
	held map[string]int
}

func (t *leaseTokens) add(token string, n int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.held == nil {
		t.held = map[string]int{}
	}
	if t.held[token] += n; t.held[token] <= 0 {
		delete(t.held, token)
	}
}

func (t *leaseTokens) holds(token string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.held[token] > 0
}

// leaseSighting is when this apply first saw a lease's current write.
type leaseSighting struct {
	write string
	since time.Time
}

// staleness says why a lease may be taken over now, "" while it is live.
func (r *deploymentResource) staleness(rec awsclient.LeaseRecord, seen map[string]leaseSighting) string {
	if rec.Unreadable {
		return "" // not ours to judge: the error says to delete it
	}
	if leftByEndedRun(rec.Value) {
		return "left by an earlier run of this configuration, which has ended"
	}
	now := r.data.clock.Now()
	s, ok := seen[rec.Name]
	if !ok || s.write != rec.Value.Write {
		seen[rec.Name] = leaseSighting{write: rec.Value.Write, since: now}
		return ""
	}
	if ttl := leaseTTL(rec.Value); now.Sub(s.since) >= ttl {
		return fmt.Sprintf("not renewed for %s (its TTL)", formatDuration(now.Sub(s.since)))
	}
	return ""
}

func leaseTTL(v awsclient.LeaseValue) time.Duration {
	if d := v.TTLDuration(); d > 0 {
		return d
	}
	return defaultLeaseTTL
}
