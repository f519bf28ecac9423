package clock

import (
	"testing"
	"time"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestFake_afterFiresOnlyOnceAdvancedPastDeadline(t *testing.T) {
	f := NewFake(epoch)
	ch := f.After(10 * time.Second)
	f.Advance(9 * time.Second)
	select {
	case <-ch:
		t.Fatal("fired 1s early")
	default:
	}
	f.Advance(time.Second)
	select {
	case got := <-ch:
		if !got.Equal(epoch.Add(10 * time.Second)) {
			t.Fatalf("fired with %v, want deadline time", got)
		}
	default:
		t.Fatal("did not fire at its deadline")
	}
	if f.Waiters() != 0 {
		t.Fatalf("fired waiter still pending: %d", f.Waiters())
	}
}

func TestFake_nonPositiveDurationFiresImmediately(t *testing.T) {
	f := NewFake(epoch)
	select {
	case <-f.After(0):
	default:
		t.Fatal("After(0) did not fire")
	}
}

func TestFake_afterCallsReportsDeadlinesInOrder(t *testing.T) {
	f := NewFake(epoch)
	f.After(3 * time.Second)
	f.After(time.Second)
	if got := <-f.AfterCalls(); !got.Equal(epoch.Add(3 * time.Second)) {
		t.Fatalf("first call deadline %v", got)
	}
	if got := <-f.AfterCalls(); !got.Equal(epoch.Add(time.Second)) {
		t.Fatalf("second call deadline %v", got)
	}
	if d, ok := f.NextDeadline(); !ok || !d.Equal(epoch.Add(time.Second)) {
		t.Fatalf("NextDeadline = %v %v", d, ok)
	}
}

func TestFake_blockUntilReturnsOnceEnoughWaiters(t *testing.T) {
	f := NewFake(epoch)
	done := make(chan struct{})
	go func() {
		f.BlockUntil(2)
		close(done)
	}()
	f.After(time.Second)
	select {
	case <-done:
		t.Fatal("returned with one waiter")
	case <-time.After(20 * time.Millisecond):
	}
	f.After(time.Second)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("did not return with two waiters")
	}
}

func TestFake_advanceToNeverMovesBackwards(t *testing.T) {
	f := NewFake(epoch)
	f.AdvanceTo(epoch.Add(-time.Hour))
	if !f.Now().Equal(epoch) {
		t.Fatalf("moved backwards to %v", f.Now())
	}
}

func TestScaled_simulatedTimeRunsFasterThanWallTime(t *testing.T) {
	c := Scaled(0.001) // 1 ms of wall time per simulated second
	start := c.Now()
	wallStart := time.Now()
	<-c.After(20 * time.Second)
	wall := time.Since(wallStart)
	if wall > 2*time.Second {
		t.Fatalf("20 simulated seconds took %v of wall time", wall)
	}
	if sim := c.Now().Sub(start); sim < 20*time.Second {
		t.Fatalf("only %v simulated after After(20s)", sim)
	}
}

func TestScaled_nonPositiveScaleIsRealTime(t *testing.T) {
	c := Scaled(0)
	before := time.Now()
	now := c.Now()
	if d := now.Sub(before); d < -time.Second || d > time.Second {
		t.Fatalf("scale 0 clock reads %v, wall %v", now, before)
	}
}

func TestReal_readsWallTime(t *testing.T) {
	if d := time.Since(Real().Now()); d < 0 || d > time.Second {
		t.Fatalf("Real().Now() off by %v", d)
	}
	select {
	case <-Real().After(time.Millisecond):
	case <-time.After(5 * time.Second):
		t.Fatal("Real().After did not fire")
	}
}
