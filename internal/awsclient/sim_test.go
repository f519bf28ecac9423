package awsclient

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/fleetsim"
	"github.com/rollingdeploy/terraform-provider-rolling/internal/rollout"
)

func healthOf(t *testing.T, lb rollout.LoadBalancer, arn string) map[string]rollout.TargetHealth {
	t.Helper()
	rows, err := lb.TargetHealth(testContext(t), arn)
	if err != nil {
		t.Fatalf("TargetHealth: %v", err)
	}
	out := map[string]rollout.TargetHealth{}
	for _, r := range rows {
		out[r.InstanceID] = r
	}
	return out
}

func TestSim_deregisteredTargetDrainsForTheDelayThenRejoinsHealthy(t *testing.T) {
	sim, c, _ := newSim(t, nil)
	arn := sim.AddTargetGroup(fleetsim.TargetGroupConfig{Name: "web", Port: 80, DeregistrationDelay: 120 * time.Second,
		HealthCheckInterval: 10 * time.Second, HealthyThreshold: 3})
	ids := sim.AddInstances(fleetsim.InstanceConfig{Count: 2, AppVersion: "v1", TargetGroupARNs: []string{arn}})
	lb := c.Ports(nil, nil).LB
	ctx := testContext(t)

	if err := lb.Deregister(ctx, arn, targetsOf(80, ids[0])); err != nil {
		t.Fatalf("Deregister: %v", err)
	}
	h := healthOf(t, lb, arn)
	if h[ids[0]].State != rollout.HealthDraining || h[ids[0]].Reason != "Target.DeregistrationInProgress" {
		t.Fatalf("right after Deregister: %+v", h[ids[0]])
	}
	if h[ids[1]].State != rollout.HealthHealthy {
		t.Fatalf("the other target: %+v", h[ids[1]])
	}
	sim.Advance(119 * time.Second)
	if st := healthOf(t, lb, arn)[ids[0]].State; st != rollout.HealthDraining {
		t.Fatalf("before the delay is over: %s", st)
	}
	sim.Advance(2 * time.Second)
	if row, listed := healthOf(t, lb, arn)[ids[0]]; listed {
		t.Fatalf("after the delay the target is still listed: %+v", row)
	}

	if err := lb.Register(ctx, arn, targetsOf(80, ids[0])); err != nil {
		t.Fatalf("Register: %v", err)
	}
	if st := healthOf(t, lb, arn)[ids[0]].State; st != rollout.HealthInitial {
		t.Fatalf("right after Register: %s", st)
	}
	sim.Advance(31 * time.Second) // healthy threshold 3 x interval 10s
	if st := healthOf(t, lb, arn)[ids[0]].State; st != rollout.HealthHealthy {
		t.Fatalf("after three passing checks: %s", st)
	}
}

func TestSim_registrationIsOneCallPerGroupUpTo200Targets(t *testing.T) {
	sim, c, _ := newSim(t, nil)
	arn := sim.AddTargetGroup(fleetsim.TargetGroupConfig{Name: "big", Port: 80})
	ids := sim.AddInstances(fleetsim.InstanceConfig{Count: 450, AppVersion: "v1"})
	lb := c.Ports(nil, nil).LB
	if err := lb.Register(testContext(t), arn, targetsOf(80, ids[:200]...)); err != nil {
		t.Fatal(err)
	}
	if n := len(sim.Recorder().Calls("RegisterTargets")); n != 1 {
		t.Fatalf("200 targets took %d RegisterTargets calls, want 1", n)
	}
	if err := lb.Register(testContext(t), arn, targetsOf(80, ids[200:]...)); err != nil {
		t.Fatal(err)
	}
	calls := sim.Recorder().Calls("RegisterTargets")
	var sizes []int
	for _, call := range calls {
		sizes = append(sizes, len(call.TargetIDs))
	}
	// The two chunks of the second call go at once, in either order.
	sort.Ints(sizes)
	if fmt.Sprint(sizes) != "[50 200 200]" {
		t.Fatalf("RegisterTargets sizes = %v, want 200, then 200 and 50", sizes)
	}
	if n := len(healthOf(t, lb, arn)); n != 450 {
		t.Fatalf("%d targets registered, want 450", n)
	}
	if err := lb.Deregister(testContext(t), arn, targetsOf(80, ids...)); err != nil {
		t.Fatal(err)
	}
	if n := len(sim.Recorder().Calls("DeregisterTargets")); n != 3 {
		t.Fatalf("450 targets took %d DeregisterTargets calls, want 3", n)
	}
}

func TestSim_commandSucceedsWithExitCodeAndOutput(t *testing.T) {
	sim, c, _ := newSim(t, nil)
	ids := sim.AddInstances(fleetsim.InstanceConfig{Count: 3, AppVersion: "v1"})
	runner := c.Ports(nil, nil).Commands
	sent, err := runner.Send(testContext(t), rollout.Command{
		DocumentName: "AWS-RunShellScript",
		Parameters:   map[string][]string{"commands": {"app deploy v2", "echo done"}},
		Timeout:      5 * time.Minute,
	}, ids)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	calls := sim.Recorder().Calls("SendCommand")
	if len(calls) != 1 {
		t.Fatalf("%d SendCommand calls, want 1", len(calls))
	}
	got := pollUntilTerminal(t, sim, runner, sent, time.Second)
	for _, id := range ids {
		inv := got[id]
		if inv.Status != rollout.InvocationSuccess || inv.ExitCode != 0 || !strings.Contains(inv.Stdout, "deployed v2") || !strings.Contains(inv.Stdout, "done") {
			t.Fatalf("invocation on %s = %+v", id, inv)
		}
		if snap, _ := sim.Instance(id); snap.AppVersion != "v2" {
			t.Fatalf("instance %s runs %q after deploy", id, snap.AppVersion)
		}
	}
	if n := len(sim.Recorder().Calls("GetCommandInvocation")); n != 0 {
		t.Fatalf("%d GetCommandInvocation calls for successful invocations, want 0", n)
	}
}

