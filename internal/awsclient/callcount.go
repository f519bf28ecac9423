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
	counters sync.Map // operation name -> *atomic.Int64
}

func (c *callCounter) add(op string) {
	v, ok := c.counters.Load(op)
	if !ok {
		v, _ = c.counters.LoadOrStore(op, new(atomic.Int64))
	}
	v.(*atomic.Int64).Add(1)
}

func (c *callCounter) snapshot() map[string]int {
	out := map[string]int{}
	c.counters.Range(func(k, v any) bool {
		out[k.(string)] = int(v.(*atomic.Int64).Load())
		return true
	})
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
