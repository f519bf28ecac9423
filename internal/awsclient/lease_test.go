package awsclient

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/rollout"
)

// The lease protocol over Parameter Store, with the real SDK over HTTP
// against the simulator (which serves Parameter Store's versions and
// ParameterAlreadyExists) and, where marked, against moto.

func leaseValue(rollout string) LeaseValue {
	return LeaseValue{RolloutID: rollout, Origin: "test:" + rollout, Process: "p-" + rollout,
		TargetGroups: []string{"arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/1"}, TTL: "5m"}
}

func TestLease_createIsExclusiveAndNamesTheHolder(t *testing.T) {
	_, c, _ := newSim(t, nil)
	ctx := testContext(t)
	name := LeaseName("web-1")
	a, err := c.CreateLease(ctx, name, leaseValue("r-a"))
	if err != nil {
		t.Fatal(err)
	}
	if a.Version() != 1 {
		t.Errorf("a created lease has version %d, want 1", a.Version())
	}
	if _, err := c.CreateLease(ctx, name, leaseValue("r-b")); !errors.Is(err, ErrLeaseHeld) {
		t.Fatalf("a second create: %v, want ErrLeaseHeld", err)
	}
	rec, err := c.ReadLease(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Value.RolloutID != "r-a" || rec.Version != 1 || rec.Unreadable || rec.Modified.IsZero() {
		t.Errorf("the lease reads %+v, want r-a's version 1 with its modification time", rec)
	}
}

func TestLease_renewalsKeepTheLeaseUntilATakeoverWhichTheHolderNotices(t *testing.T) {
	_, c, _ := newSim(t, nil)
	ctx := testContext(t)
	name := LeaseName("web-2")
	a, err := c.CreateLease(ctx, name, leaseValue("r-a"))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := a.Renew(ctx, time.Now()); err != nil {
			t.Fatalf("renewal %d: %v", i+1, err)
		}
	}
	if a.Version() != 4 {
		t.Errorf("after three renewals the version is %d, want 4", a.Version())
	}
	stale, _ := c.ReadLease(ctx, name)
	b, err := c.TakeOverLease(ctx, stale, leaseValue("r-b"))
	if err != nil {
		t.Fatalf("takeover of a lease nobody renewed since: %v", err)
	}
	err = a.Renew(ctx, time.Now())
	var lost *LeaseLostError
	if !errors.As(err, &lost) || !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("the old holder's renewal after the takeover: %v, want a LeaseLostError", err)
	}
	if lost.Now == nil || lost.Now.Value.RolloutID != "r-a" && lost.Now.Value.RolloutID != "r-b" {
		t.Errorf("the loss does not say who holds the lease now: %+v", lost)
	}
	// The old holder's last write is a loser's: the new holder keeps it.
	if err := b.Renew(ctx, time.Now()); err != nil {
		t.Fatalf("the new holder's renewal after the old holder's stray write: %v", err)
	}
	if rec, _ := c.ReadLease(ctx, name); rec.Value.RolloutID != "r-b" {
		t.Errorf("after the new holder's renewal the lease names %s", rec.Value.RolloutID)
	}
}

func TestLease_aTakeoverLosesToTheHoldersRenewal(t *testing.T) {
	_, c, _ := newSim(t, nil)
	ctx := testContext(t)
	name := LeaseName("web-3")
	a, _ := c.CreateLease(ctx, name, leaseValue("r-a"))
	seen, _ := c.ReadLease(ctx, name)
	if err := a.Renew(ctx, time.Now()); err != nil { // alive after all
		t.Fatal(err)
	}
	if _, err := c.TakeOverLease(ctx, seen, leaseValue("r-b")); !errors.Is(err, ErrLeaseHeld) {
		t.Fatalf("a takeover of a version the holder has renewed since: %v, want ErrLeaseHeld", err)
	}
	if err := a.Renew(ctx, time.Now()); err != nil {
		t.Fatalf("the holder lost its lease to a takeover that lost: %v", err)
	}
}

// Any number of takers of one stale version: exactly one wins, and the
// others' writes do not disturb the winner.
func TestLease_ofConcurrentTakersExactlyOneWins(t *testing.T) {
	_, c, _ := newSim(t, nil)
	ctx := testContext(t)
	name := LeaseName("web-4")
	old, _ := c.CreateLease(ctx, name, leaseValue("r-old"))
	stale, _ := c.ReadLease(ctx, name)
	const takers = 6
	var (
		mu      sync.Mutex
		winners []*Lease
		wg      sync.WaitGroup
	)
	for i := 0; i < takers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := c.TakeOverLease(ctx, stale, leaseValue(fmt.Sprintf("r-%d", i)))
			if err != nil && !errors.Is(err, ErrLeaseHeld) {
				t.Errorf("taker %d: %v", i, err)
			}
			if err == nil {
				mu.Lock()
				winners = append(winners, l)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(winners) != 1 {
		t.Fatalf("%d takers won, want exactly 1", len(winners))
	}
	if err := winners[0].Renew(ctx, time.Now()); err != nil {
		t.Fatalf("the winner's renewal after the losers wrote: %v", err)
	}
	if err := old.Renew(ctx, time.Now()); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("the old holder's renewal: %v, want ErrLeaseLost", err)
	}
	if err := winners[0].Renew(ctx, time.Now()); err != nil {
		t.Fatalf("the winner's renewal after the old holder's stray write: %v", err)
	}
}

