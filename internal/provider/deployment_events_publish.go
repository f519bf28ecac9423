package provider

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/awsclient"
	"github.com/rollingdeploy/terraform-provider-rolling/internal/rollout"
)

// eventPutter is awsclient's PutEvents, the publisher's one AWS call.
type eventPutter func(ctx context.Context, bus string, events []awsclient.Event) ([]awsclient.EventResult, error)

const (
	// publishQueue bounds the events waiting to be sent. A rollout emits
	// a handful per batch; a full queue means EventBridge is far behind,
	// and events are then dropped (and counted) rather than waited for.
	publishQueue = 512
	// publishRounds: a batch of events is sent at most this many times
	// (each with the SDK's own few attempts), publishBackoff apart and
	// doubling, then what is left is given up with a warning.
	publishRounds  = 3
	publishBackoff = time.Second
	// publishFlushWait bounds how long the end of an apply waits for the
	// events still queued.
	publishFlushWait = 30 * time.Second
)

// eventPublisher sends events from its own goroutine, in order, batched as
// they queue up, so that the rollout never waits for EventBridge.
type eventPublisher struct {
	bus   string
	put   eventPutter
	clock rollout.Clock
	queue chan awsclient.Event
	done  chan struct{}

	mu       sync.Mutex
	queued   int
	sent     int
	dropped  int
	failed   int
	problems map[string]int // distinct failure -> events it cost
	closed   bool
	// broken is set by an answer that will not change for this rollout (no
	// permission, no such bus): later events are not sent at all.
	broken string
}

// newEventPublisher starts publishing to bus on a context that a Ctrl-C
// does not cancel: the cancellation is an event worth sending too; the
// flush in close bounds the wait instead.
func newEventPublisher(ctx context.Context, bus string, put eventPutter, clk rollout.Clock) *eventPublisher {
	p := &eventPublisher{bus: bus, put: put, clock: clk, queue: make(chan awsclient.Event, publishQueue),
		done: make(chan struct{}), problems: map[string]int{}}
	go p.run(context.WithoutCancel(ctx))
	return p
}

// publish queues an event; it never blocks.
func (p *eventPublisher) publish(e awsclient.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		p.dropped++
		return
	}
	select {
	case p.queue <- e:
		p.queued++
	default:
		p.dropped++
	}
}

func (p *eventPublisher) run(ctx context.Context) {
	defer close(p.done)
	for e := range p.queue {
		batch := []awsclient.Event{e}
		for more := true; more && len(batch) < 10; {
			select {
			case next, ok := <-p.queue:
				if !ok {
					more = false
					break
				}
				batch = append(batch, next)
			default:
				more = false
			}
		}
		p.send(ctx, batch)
	}
}

// send publishes a batch, retrying what AWS says is worth retrying.
func (p *eventPublisher) send(ctx context.Context, batch []awsclient.Event) {
	p.mu.Lock()
	broken := p.broken
	p.mu.Unlock()
	if broken != "" {
		p.fail(broken, len(batch))
		return
	}
	wait := publishBackoff
	for round := 1; ; round++ {
		results, err := p.put(ctx, p.bus, batch)
		var retry []awsclient.Event
		var lastProblem string
		for i, e := range batch {
			r := awsclient.EventResult{}
			if i < len(results) {
				r = results[i]
			}
			switch {
			case r.ID != "":
				p.count(func() { p.sent++ })
			case r.Code == "" && err != nil && callRetryable(err):
				retry, lastProblem = append(retry, e), err.Error()
			case r.Code == "" && err != nil:
				p.fail(err.Error(), 1)
				p.count(func() { p.broken = err.Error() })
			case r.Retryable():
				retry, lastProblem = append(retry, e), r.Code+": "+r.Message
			default:
				p.fail(r.Code+": "+r.Message, 1)
			}
		}
		if len(retry) == 0 {
			return
		}
		if round == publishRounds {
			p.fail(lastProblem, len(retry))
			return
		}
		select {
		case <-p.clock.After(wait):
		case <-ctx.Done():
			p.fail(lastProblem, len(retry))
			return
		}
		batch, wait = retry, 2*wait
	}
}

// callRetryable: throttling, server and transport errors pass; a denial, a
// bus that does not exist or a refused request fails the same way again.
func callRetryable(err error) bool {
	var aerr *awsclient.Error
	if errors.Is(err, awsclient.ErrAccessDenied) || errors.Is(err, rollout.ErrNotFound) {
		return false
	}
	if errors.As(err, &aerr) && (aerr.Code == "ValidationException" || strings.HasSuffix(aerr.Code, "ClientTokenId")) {
		return false
	}
	return true
}

func (p *eventPublisher) count(fn func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fn()
}

func (p *eventPublisher) fail(problem string, n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failed += n
	p.problems[problem] += n
}

// close stops taking events, waits at most wait for those queued to be
// sent, and says in one warning what did not reach the bus ("" when
// everything did).
func (p *eventPublisher) close(clk rollout.Clock, wait time.Duration) string {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.queue)
	}
	p.mu.Unlock()
	late := false
	select {
	case <-p.done:
	case <-clk.After(wait):
		late = true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	lost := p.queued + p.dropped - p.sent
	if lost == 0 {
		return ""
	}
	bus := p.bus
	if bus == "" {
		bus = "default"
	}
	var why []string
	for problem, n := range p.problems {
		why = append(why, fmt.Sprintf("%s (%s)", problem, countOf(n, "event")))
	}
	sort.Strings(why)
	if p.dropped > 0 {
		why = append(why, fmt.Sprintf("%s dropped: EventBridge answered too slowly for the rollout's pace", countOf(p.dropped, "event")))
	}
	if late {
		why = append(why, fmt.Sprintf("the last events were still being sent after %s and were given up", formatDuration(wait)))
	}
	total := p.queued + p.dropped
	head := fmt.Sprintf("%d of %d events did not reach event bus %s", lost, total, bus)
	if lost == total {
		head = fmt.Sprintf("No event reached event bus %s (%s)", bus, countOf(total, "event"))
	}
	return head + "; the rollout itself was not affected.\n\n" + strings.Join(why, "\n")
}