func TestSim_failedCommandReportsExitCodeAndStderr(t *testing.T) {
	sim, c, _ := newSim(t, nil)
	ids := sim.AddInstances(fleetsim.InstanceConfig{Count: 2, AppVersion: "v1"})
	sim.Faults().FailDeploy("v3", ids[1])
	runner := c.Ports(nil, nil).Commands
	sent, err := runner.Send(testContext(t), rollout.Command{DocumentName: "AWS-RunShellScript",
		Parameters: map[string][]string{"commands": {"app deploy v3"}}}, ids)
	if err != nil {
		t.Fatal(err)
	}
	got := pollUntilTerminal(t, sim, runner, sent, time.Second)
	if got[ids[0]].Status != rollout.InvocationSuccess {
		t.Fatalf("healthy instance: %+v", got[ids[0]])
	}
	bad := got[ids[1]]
	if bad.Status != rollout.InvocationFailed || bad.ExitCode != 1 || !strings.Contains(bad.Stderr, "installation failed") {
		t.Fatalf("failing instance: %+v", bad)
	}
	if n := len(sim.Recorder().Calls("GetCommandInvocation")); n != 1 {
		t.Fatalf("%d GetCommandInvocation calls, want exactly 1 (the failed invocation's stderr)", n)
	}
}

func TestSim_hungCommandTimesOutAtTheStepTimeout(t *testing.T) {
	sim, c, _ := newSim(t, nil)
	ids := sim.AddInstances(fleetsim.InstanceConfig{Count: 1, AppVersion: "v1"})
	sim.Faults().HangCommands("migrate")
	runner := c.Ports(nil, nil).Commands
	sent, err := runner.Send(testContext(t), rollout.Command{DocumentName: "AWS-RunShellScript",
		Parameters: map[string][]string{"commands": {"migrate db"}}, Timeout: 90 * time.Second}, ids)
	if err != nil {
		t.Fatal(err)
	}
	if p := sim.Recorder().Calls("SendCommand")[0].Params; p != nil && p["executionTimeout"] != "" && p["executionTimeout"] != "90" {
		t.Fatalf("executionTimeout sent = %q, want 90", p["executionTimeout"])
	}
	sim.Advance(60 * time.Second)
	invs, err := runner.Invocations(testContext(t), sent)
	if err != nil || invs[0].Status != rollout.InvocationInProgress {
		t.Fatalf("at 60s: %v %+v, want InProgress", err, invs)
	}
	got := pollUntilTerminal(t, sim, runner, sent, 10*time.Second)
	inv := got[ids[0]]
	if inv.Status != rollout.InvocationTimedOut || inv.StatusDetails != "Execution Timed Out" {
		t.Fatalf("hung command: %+v", inv)
	}
}

func TestSim_offlineAgentIsUndeliverable(t *testing.T) {
	sim, c, _ := newSim(t, nil)
	ids := sim.AddInstances(fleetsim.InstanceConfig{Count: 2, AppVersion: "v1"})
	if err := sim.Faults().SetAgentOnline(ids[0], false); err != nil {
		t.Fatal(err)
	}
	runner := c.Ports(nil, nil).Commands
	sent, err := runner.Send(testContext(t), rollout.Command{DocumentName: "AWS-RunShellScript",
		Parameters: map[string][]string{"commands": {"echo hi"}}}, ids)
	if err != nil {
		t.Fatal(err)
	}
	got := pollUntilTerminal(t, sim, runner, sent, time.Second)
	if inv := got[ids[0]]; inv.Status != rollout.InvocationUndeliverable || inv.ExitCode != -1 {
		t.Fatalf("offline agent: %+v", inv)
	}
	if got[ids[1]].Status != rollout.InvocationSuccess {
		t.Fatalf("online agent: %+v", got[ids[1]])
	}
}

func TestSim_invocationNotYetVisibleIsPending(t *testing.T) {
	sim, c, _ := newSim(t, nil)
	sim.SetTiming(fleetsim.Timing{InvocationLag: 5 * time.Second})
	ids := sim.AddInstances(fleetsim.InstanceConfig{Count: 1, AppVersion: "v1"})
	runner := c.Ports(nil, nil).Commands
	sent, err := runner.Send(testContext(t), rollout.Command{DocumentName: "AWS-RunShellScript",
		Parameters: map[string][]string{"commands": {"echo hi"}}}, ids)
	if err != nil {
		t.Fatal(err)
	}
	invs, err := runner.Invocations(testContext(t), sent)
	if err != nil {
		t.Fatalf("Invocations right after Send: %v, want no error", err)
	}
	if len(invs) != 1 || invs[0].Status != rollout.InvocationPending || invs[0].CommandID != sent[ids[0]] {
		t.Fatalf("right after Send: %+v, want Pending", invs)
	}
	pollUntilTerminal(t, sim, runner, sent, time.Second)
}

