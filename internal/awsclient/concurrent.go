package awsclient

import (
	"context"
	"sort"
	"sync"
)

// maxConcurrentCalls bounds the calls one adapter method has in flight at
// once: the target groups of a plan, the chunks of a batched call. AWS
// answers in 50-200 ms, so calls that do not depend on each other are not
// made one after the other; eight stays far below every rate limit we know
// (ELB's Describe* bucket is 40 calls, refilled at 10 a second) while a
// 1,000-instance plan's reads fit in one or two rounds.
const maxConcurrentCalls = 8

// concurrently runs tasks with at most maxConcurrentCalls in flight and
// returns the first error in task order (so the error does not depend on
// which call answered first), after every task has ended.
// No task is cancelled because another failed: a write that AWS may already
// have carried out must report what it did (SendCommand's command id), and
// reads are cheap to let finish.
func concurrently(ctx context.Context, tasks []func(context.Context) error) error {
	if len(tasks) == 1 {
		return tasks[0](ctx)
	}
	errs := make([]error, len(tasks))
	sem := make(chan struct{}, maxConcurrentCalls)
	var wg sync.WaitGroup
	for i, task := range tasks {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			errs[i] = context.Cause(ctx)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = task(ctx)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// eachChunk calls fn on each chunk of ids (at most size each) concurrently.
func eachChunk[T any](ctx context.Context, ids []T, size int, fn func(context.Context, []T) error) error {
	parts := chunks(ids, size)
	tasks := make([]func(context.Context) error, len(parts))
	for i, part := range parts {
		tasks[i] = func(ctx context.Context) error { return fn(ctx, part) }
	}
	if len(tasks) == 0 {
		return nil
	}
	return concurrently(ctx, tasks)
}

// sortedKeys are m's keys in order: tasks built from a map run (and report
// errors) in the same order every time.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
