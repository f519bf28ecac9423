package awsclient

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/fleetsim"
	"github.com/rollingdeploy/terraform-provider-rolling/internal/rollout"
)

// roundTrip is the simulated latency of every call in these tests: a
// second, at half of real time (latentScale) 500 ms of wall time. The
// simulated clock runs with the wall clock, so the wall time spent serving
// and decoding the calls (some 100-200 ms for the 1,000 instances of the
// discovery below on a loaded 2-core machine) becomes simulated time too:
// at half speed that is a fifth to two fifths of a round trip, at a
// twentieth (the benchmarks' scale) it was up to four round trips and
// failed the check below under load.
const (
	roundTrip   = time.Second
	latentScale = 0.5
)

// newLatentSim is newSim with a running clock (latentScale of real time)
// and every call taking roundTrip of simulated time.
func newLatentSim(t *testing.T) (*fleetsim.Sim, *Client) {
	t.Helper()
	cleanAWSEnv(t)
	sim := fleetsim.New(fleetsim.Options{
		TimeScale: latentScale, Credentials: map[string]string{simAccessKey: simSecretKey},
		Latency: fleetsim.Latency{Default: fleetsim.LatencyDist{Median: roundTrip}},
	})
	srv := httptest.NewServer(sim)
	t.Cleanup(func() { srv.Close(); sim.Close() })
	c, err := New(testContext(t), Config{Region: sim.Region(), AccessKey: simAccessKey, SecretKey: simSecretKey,
		Endpoints: allEndpoints(srv.URL), BackoffScale: latentScale, SkipCredentialsValidation: true})
	if err != nil {
		t.Fatal(err)
	}
	return sim, c
}

// A plan's reads of 1,000 instances in four target groups are fifteen
// calls; the two chains that do not depend on each other (the groups'
// settings; the registrations, then the instances) go at once, and so do
// the calls within each: two round trips, not fifteen.
func TestDiscoverFleet_readsInTwoRoundTripsUnderLatency(t *testing.T) {
	sim, c := newLatentSim(t)
	var arns []string
	for _, name := range []string{"a", "b", "c", "d"} {
		arn := sim.AddTargetGroup(fleetsim.TargetGroupConfig{Name: name, Port: 80})
		arns = append(arns, arn)
		sim.AddInstances(fleetsim.InstanceConfig{Count: 250, AppVersion: "v1", TargetGroupARNs: []string{arn}})
	}
	sim.Recorder().Reset()
	start := sim.Now()
	fleet, err := c.DiscoverFleet(testContext(t), arns, nil)
	if err != nil {
		t.Fatal(err)
	}
	took := sim.Now().Sub(start)
	calls := 0
	for _, n := range sim.Recorder().CallCount() {
		calls += n
	}
	if len(fleet.Instances) != 1000 || len(fleet.TargetGroups) != 4 {
		t.Fatalf("%d instances in %d groups", len(fleet.Instances), len(fleet.TargetGroups))
	}
	// DescribeTargetGroups, 4 attributes, 4 registrations, the phase-tag
	// query and 5 chunks of 200 instances.
	if calls != 15 {
		t.Fatalf("%d calls, want 15: %v", calls, sim.Recorder().CallCount())
	}
	if took < 2*roundTrip || took > 3*roundTrip+roundTrip/2 {
		t.Fatalf("discovery took %v of simulated time, want about 2 round trips (%v), not %v one after the other",
			took, 2*roundTrip, time.Duration(calls)*roundTrip)
	}
}

// SendCommand's chunks of 50 go at once; one that AWS refuses leaves the
// others sent, and their command ids are returned with the error.
func TestSend_chunksGoAtOnceAndAFailedChunkKeepsTheOthers(t *testing.T) {
	sim, c := newLatentSim(t)
	ids := sim.AddInstances(fleetsim.InstanceConfig{Count: 150, AppVersion: "v1"})
	runner := c.Ports(nil, nil).Commands
	cmd := rollout.Command{DocumentName: "AWS-RunShellScript", Parameters: map[string][]string{"commands": {"app check"}}}
	start := sim.Now()
	sent, err := runner.Send(testContext(t), cmd, ids)
	if err != nil {
		t.Fatal(err)
	}
	if took := sim.Now().Sub(start); took > roundTrip+roundTrip/2 {
		t.Fatalf("three chunks took %v, want one round trip", took)
	}
	commands := map[string]bool{}
	for _, id := range sent {
		commands[id] = true
	}
	if len(sent) != 150 || len(commands) != 3 {
		t.Fatalf("%d instances sent in %d commands, want 150 in 3", len(sent), len(commands))
	}

	if err := sim.Faults().TerminateInstance(ids[60], 0); err != nil {
		t.Fatal(err)
	}
	sent, err = runner.Send(testContext(t), cmd, ids)
	var aerr *Error
	if !errors.As(err, &aerr) || aerr.Operation != "SendCommand" {
		t.Fatalf("a chunk with a terminated instance: %v", err)
	}
	if len(sent) != 100 || sent[ids[0]] == "" || sent[ids[149]] == "" || sent[ids[60]] != "" {
		t.Fatalf("%d instances sent (first %q, last %q, terminated %q), want the two other chunks'",
			len(sent), sent[ids[0]], sent[ids[149]], sent[ids[60]])
	}
}

// A poll of several commands lists them at once.
func TestInvocations_listsSeveralCommandsAtOnce(t *testing.T) {
	sim, c := newLatentSim(t)
	ids := sim.AddInstances(fleetsim.InstanceConfig{Count: 2, AppVersion: "v1"})
	runner := c.Ports(nil, nil).Commands
	byInstance := map[string]string{}
	for _, id := range ids {
		sent, err := runner.Send(testContext(t), rollout.Command{DocumentName: "AWS-RunShellScript",
			Parameters: map[string][]string{"commands": {"app check"}}}, []string{id})
		if err != nil {
			t.Fatal(err)
		}
		byInstance[id] = sent[id]
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := sim.Now()
	invs, err := runner.Invocations(ctx, byInstance)
	if err != nil {
		t.Fatal(err)
	}
	// The first listing probes that the call exists, command by command,
	// both at once (later polls list the two in one call).
	if took := sim.Now().Sub(start); len(invs) != 2 || took > roundTrip+roundTrip/2 {
		t.Fatalf("%d invocations in %v, want 2 in one round trip", len(invs), took)
	}
}