// Versions start again at 1 when a parameter is deleted and created again:
// a holder must not take someone else's version 1 for its own.
func TestLease_aDeletedAndRecreatedLeaseIsLostNotRenewed(t *testing.T) {
	_, c, _ := newSim(t, nil)
	ctx := testContext(t)
	name := LeaseName("web-5")
	a, _ := c.CreateLease(ctx, name, leaseValue("r-a"))
	if _, err := c.ssm.DeleteParameter(ctx, &ssm.DeleteParameterInput{Name: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	b, err := c.CreateLease(ctx, name, leaseValue("r-b"))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Renew(ctx, time.Now()); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("renewal of a lease deleted and created again by another: %v, want ErrLeaseLost", err)
	}
	if err := b.Renew(ctx, time.Now()); err != nil {
		t.Fatalf("the new holder's renewal: %v", err)
	}
	// Deleted and not created again: the renewal recreates it (SSM's
	// overwrite creates), which must still count as lost.
	if _, err := c.ssm.DeleteParameter(ctx, &ssm.DeleteParameterInput{Name: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	if err := b.Renew(ctx, time.Now()); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("renewal of a deleted lease: %v, want ErrLeaseLost", err)
	}
}

func TestLease_releaseDeletesOnlyOurOwnLatestWrite(t *testing.T) {
	_, c, _ := newSim(t, nil)
	ctx := testContext(t)
	name := LeaseName("web-6")
	a, _ := c.CreateLease(ctx, name, leaseValue("r-a"))
	stale, _ := c.ReadLease(ctx, name)
	b, err := c.TakeOverLease(ctx, stale, leaseValue("r-b"))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Release(ctx); err != nil {
		t.Fatalf("releasing a lease taken over: %v", err)
	}
	if rec, err := c.ReadLease(ctx, name); err != nil || rec.Value.RolloutID != "r-b" {
		t.Fatalf("the old holder's release removed the new holder's lease: %+v, %v", rec, err)
	}
	if err := b.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadLease(ctx, name); !errors.Is(err, rollout.ErrNotFound) {
		t.Fatalf("after the holder's release the lease reads: %v, want ErrNotFound", err)
	}
	if err := b.Release(ctx); err != nil {
		t.Fatalf("a second release: %v", err)
	}
}

func TestLease_listReadsEveryLeasePageByPage(t *testing.T) {
	_, c, _ := newSim(t, nil)
	ctx := testContext(t)
	want := map[string]bool{}
	for i := 0; i < 23; i++ {
		name := LeaseName(fmt.Sprintf("tg-%02d", i))
		if _, err := c.CreateLease(ctx, name, leaseValue(fmt.Sprintf("r-%d", i))); err != nil {
			t.Fatal(err)
		}
		want[name] = true
	}
	// Not a lease, and not under the path: neither breaks the listing.
	for _, n := range []string{LeasePath + "/junk", "/rolling/other"} {
		if _, err := c.ssm.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(n), Value: aws.String("x"), Type: "String"}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := c.ListLeases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	unreadable := 0
	for _, rec := range got {
		if rec.Unreadable {
			unreadable++
			continue
		}
		delete(want, rec.Name)
	}
	if len(want) != 0 || unreadable != 1 || len(got) != 24 {
		t.Errorf("listed %d leases (%d unreadable), missing %v", len(got), unreadable, want)
	}
}

func TestLease_valueTooLargeForTheStandardTierIsRefusedBeforeAnyCall(t *testing.T) {
	sim, c, _ := newSim(t, nil)
	v := leaseValue("r-a")
	for i := 0; i < 300; i++ {
		v.InstanceIDs = append(v.InstanceIDs, fmt.Sprintf("i-%017x", i))
	}
	if _, err := c.CreateLease(testContext(t), LeaseName("big"), v); err == nil {
		t.Fatal("a 7 KB lease value was accepted")
	}
	if n := sim.Recorder().CallCount()["PutParameter"]; n != 0 {
		t.Errorf("%d PutParameter calls for a value that cannot fit", n)
	}
}

// Conformance: the same protocol against moto's Parameter Store.
func TestLease_moto(t *testing.T) {
	c := motoClient(t)
	ctx := context.Background()
	name := LeaseName(uniqueName("moto"))
	a, err := c.CreateLease(ctx, name, leaseValue("r-a"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Release(context.Background()) })
	if _, err := c.CreateLease(ctx, name, leaseValue("r-b")); !errors.Is(err, ErrLeaseHeld) {
		t.Fatalf("a second create: %v, want ErrLeaseHeld", err)
	}
	if err := a.Renew(ctx, time.Now()); err != nil {
		t.Fatalf("renewal: %v", err)
	}
	stale, err := c.ReadLease(ctx, name)
	if err != nil || stale.Version != 2 || stale.Value.RolloutID != "r-a" {
		t.Fatalf("read: %+v, %v", stale, err)
	}
	b, err := c.TakeOverLease(ctx, stale, leaseValue("r-b"))
	if err != nil {
		t.Fatalf("takeover: %v", err)
	}
	if err := a.Renew(ctx, time.Now()); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("the old holder's renewal: %v, want ErrLeaseLost", err)
	}
	if err := b.Renew(ctx, time.Now()); err != nil {
		t.Fatalf("the new holder's renewal: %v", err)
	}
	found := false
	leases, err := c.ListLeases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range leases {
		found = found || rec.Name == name && rec.Value.RolloutID == "r-b"
	}
	if !found {
		t.Errorf("ListLeases does not list %s held by r-b: %+v", name, leases)
	}
	if err := b.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadLease(ctx, name); !errors.Is(err, rollout.ErrNotFound) {
		t.Fatalf("after release: %v, want ErrNotFound", err)
	}
}
