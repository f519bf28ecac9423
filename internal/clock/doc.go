// Package clock provides the clocks injected into the rollout engine: the real
// wall clock, a scaled clock that runs simulated time faster than wall time
// (for the fleet simulator and the demo), and a fake clock that tests advance
// by hand so that no test sleeps.
//
// It owns nothing but time. It must not import any other package of this
// module; rollout.Clock is satisfied structurally (Now and After).
package clock
