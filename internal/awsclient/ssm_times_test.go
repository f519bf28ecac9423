package awsclient

import (
	"testing"
	"time"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/fleetsim"
	"github.com/rollingdeploy/terraform-provider-rolling/internal/rollout"
)

// The engine learns how long a step takes from SSM's own request and finish
// times (ListCommandInvocations with Details): exact where its polls only
// bound the time from above. Here one command line takes 2 s after the
// 0.5 s delivery, and the polls, 1 s apart, see it done at 3 s.
func TestSim_invocationsCarrySSMRequestAndFinishTimes(t *testing.T) {
	sim, c, _ := newSim(t, nil)
	sim.SetTiming(fleetsim.Timing{StepMean: 2 * time.Second, Delivery: 500 * time.Millisecond})
	ids := sim.AddInstances(fleetsim.InstanceConfig{Count: 2, AppVersion: "v1"})
	runner := c.Ports(nil, nil).Commands
	sent, err := runner.Send(testContext(t), rollout.Command{DocumentName: "AWS-RunShellScript",
		Parameters: map[string][]string{"commands": {"echo hi"}}}, ids)
	if err != nil {
		t.Fatal(err)
	}
	running, err := runner.Invocations(testContext(t), sent)
	if err != nil {
		t.Fatal(err)
	}
	for _, inv := range running {
		if !inv.FinishedAt.IsZero() {
			t.Fatalf("a running invocation has a finish time: %+v", inv)
		}
	}
	got := pollUntilTerminal(t, sim, runner, sent, time.Second)
	for _, id := range ids {
		inv := got[id]
		if inv.Status != rollout.InvocationSuccess || inv.RequestedAt.IsZero() || inv.FinishedAt.IsZero() {
			t.Fatalf("%s: %+v", id, inv)
		}
		if took := inv.FinishedAt.Sub(inv.RequestedAt); took < 2490*time.Millisecond || took > 2510*time.Millisecond {
			t.Fatalf("%s: requested %s, finished %s: took %s, want 2.5s", id, inv.RequestedAt, inv.FinishedAt, took)
		}
	}
}
