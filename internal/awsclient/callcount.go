package awsclient

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/aws/smithy-go/middleware"
)

// callCounter counts API calls per operation name ("RegisterTargets"). It is
// an Initialize-step middleware, so one logical call counts once however
// many attempts the retryer makes: benchmarks compare our batching, not the
// SDK's retries. Counting is an atomic add on a counter created once per
// operation name.
type callCounter struct {
	mu       sync.Mutex
	counters map[string]*atomic.Int64 // operation name -> calls
}

func (c *callCounter) add(op string) {
	c.mu.Lock()
	n, ok := c.counters[op]
	if !ok {
		if c.counters == nil {
			c.counters = map[string]*atomic.Int64{}
		}
		n = new(atomic.Int64)
		c.counters[op] = n
	}
	c.mu.Unlock()
	n.Add(1)
}

func (c *callCounter) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.counters))
	for op, n := range c.counters {
		out[op] = int(n.Load())
	}
	return out
}

func (c *callCounter) ID() string { return "rollingCallCounter" }

func (c *callCounter) HandleInitialize(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
	c.add(middleware.GetOperationName(ctx))
	return next.HandleInitialize(ctx, in)
}

func (c *callCounter) register(stack *middleware.Stack) error {
	return stack.Initialize.Add(c, middleware.Before)
}
