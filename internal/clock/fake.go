package clock

import (
	"sort"
	"sync"
	"time"
)

// Fake is a clock that only moves when told to. Tests drive code that waits
// on After either by advancing by hand (Advance, BlockUntil) or by following
// the code's own waits (AfterCalls, AdvanceTo): a single-goroutine loop that
// calls After once per iteration can be simulated exactly, with no real
// sleeping, by advancing to each deadline as it is requested.
type Fake struct {
	mu      sync.Mutex
	cond    *sync.Cond
	now     time.Time
	waiters []*waiter
	calls   chan time.Time
}

type waiter struct {
	deadline time.Time
	ch       chan time.Time
}

// afterCallsBuffer bounds how many unread After deadlines AfterCalls keeps;
// beyond it they are dropped so that code under test never blocks on a test
// that does not read them.
const afterCallsBuffer = 4096

// NewFake returns a fake clock reading start.
func NewFake(start time.Time) *Fake {
	f := &Fake{now: start, calls: make(chan time.Time, afterCallsBuffer)}
	f.cond = sync.NewCond(&f.mu)
	return f
}

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// After returns a channel that receives the fake time once the clock has been
// advanced by at least d. A non-positive d fires at once.
func (f *Fake) After(d time.Duration) <-chan time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan time.Time, 1)
	deadline := f.now.Add(d)
	select {
	case f.calls <- deadline:
	default:
	}
	if d <= 0 {
		ch <- f.now
		return ch
	}
	f.waiters = append(f.waiters, &waiter{deadline: deadline, ch: ch})
	f.cond.Broadcast()
	return ch
}

// AfterCalls delivers the deadline of every After call, in call order
// (including calls with d <= 0, which fire at once).
func (f *Fake) AfterCalls() <-chan time.Time { return f.calls }

// Advance moves the clock forward by d and fires every waiter that is due.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.setLocked(f.now.Add(d))
}

// AdvanceTo moves the clock to t (never backwards) and fires every waiter
// that is due.
func (f *Fake) AdvanceTo(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t.After(f.now) {
		f.setLocked(t)
	} else {
		f.setLocked(f.now)
	}
}

func (f *Fake) setLocked(t time.Time) {
	f.now = t
	kept := f.waiters[:0]
	for _, w := range f.waiters {
		if !w.deadline.After(t) {
			w.ch <- t
			continue
		}
		kept = append(kept, w)
	}
	// Clear the tail so fired waiters can be collected.
	for i := len(kept); i < len(f.waiters); i++ {
		f.waiters[i] = nil
	}
	f.waiters = kept
	f.cond.Broadcast()
}

// Waiters reports how many After channels have not fired yet.
func (f *Fake) Waiters() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.waiters)
}

// BlockUntil blocks until at least n After channels are pending.
func (f *Fake) BlockUntil(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for len(f.waiters) < n {
		f.cond.Wait()
	}
}

// NextDeadline returns the earliest pending deadline.
func (f *Fake) NextDeadline() (time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.waiters) == 0 {
		return time.Time{}, false
	}
	ds := make([]time.Time, len(f.waiters))
	for i, w := range f.waiters {
		ds[i] = w.deadline
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i].Before(ds[j]) })
	return ds[0], true
}