func TestSim_pollingCostsOneListCallPerCommandAndNoneOnceTerminal(t *testing.T) {
	sim, c, _ := newSim(t, nil)
	ids := sim.AddInstances(fleetsim.InstanceConfig{Count: 120, AppVersion: "v1"})
	runner := c.Ports(nil, nil).Commands
	sent, err := runner.Send(testContext(t), rollout.Command{DocumentName: "AWS-RunShellScript",
		Parameters: map[string][]string{"commands": {"echo hi"}}}, ids)
	if err != nil {
		t.Fatal(err)
	}
	commands := map[string]int{}
	for _, cmd := range sent {
		commands[cmd]++
	}
	var sizes []int
	for _, n := range commands {
		sizes = append(sizes, n)
	}
	sort.Ints(sizes)
	if fmt.Sprint(sizes) != "[20 50 50]" {
		t.Fatalf("instances per command = %v, want [20 50 50] (SendCommand takes 50)", sizes)
	}
	before := len(sim.Recorder().Calls("ListCommandInvocations"))
	if _, err := runner.Invocations(testContext(t), sent); err != nil {
		t.Fatal(err)
	}
	if n := len(sim.Recorder().Calls("ListCommandInvocations")) - before; n != 3 {
		t.Fatalf("one poll of 120 instances made %d ListCommandInvocations calls, want 3 (one per command)", n)
	}
	pollUntilTerminal(t, sim, runner, sent, time.Second)
	before = len(sim.Recorder().Calls("ListCommandInvocations"))
	invs, err := runner.Invocations(testContext(t), sent)
	if err != nil || len(invs) != 120 {
		t.Fatalf("poll after completion: %v, %d rows", err, len(invs))
	}
	if n := len(sim.Recorder().Calls("ListCommandInvocations")) - before; n != 0 {
		t.Fatalf("polling finished invocations made %d calls, want 0", n)
	}
	if n := len(sim.Recorder().Calls("GetCommandInvocation")); n != 0 {
		t.Fatalf("%d GetCommandInvocation calls, want 0 (ListCommandInvocations is implemented)", n)
	}
}

func TestSim_cancelStopsAHungCommand(t *testing.T) {
	sim, c, _ := newSim(t, nil)
	ids := sim.AddInstances(fleetsim.InstanceConfig{Count: 2, AppVersion: "v1"})
	sim.Faults().HangCommands("")
	runner := c.Ports(nil, nil).Commands
	sent, err := runner.Send(testContext(t), rollout.Command{DocumentName: "AWS-RunShellScript",
		Parameters: map[string][]string{"commands": {"sleep 1"}}}, ids)
	if err != nil {
		t.Fatal(err)
	}
	sim.Advance(5 * time.Second)
	if err := runner.Cancel(testContext(t), sent); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	got := pollUntilTerminal(t, sim, runner, sent, time.Second)
	for _, id := range ids {
		if got[id].Status != rollout.InvocationCancelled {
			t.Fatalf("after Cancel: %+v", got[id])
		}
	}
	if n := len(sim.Recorder().Calls("CancelCommand")); n != 1 {
		t.Fatalf("%d CancelCommand calls, want 1 (one per command id)", n)
	}
}

func TestSim_tagsAreWrittenInOneCallForManyInstances(t *testing.T) {
	sim, c, _ := newSim(t, nil)
	ids := sim.AddInstances(fleetsim.InstanceConfig{Count: 1500, AppVersion: "v1", Tags: map[string]string{rollout.TagVersion: "v1"}})
	tags := c.Ports(nil, nil).Tags
	if err := tags.SetTags(testContext(t), ids, map[string]string{rollout.TagVersion: "v2", rollout.TagPhase: "baking"}); err != nil {
		t.Fatal(err)
	}
	if n := len(sim.Recorder().Calls("CreateTags")); n != 2 {
		t.Fatalf("1500 instances took %d CreateTags calls, want 2 (chunks of 1000)", n)
	}
	if err := tags.RemoveTags(testContext(t), ids[:10], []string{rollout.TagPhase}); err != nil {
		t.Fatal(err)
	}
	snap, _ := sim.Instance(ids[0])
	if snap.Tags[rollout.TagVersion] != "v2" || snap.Tags[rollout.TagPhase] != "" {
		t.Fatalf("tags = %v", snap.Tags)
	}
	if snap, _ := sim.Instance(ids[20]); snap.Tags[rollout.TagPhase] != "baking" {
		t.Fatalf("untouched instance lost its tag: %v", snap.Tags)
	}
}

func TestSim_throttlingIsRetriedBySDK(t *testing.T) {
	for _, mode := range []string{"standard", "adaptive"} {
		t.Run(mode, func(t *testing.T) {
			sim, c, _ := newSim(t, func(cfg *Config) { cfg.RetryMode = mode })
			if _, adaptive := c.elbv2.Options().Retryer.(*retry.AdaptiveMode); adaptive != (mode == "adaptive") {
				t.Fatalf("retry_mode %s built %T", mode, c.elbv2.Options().Retryer)
			}
			arn := sim.AddTargetGroup(fleetsim.TargetGroupConfig{Name: "web", Port: 80})
			sim.AddInstances(fleetsim.InstanceConfig{Count: 2, AppVersion: "v1", TargetGroupARNs: []string{arn}})
			// A bucket of 2 refilled at 200 per simulated second, retries 2
			// simulated ms apart (newSim): a burst of 8 calls must be
			// throttled and then succeed on retry.
			sim.Faults().SetRateLimit("DescribeTargetHealth", 2, 200)
			lb := c.Ports(nil, nil).LB
			for i := 0; i < 8; i++ {
				if _, err := lb.TargetHealth(testContext(t), arn); err != nil {
					t.Fatalf("call %d: %v", i, err)
				}
			}
			throttled := 0
			for _, call := range sim.Recorder().Calls("DescribeTargetHealth") {
				if call.ErrorCode != "" {
					throttled++
				}
			}
			if throttled == 0 {
				t.Fatal("no call was throttled: the test proves nothing")
			}
			if n := c.CallCounts()["DescribeTargetHealth"]; n != 8 {
				t.Fatalf("CallCounts = %d, want 8 (retries are not calls)", n)
			}
		})
	}
}

func TestSim_throttlingThatOutlastsRetriesIsErrThrottled(t *testing.T) {
	sim, c, _ := newSim(t, func(cfg *Config) { cfg.MaxRetries = 2 })
	arn := sim.AddTargetGroup(fleetsim.TargetGroupConfig{Name: "web", Port: 80})
	sim.Faults().SetRateLimit("DescribeTargetHealth", 0, 0)
	_, err := c.Ports(nil, nil).LB.TargetHealth(testContext(t), arn)
	if !errors.Is(err, rollout.ErrThrottled) {
		t.Fatalf("err = %v, want ErrThrottled", err)
	}
	if n := len(sim.Recorder().Calls("DescribeTargetHealth")); n != 3 {
		t.Fatalf("%d attempts, want 3 (max_retries 2 + the first)", n)
	}
}

func TestSim_unknownCredentialsNameTheSource(t *testing.T) {
	cleanAWSEnv(t)
	sim := fleetsim.New(fleetsim.Options{TimeScale: 1e9, TickInterval: -1, Credentials: map[string]string{simAccessKey: simSecretKey}})
	srv := testServer(t, sim)
	creds := writeFile(t, "credentials", "[stale]\naws_access_key_id = AKIASTALE\naws_secret_access_key = old\n")
	_, err := New(testContext(t), Config{Region: "us-east-1", Profile: "stale", SharedCredentialsFiles: []string{creds},
		Endpoints: allEndpoints(srv), MaxRetries: 1})
	if err == nil {
		t.Fatal("unknown key accepted")
	}
	if !strings.Contains(err.Error(), `profile "stale"`) || !strings.Contains(err.Error(), "InvalidClientTokenId") || strings.Contains(err.Error(), "old") {
		t.Fatalf("error %q should name the profile and the AWS code, not the secret", err)
	}
	calls := sim.Recorder().Calls("GetCallerIdentity")
	if len(calls) == 0 || calls[0].AccessKeyID != "AKIASTALE" {
		t.Fatalf("recorded calls = %+v", calls)
	}
}

func TestSim_assumeRoleThroughSimulatorSTS(t *testing.T) {
	sim, c, _ := newSim(t, func(cfg *Config) {
		cfg.AssumeRole = &AssumeRole{RoleARN: "arn:aws:iam::123456789012:role/deployer", SessionName: "rolling"}
	})
	ar := sim.Recorder().Calls("AssumeRole")
	if len(ar) != 1 || ar[0].AccessKeyID != simAccessKey {
		t.Fatalf("AssumeRole calls = %+v, want one signed with the base key", ar)
	}
	gci := sim.Recorder().Calls("GetCallerIdentity")
	if len(gci) != 1 || gci[0].AccessKeyID == simAccessKey || gci[0].AccessKeyID == "" || gci[0].ErrorCode != "" {
		t.Fatalf("GetCallerIdentity calls = %+v, want one signed with the temporary key", gci)
	}
	if _, arn := c.CallerIdentity(); !strings.Contains(arn, "deployer") {
		t.Fatalf("caller = %q", arn)
	}
	// Every later call uses the role too.
	arn := sim.AddTargetGroup(fleetsim.TargetGroupConfig{Name: "web", Port: 80})
	if _, err := c.Ports(nil, nil).LB.TargetHealth(testContext(t), arn); err != nil {
		t.Fatal(err)
	}
	if got := sim.Recorder().Calls("DescribeTargetHealth")[0].AccessKeyID; got != gci[0].AccessKeyID {
		t.Fatalf("DescribeTargetHealth signed with %q, want the role's %q", got, gci[0].AccessKeyID)
	}
}

func TestSim_webIdentityThroughSimulatorSTS(t *testing.T) {
	token := writeFile(t, "token", fakeJWT(`{"sub":"ci"}`))
	sim, c, _ := newSim(t, func(cfg *Config) {
		cfg.AccessKey, cfg.SecretKey = "", ""
		cfg.AssumeRoleWithWebIdentity = &AssumeRoleWithWebIdentity{RoleARN: "arn:aws:iam::123456789012:role/ci", WebIdentityTokenFile: token}
	})
	if n := len(sim.Recorder().Calls("AssumeRoleWithWebIdentity")); n != 1 {
		t.Fatalf("%d AssumeRoleWithWebIdentity calls, want 1", n)
	}
	if _, arn := c.CallerIdentity(); !strings.Contains(arn, "role/ci") && !strings.Contains(arn, "assumed-role/ci") {
		t.Fatalf("caller = %q", arn)
	}
}

func TestSim_defaultMaxRetriesIs25(t *testing.T) {
	sim, c, _ := newSim(t, nil)
	arn := sim.AddTargetGroup(fleetsim.TargetGroupConfig{Name: "web", Port: 80})
	sim.Faults().SetRateLimit("DescribeTargetHealth", 0, 0)
	_, err := c.Ports(nil, nil).LB.TargetHealth(testContext(t), arn)
	if !errors.Is(err, rollout.ErrThrottled) {
		t.Fatalf("err = %v, want ErrThrottled", err)
	}
	if n := len(sim.Recorder().Calls("DescribeTargetHealth")); n != DefaultMaxRetries+1 {
		t.Fatalf("%d attempts, want %d", n, DefaultMaxRetries+1)
	}
}

func TestSim_sustainedThrottlingDoesNotExhaustAClientRetryQuota(t *testing.T) {
	sim, c, _ := newSim(t, nil)
	arn := sim.AddTargetGroup(fleetsim.TargetGroupConfig{Name: "web", Port: 80})
	// Refilled at 50 per simulated second, and each retry backs off 2
	// simulated ms (newSim): each of 40 calls is throttled about ten times;
	// the SDK's default quota of 500 tokens (5 per retry) would run out
	// after 100 retries.
	sim.Faults().SetRateLimit("DescribeTargetHealth", 1, 50)
	lb := c.Ports(nil, nil).LB
	for i := 0; i < 40; i++ {
		if _, err := lb.TargetHealth(testContext(t), arn); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	throttled := 0
	for _, call := range sim.Recorder().Calls("DescribeTargetHealth") {
		if call.ErrorCode != "" {
			throttled++
		}
	}
	if throttled <= 100 {
		t.Fatalf("only %d throttled attempts: not enough to exhaust a quota, the test proves nothing", throttled)
	}
}

func TestSim_alarmsReportsOnlyFiringOnesInChunksOf100(t *testing.T) {
	sim, c, _ := newSim(t, nil)
	var names []string
	for i := 0; i < 150; i++ {
		name := fmt.Sprintf("alarm-%03d", i)
		state := "OK"
		if i == 7 || i == 120 {
			state = "ALARM"
		}
		sim.AddAlarm(name, state)
		names = append(names, name)
	}
	sim.AddAlarm("no-data", "INSUFFICIENT_DATA")
	alarms := c.Ports(nil, nil).Alarms
	firing, err := alarms.Firing(testContext(t), append(names, "no-data"))
	if err != nil {
		t.Fatalf("Firing: %v", err)
	}
	sort.Strings(firing)
	if fmt.Sprint(firing) != "[alarm-007 alarm-120]" {
		t.Fatalf("Firing = %v", firing)
	}
	if n := len(sim.Recorder().Calls("DescribeAlarms")); n != 2 {
		t.Fatalf("151 names took %d DescribeAlarms calls, want 2", n)
	}
	_, err = alarms.Firing(testContext(t), []string{"alarm-001", "typo-alarm"})
	if !errors.Is(err, rollout.ErrNotFound) || !strings.Contains(err.Error(), "typo-alarm") {
		t.Fatalf("missing alarm: %v, want ErrNotFound naming it", err)
	}
}

func TestSim_standbyChunksBy20AndDecrementsDesiredCapacity(t *testing.T) {
	sim, c, _ := newSim(t, nil)
	arn := sim.AddTargetGroup(fleetsim.TargetGroupConfig{Name: "web", Port: 80, DeregistrationDelay: 10 * time.Second})
	sim.AddAutoScalingGroup(fleetsim.AutoScalingGroupConfig{Name: "web-asg", TargetGroupARNs: []string{arn}, Min: 0, Max: 40, LaunchVersion: "v1"})
	ids := sim.AddInstances(fleetsim.InstanceConfig{Count: 30, AppVersion: "v1", TargetGroupARNs: []string{arn}, AutoScalingGroup: "web-asg"})
	sb := c.Ports(nil, nil).Standby
	ctx := testContext(t)
	if err := sb.EnterStandby(ctx, "web-asg", ids[:25]); err != nil {
		t.Fatalf("EnterStandby: %v", err)
	}
	calls := sim.Recorder().Calls("EnterStandby")
	if len(calls) != 2 || len(calls[0].InstanceIDs) != 20 || len(calls[1].InstanceIDs) != 5 {
		t.Fatalf("EnterStandby calls = %+v, want 20 then 5 instances", calls)
	}
	sim.Advance(11 * time.Second)
	states, err := sb.LifecycleStates(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	if len(states) != 30 || states[ids[0]] != "Standby" || states[ids[29]] != "InService" {
		t.Fatalf("states = %v", states)
	}
	if n := len(sim.Recorder().Calls("DescribeAutoScalingInstances")); n != 1 {
		t.Fatalf("%d DescribeAutoScalingInstances calls for 30 instances, want 1", n)
	}
	// Decremented: the group launched no replacement.
	if n := len(sim.Snapshot().Instances); n != 30 {
		t.Fatalf("%d instances exist, want 30 (no replacements)", n)
	}
	if err := sb.ExitStandby(ctx, "web-asg", ids[:25]); err != nil {
		t.Fatalf("ExitStandby: %v", err)
	}
	sim.Advance(time.Minute)
	states, _ = sb.LifecycleStates(ctx, ids[:25])
	for _, id := range ids[:25] {
		if states[id] != "InService" {
			t.Fatalf("%s after ExitStandby: %s", id, states[id])
		}
	}
	if err := sb.SuspendProcesses(ctx, "web-asg", rollout.DefaultSuspendProcesses); err != nil {
		t.Fatal(err)
	}
	if err := sb.ResumeProcesses(ctx, "web-asg", rollout.DefaultSuspendProcesses); err != nil {
		t.Fatal(err)
	}
	if err := sb.EnterStandby(ctx, "no-such-group", ids[:1]); err == nil {
		t.Fatal("EnterStandby on a missing group succeeded")
	}
}

func TestSim_discoverFleetAtScaleBatchesItsCalls(t *testing.T) {
	sim, c, _ := newSim(t, nil)
	web := sim.AddTargetGroup(fleetsim.TargetGroupConfig{Name: "web", Port: 80, DeregistrationDelay: 45 * time.Second})
	tls := sim.AddTargetGroup(fleetsim.TargetGroupConfig{Name: "web-tls", Port: 443})
	sim.AddAutoScalingGroup(fleetsim.AutoScalingGroupConfig{Name: "asg", TargetGroupARNs: []string{web, tls}, Max: 2000, LaunchVersion: "v1"})
	ids := sim.AddInstances(fleetsim.InstanceConfig{Count: 1100, AppVersion: "v1", TargetGroupARNs: []string{web, tls},
		AutoScalingGroup: "asg", Tags: map[string]string{rollout.TagVersion: "v1"}})
	loose := sim.AddInstances(fleetsim.InstanceConfig{Count: 10, AppVersion: "v1", TargetGroupARNs: []string{web}})
	// Interrupted rollout: one instance left out of web only.
	taken := loose[0]
	if err := c.Ports(nil, nil).LB.Deregister(testContext(t), web, targetsOf(80, taken)); err != nil {
		t.Fatal(err)
	}
	if err := c.Ports(nil, nil).Tags.SetTags(testContext(t), []string{taken}, map[string]string{
		rollout.TagPhase: "step:deploy", rollout.TagTargets: rollout.EncodeTargets(map[string][]rollout.Target{web: targetsOf(80, taken)}),
	}); err != nil {
		t.Fatal(err)
	}
	sim.Advance(46 * time.Second)
	before := c.CallCounts()

	fleet, err := c.DiscoverFleet(testContext(t), []string{web, tls}, nil)
	if err != nil {
		t.Fatalf("DiscoverFleet: %v", err)
	}
	if len(fleet.Instances) != 1110 {
		t.Fatalf("%d instances, want 1110", len(fleet.Instances))
	}
	if fleet.TargetGroups[0].DeregistrationDelay != 45*time.Second || fleet.TargetGroups[1].Name != "web-tls" {
		t.Fatalf("target groups = %+v", fleet.TargetGroups)
	}
	byID := map[string]rollout.Instance{}
	for _, inst := range fleet.Instances {
		byID[inst.ID] = inst
	}
	first := byID[ids[0]]
	if first.AutoScalingGroup != "asg" || first.LifecycleState != "InService" || first.Version() != "v1" ||
		first.Health[web].State != rollout.HealthHealthy || first.Health[tls].State != rollout.HealthHealthy || first.AZ == "" {
		t.Fatalf("ASG instance = %+v", first)
	}
	out := byID[taken]
	if out.Health[web].State != rollout.HealthUnused || len(out.Targets[web]) != 1 || out.Targets[web][0].Port != 80 {
		t.Fatalf("interrupted instance = %+v", out)
	}
	if len(fleet.AutoScalingGroups) != 1 || len(fleet.AutoScalingGroups[0].TargetGroupARNs) != 2 {
		t.Fatalf("auto scaling groups = %+v", fleet.AutoScalingGroups)
	}
	after := c.CallCounts()
	diff := map[string]int{}
	for k, v := range after {
		if d := v - before[k]; d > 0 {
			diff[k] = d
		}
	}
	want := map[string]int{
		"DescribeTargetGroups": 1, "DescribeTargetGroupAttributes": 2, "DescribeTargetHealth": 2,
		// one tag-key query, then instance-id filters of 200 for 1109 ids
		"DescribeInstances": 1 + 6,
		// only the 1100 tagged aws:autoscaling:groupName, in chunks of 50
		"DescribeAutoScalingInstances": 22, "DescribeAutoScalingGroups": 1,
	}
	if fmt.Sprint(diff) != fmt.Sprint(want) {
		t.Fatalf("calls = %v\nwant    %v", diff, want)
	}
}

func TestSim_retrySettingsFromEnvironmentApplyOnlyWhenNotConfigured(t *testing.T) {
	attempts := func(t *testing.T, maxRetries int) int {
		sim, c, _ := newSim(t, func(cfg *Config) {
			cfg.MaxRetries = maxRetries
			t.Setenv("AWS_MAX_ATTEMPTS", "4") // runs after newSim cleaned the environment
		})
		arn := sim.AddTargetGroup(fleetsim.TargetGroupConfig{Name: "web", Port: 80})
		sim.Faults().SetRateLimit("DescribeTargetHealth", 0, 0)
		if _, err := c.Ports(nil, nil).LB.TargetHealth(testContext(t), arn); !errors.Is(err, rollout.ErrThrottled) {
			t.Fatalf("err = %v, want ErrThrottled", err)
		}
		return len(sim.Recorder().Calls("DescribeTargetHealth"))
	}
	t.Run("environment when max_retries is unset", func(t *testing.T) {
		if n := attempts(t, 0); n != 4 {
			t.Fatalf("%d attempts, want AWS_MAX_ATTEMPTS=4", n)
		}
	})
	t.Run("AWS_RETRY_MODE when retry_mode is unset", func(t *testing.T) {
		_, c, _ := newSim(t, func(cfg *Config) { t.Setenv("AWS_RETRY_MODE", "adaptive") })
		if _, ok := c.ssm.Options().Retryer.(*retry.AdaptiveMode); !ok {
			t.Fatalf("retryer %T, want adaptive", c.ssm.Options().Retryer)
		}
	})
	t.Run("max_retries over the environment", func(t *testing.T) {
		if n := attempts(t, 1); n != 2 {
			t.Fatalf("%d attempts, want max_retries 1 + 1", n)
		}
	})
}

func TestSim_tagsStillReachInstancesWhenOneHasVanished(t *testing.T) {
	sim, c, _ := newSim(t, nil)
	ids := sim.AddInstances(fleetsim.InstanceConfig{Count: 3, AppVersion: "v1"})
	gone := "i-0000000000000dead"
	err := c.Ports(nil, nil).Tags.SetTags(testContext(t), append([]string{gone}, ids...), map[string]string{rollout.TagVersion: "v2"})
	if !errors.Is(err, rollout.ErrNotFound) || !strings.Contains(err.Error(), gone) {
		t.Fatalf("err = %v, want ErrNotFound naming %s", err, gone)
	}
	for _, id := range ids {
		if snap, _ := sim.Instance(id); snap.Tags[rollout.TagVersion] != "v2" {
			t.Fatalf("%s was not tagged: %v", id, snap.Tags)
		}
	}
	err = c.Ports(nil, nil).Tags.RemoveTags(testContext(t), append(ids, gone), rollout.ProviderTags)
	if !errors.Is(err, rollout.ErrNotFound) {
		t.Fatalf("RemoveTags: %v", err)
	}
	if snap, _ := sim.Instance(ids[0]); len(snap.Tags) != 0 && snap.Tags[rollout.TagVersion] != "" {
		t.Fatalf("tags left: %v", snap.Tags)
	}
}

func TestSim_stsEndpointCarriesAssumeRoleAndOnlySTS(t *testing.T) {
	cleanAWSEnv(t)
	sim := fleetsim.New(fleetsim.Options{TimeScale: 1e9, TickInterval: -1, Credentials: map[string]string{simAccessKey: simSecretKey}})
	direct := testServer(t, sim)
	proxy, viaProxy := newRecordingProxy(t, sim)
	endpoints := allEndpoints(direct)
	endpoints["sts"] = viaProxy
	c, err := New(testContext(t), Config{Region: sim.Region(), AccessKey: simAccessKey, SecretKey: simSecretKey, Endpoints: endpoints,
		AssumeRole: &AssumeRole{RoleARN: "arn:aws:iam::123456789012:role/deployer"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(proxy.requests("AssumeRole")) != 1 || len(proxy.requests("GetCallerIdentity")) != 1 {
		t.Fatalf("STS calls through the sts endpoint: %+v", proxy.seen)
	}
	arn := sim.AddTargetGroup(fleetsim.TargetGroupConfig{Name: "web", Port: 80})
	if _, err := c.Ports(nil, nil).LB.TargetHealth(testContext(t), arn); err != nil {
		t.Fatal(err)
	}
	if n := len(proxy.requests("DescribeTargetHealth")); n != 0 {
		t.Fatalf("an elbv2 call went to the sts endpoint")
	}
	if n := len(sim.Recorder().Calls("DescribeTargetHealth")); n != 1 {
		t.Fatalf("%d DescribeTargetHealth calls reached the elbv2 endpoint, want 1", n)
	}
}

func TestSim_instanceStatesNameTerminatedOnesAndOmitUnknownIds(t *testing.T) {
	sim, c, _ := newSim(t, nil)
	ids := sim.AddInstances(fleetsim.InstanceConfig{Count: 3, AppVersion: "v1"})
	if err := sim.Faults().TerminateInstance(ids[1], 0); err != nil {
		t.Fatal(err)
	}
	sim.Advance(time.Second)
	unknown := "i-0000000000000dead"
	before := sim.Recorder().CallCount()["DescribeInstances"]
	states, err := c.Ports(nil, nil).Instances.States(testContext(t), append([]string{unknown}, ids...))
	if err != nil {
		t.Fatalf("States: %v", err)
	}
	if n := sim.Recorder().CallCount()["DescribeInstances"] - before; n != 1 {
		t.Errorf("%d DescribeInstances calls for 4 ids, want 1", n)
	}
	if got := states[ids[1]]; got != "terminated" && got != "shutting-down" {
		t.Errorf("terminated instance is %q", got)
	}
	for _, id := range []string{ids[0], ids[2]} {
		if states[id] != "running" {
			t.Errorf("%s is %q, want running", id, states[id])
		}
	}
	if s, ok := states[unknown]; ok {
		t.Errorf("unknown id reported %q, want absent", s)
	}
}

// A standby call retried after its answer was lost finds the instances
// already where it wanted them; that is success, not AWS's ValidationError.
func TestSim_standbyCallsRepeatedAfterALostAnswerSucceed(t *testing.T) {
	sim, c, _ := newSim(t, nil)
	arn := sim.AddTargetGroup(fleetsim.TargetGroupConfig{Name: "web", Port: 80, DeregistrationDelay: 10 * time.Second})
	sim.AddAutoScalingGroup(fleetsim.AutoScalingGroupConfig{Name: "web-asg", TargetGroupARNs: []string{arn}, Max: 10, LaunchVersion: "v1"})
	ids := sim.AddInstances(fleetsim.InstanceConfig{Count: 2, AppVersion: "v1", TargetGroupARNs: []string{arn}, AutoScalingGroup: "web-asg"})
	sb := c.Ports(nil, nil).Standby
	ctx := testContext(t)
	for i := 0; i < 2; i++ {
		if err := sb.EnterStandby(ctx, "web-asg", ids); err != nil {
			t.Fatalf("EnterStandby, attempt %d: %v", i+1, err)
		}
	}
	if calls := sim.Recorder().Calls("EnterStandby"); len(calls) != 2 || calls[1].ErrorCode == "" {
		t.Fatalf("the repeated EnterStandby was not refused by the simulator (%+v): the test proves nothing", calls)
	}
	sim.Advance(11 * time.Second)
	for i := 0; i < 2; i++ {
		if err := sb.ExitStandby(ctx, "web-asg", ids); err != nil {
			t.Fatalf("ExitStandby, attempt %d: %v", i+1, err)
		}
	}
	// Instances that are elsewhere still fail the call.
	if err := sb.EnterStandby(ctx, "web-asg", []string{"i-0000000000000dead"}); err == nil {
		t.Fatal("EnterStandby of an unknown instance succeeded")
	}
}

// Window mode polls many commands of one or two instances each: from three
// commands on, one ListCommandInvocations over the time since the oldest was
// sent (and their document) answers for all of them. When other commands of
// the account fill more pages than there are commands, the listing stops
// there and the rest is asked per command: at worst twice the calls.
func TestSim_pollingManySmallCommandsListsThemInOneCall(t *testing.T) {
	sim, c, _ := newSim(t, nil)
	ids := sim.AddInstances(fleetsim.InstanceConfig{Count: 6, AppVersion: "v1"})
	runner := c.Ports(nil, nil).Commands
	shell := func(ids []string, line string) map[string]string {
		t.Helper()
		sent, err := runner.Send(testContext(t), rollout.Command{DocumentName: "AWS-RunShellScript",
			Parameters: map[string][]string{"commands": {line}}}, ids)
		if err != nil {
			t.Fatal(err)
		}
		return sent
	}
	sent := map[string]string{}
	for _, id := range ids {
		sent[id] = shell([]string{id}, "sleep 5")[id]
	}
	lists := func() int { return len(sim.Recorder().Calls("ListCommandInvocations")) }
	// The first poll probes ListCommandInvocations command by command.
	if _, err := runner.Invocations(testContext(t), sent); err != nil {
		t.Fatal(err)
	}
	before := lists()
	invs, err := runner.Invocations(testContext(t), sent)
	if err != nil || len(invs) != 6 {
		t.Fatalf("poll of 6 commands: %v, %d rows", err, len(invs))
	}
	if n := lists() - before; n != 1 {
		t.Fatalf("a poll of 6 one-instance commands made %d ListCommandInvocations calls, want 1", n)
	}
	last := sim.Recorder().Calls("ListCommandInvocations")[lists()-1]
	if f := last.Params["Filters"]; f != "InvokedAfter,DocumentName" {
		t.Errorf("the listing is narrowed by %q, want InvokedAfter,DocumentName", f)
	}

	// Two commands are listed in one call too: a batch's fast members on
	// their next step and its slow ones still on theirs.
	two := map[string]string{ids[0]: sent[ids[0]], ids[1]: sent[ids[1]]}
	before = lists()
	if invs, err := runner.Invocations(testContext(t), two); err != nil || len(invs) != 2 {
		t.Fatalf("poll of 2 commands: %v, %d rows", err, len(invs))
	}
	if n := lists() - before; n != 1 {
		t.Errorf("a poll of 2 commands made %d ListCommandInvocations calls, want 1", n)
	}

	// 350 invocations of the same document sent after ours: 7 pages, more
	// than the 6 commands polled.
	others := sim.AddInstances(fleetsim.InstanceConfig{Count: 50, AppVersion: "v1"})
	sim.Advance(time.Second)
	for i := 0; i < 7; i++ {
		shell(others, "echo noise")
	}
	sim.Advance(time.Minute)
	before = lists()
	invs, err = runner.Invocations(testContext(t), sent)
	if err != nil || len(invs) != 6 {
		t.Fatalf("poll among other commands: %v, %d rows", err, len(invs))
	}
	for _, inv := range invs {
		if inv.Status != rollout.InvocationSuccess || sent[inv.InstanceID] != inv.CommandID {
			t.Errorf("%s: %+v, want Success of %s", inv.InstanceID, inv, sent[inv.InstanceID])
		}
	}
	// 6 pages of other commands, then one listing per command.
	if n := lists() - before; n != 12 {
		t.Errorf("poll among other commands made %d calls, want 12 (the 6-page cap, then 6 per command)", n)
	}
}

// A targeted health read asks DescribeTargetHealth about the given targets
// only: one row each, unused/Target.NotRegistered for one not registered,
// and InvalidTarget (the engine then reads the whole group) for an instance
// that does not exist.
func TestSim_targetsHealthReadsOnlyTheGivenTargets(t *testing.T) {
	sim, c, _ := newSim(t, nil)
	arn := sim.AddTargetGroup(fleetsim.TargetGroupConfig{Name: "web", Port: 80})
	ids := sim.AddInstances(fleetsim.InstanceConfig{Count: 50, AppVersion: "v1", TargetGroupARNs: []string{arn}})
	spare := sim.AddInstances(fleetsim.InstanceConfig{Count: 1, AppVersion: "v1"})
	reader, ok := c.Ports(nil, nil).LB.(rollout.TargetsHealthReader)
	if !ok {
		t.Fatal("the load balancer port does not read targeted health")
	}
	rows, err := reader.TargetsHealth(testContext(t), arn, []rollout.Target{{InstanceID: ids[3], Port: 80}, {InstanceID: spare[0], Port: 80}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]rollout.TargetHealth{}
	for _, r := range rows {
		got[r.InstanceID] = r
	}
	if len(rows) != 2 || got[ids[3]].State != rollout.HealthHealthy ||
		got[spare[0]].State != rollout.HealthUnused || got[spare[0]].Reason != "Target.NotRegistered" {
		t.Fatalf("rows = %+v", rows)
	}
	_, err = reader.TargetsHealth(testContext(t), arn, []rollout.Target{{InstanceID: "i-0000000000000dead", Port: 80}})
	var apiErr *Error
	if !errors.As(err, &apiErr) || apiErr.Code != "InvalidTarget" {
		t.Fatalf("unknown instance: %v, want InvalidTarget", err)
	}
}
