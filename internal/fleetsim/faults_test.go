package fleetsim

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"
)

func TestThrottling_sdkRetriesThrottledCallsAndSucceeds(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{})
	arn := s.AddTargetGroup(TargetGroupConfig{Name: "web"})
	// One token, refilled 5 per simulated second: the second call comes at
	// the same simulated instant, is throttled, and the SDK retries after
	// backing off 100 ms of simulated time (the frozen clock moves only by
	// the back-off here), so every other attempt finds a token.
	s.Faults().SetRateLimit("DescribeTargetHealth", 1, 5)
	retrying := sdkConfig(*cfg.BaseEndpoint, s.Region(), testAccessKey, testSecretKey, 50)
	retrying.Retryer = func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = 50
			o.Backoff = simBackoff{s, 100 * time.Millisecond}
		})
	}
	c := elbv2.NewFromConfig(retrying)
	for i := 0; i < 3; i++ {
		if _, err := c.DescribeTargetHealth(ctx(t), &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(arn)}); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	throttled := 0
	for _, c := range s.Recorder().Calls("DescribeTargetHealth") {
		if c.ErrorCode == "Throttling" {
			throttled++
		}
	}
	// Calls 2 and 3 each wait two back-offs (0.2 s) for a token.
	if throttled != 2*2 {
		t.Fatalf("%d throttled attempts, want 4", throttled)
	}
}

// A bucket refills in simulated time: at any time scale the same limit
// throttles the same calls.
func TestThrottling_bucketsRefillInSimulatedTime(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{})
	arn := s.AddTargetGroup(TargetGroupConfig{Name: "web"})
	s.Faults().SetRateLimit("DescribeTargetHealth", 1, 2) // a token per 500 ms
	c := elbv2.NewFromConfig(sdkConfig(*cfg.BaseEndpoint, s.Region(), testAccessKey, testSecretKey, 1))
	call := func() error {
		_, err := c.DescribeTargetHealth(ctx(t), &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(arn)})
		return err
	}
	if err := call(); err != nil {
		t.Fatal(err)
	}
	// Wall time passes, simulated time does not: still no token.
	time.Sleep(20 * time.Millisecond)
	if err := call(); err == nil {
		t.Fatal("a frozen clock refilled the bucket")
	}
	s.Advance(400 * time.Millisecond)
	if err := call(); err == nil {
		t.Fatal("refilled after 400 ms of a 500 ms token")
	}
	s.Advance(100 * time.Millisecond)
	if err := call(); err != nil {
		t.Fatalf("not refilled after 500 simulated ms: %v", err)
	}
}

func TestThrottling_givingUpSurfacesEachServicesThrottleCode(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{})
	arn := s.AddTargetGroup(TargetGroupConfig{Name: "web"})
	ids := s.AddInstances(InstanceConfig{Count: 1, AppVersion: "v1"})
	for _, a := range []string{"DescribeTargetHealth", "DescribeInstances", "GetCommandInvocation"} {
		s.Faults().SetRateLimit(a, 0, 0)
	}
	var ae smithy.APIError
	_, err := elbv2.NewFromConfig(cfg).DescribeTargetHealth(ctx(t), &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(arn)})
	if !errors.As(err, &ae) || ae.ErrorCode() != "Throttling" {
		t.Fatalf("elbv2: %v", err)
	}
	_, err = ec2.NewFromConfig(cfg).DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{})
	if !errors.As(err, &ae) || ae.ErrorCode() != "RequestLimitExceeded" {
		t.Fatalf("ec2: %v", err)
	}
	_, err = ssm.NewFromConfig(cfg).GetCommandInvocation(ctx(t), &ssm.GetCommandInvocationInput{CommandId: aws.String("00000000-0000-4000-a000-000000000000"), InstanceId: aws.String(ids[0])})
	if !errors.As(err, &ae) || ae.ErrorCode() != "ThrottlingException" {
		t.Fatalf("ssm: %v", err)
	}
	if n := s.Recorder().CallCount()["DescribeInstances"]; n != 3 {
		t.Fatalf("DescribeInstances attempts = %d, want 3 (SDK retried the throttle)", n)
	}
}

func TestThrottling_awsLikeDefaultsLetABurstThroughThenThrottle(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{Throttling: true})
	arn := s.AddTargetGroup(TargetGroupConfig{Name: "web"})
	c := elbv2.NewFromConfig(sdkConfig(*cfg.BaseEndpoint, s.Region(), testAccessKey, testSecretKey, 1))
	burst := func(n int) (ok, throttled int) {
		for i := 0; i < n; i++ {
			if _, err := c.DescribeTargetGroups(ctx(t), &elbv2.DescribeTargetGroupsInput{TargetGroupArns: []string{arn}}); err != nil {
				throttled++
			} else {
				ok++
			}
		}
		return ok, throttled
	}
	// The 40-token Describe* bucket, refilled at 10 per simulated second;
	// the clock stands still meanwhile.
	if ok, throttled := burst(60); ok != 40 || throttled != 20 {
		t.Fatalf("ok=%d throttled=%d, want 40 and 20", ok, throttled)
	}
	s.Advance(time.Second)
	if ok, throttled := burst(15); ok != 10 || throttled != 5 {
		t.Fatalf("a simulated second later: ok=%d throttled=%d, want 10 and 5", ok, throttled)
	}
}

func TestFaults_serverErrorsAreRetriedAndSlowResponsesDelay(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{})
	s.Faults().ServerErrors("DescribeInstances", 1)
	_, err := ec2.NewFromConfig(cfg).DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "InternalError" {
		t.Fatalf("want InternalError, got %v", err)
	}
	if n := s.Recorder().CallCount()["DescribeInstances"]; n != 3 {
		t.Fatalf("attempts = %d, want 3", n)
	}
	// A slow response is slow in simulated time: 2 s at a hundredth of
	// real time is 20 ms of wall time.
	slow, slowCfg, _ := newFrozenSim(t, Options{TimeScale: 0.01})
	slow.Faults().SlowResponses("DescribeInstances", 1, 2*time.Second)
	before, start := slow.Now(), time.Now()
	if _, err := ec2.NewFromConfig(slowCfg).DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{}); err != nil {
		t.Fatal(err)
	}
	if d, wall := slow.Now().Sub(before), time.Since(start); d < 2*time.Second || wall < 20*time.Millisecond {
		t.Fatalf("slow response took %v simulated, %v wall; want 2 s and 20 ms at least", d, wall)
	}
}

func TestFaults_hangingCommandTimesOutAndCanBeCancelled(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{})
	ids := s.AddInstances(InstanceConfig{Count: 2, AppVersion: "v1"})
	s.Faults().HangCommands("app deploy")
	c := ssm.NewFromConfig(cfg)
	out, err := c.SendCommand(ctx(t), &ssm.SendCommandInput{DocumentName: aws.String("AWS-RunShellScript"), InstanceIds: ids,
		Parameters: map[string][]string{"commands": {"app stop", "app deploy v2"}, "executionTimeout": {"600"}}})
	if err != nil {
		t.Fatal(err)
	}
	cmd := *out.Command.CommandId
	s.Advance(5 * time.Minute)
	if inv := getInvocation(t, c, cmd, ids[0]); inv.Status != ssmtypes.CommandInvocationStatusInProgress {
		t.Fatalf("hung command at 5 min: %s", inv.Status)
	}
	if _, err := c.CancelCommand(ctx(t), &ssm.CancelCommandInput{CommandId: aws.String(cmd), InstanceIds: ids[1:]}); err != nil {
		t.Fatal(err)
	}
	if inv := getInvocation(t, c, cmd, ids[1]); inv.Status != ssmtypes.CommandInvocationStatusCancelled {
		t.Fatalf("cancelled: %s", inv.Status)
	}
	s.Advance(6 * time.Minute)
	inv := getInvocation(t, c, cmd, ids[0])
	if inv.Status != ssmtypes.CommandInvocationStatusTimedOut || *inv.StatusDetails != "Execution Timed Out" {
		t.Fatalf("after executionTimeout: %s %s", inv.Status, *inv.StatusDetails)
	}
	if snap, _ := s.Instance(ids[0]); snap.AppRunning || snap.AppVersion != "v1" {
		t.Fatalf("lines before the hang ran, the hung one did not: %+v", snap)
	}
}

func TestFaults_agentBackOnlineWhileDelayedGetsTheCommand(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{})
	ids := s.AddInstances(InstanceConfig{Count: 1, AppVersion: "v1", AgentOffline: true})
	c := ssm.NewFromConfig(cfg)
	cmd := runShell(t, c, ids, "echo hi")
	s.Advance(10 * time.Second)
	if err := s.Faults().SetAgentOnline(ids[0], true); err != nil {
		t.Fatal(err)
	}
	s.Advance(time.Minute)
	if inv := getInvocation(t, c, cmd, ids[0]); inv.Status != ssmtypes.CommandInvocationStatusSuccess {
		t.Fatalf("%s %s", inv.Status, *inv.StatusDetails)
	}
}

func TestFaults_agentOfflineIsUndeliverableAndQueuedInvocationsDeliveryTimeOut(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{})
	ids := s.AddInstances(InstanceConfig{Count: 3, AppVersion: "v1"})
	if err := s.Faults().SetAgentOnline(ids[0], false); err != nil {
		t.Fatal(err)
	}
	c := ssm.NewFromConfig(cfg)
	cmd := runShell(t, c, ids[:1], "echo hi")
	s.Advance(10 * time.Second)
	inv := getInvocation(t, c, cmd, ids[0])
	if inv.Status != ssmtypes.CommandInvocationStatusDelayed || *inv.StatusDetails != "Delayed" {
		t.Fatalf("offline agent while retrying: %s %s", inv.Status, *inv.StatusDetails)
	}
	s.Advance(time.Minute)
	inv = getInvocation(t, c, cmd, ids[0])
	if inv.Status != ssmtypes.CommandInvocationStatusFailed || *inv.StatusDetails != "Undeliverable" {
		t.Fatalf("offline agent: %s %s", inv.Status, *inv.StatusDetails)
	}

	// MaxConcurrency 1 and a hanging first invocation: the second never
	// starts and its delivery times out after TimeoutSeconds.
	s.Faults().HangCommands("", ids[1])
	out, err := c.SendCommand(ctx(t), &ssm.SendCommandInput{DocumentName: aws.String("AWS-RunShellScript"), InstanceIds: ids[1:],
		MaxConcurrency: aws.String("1"), TimeoutSeconds: aws.Int32(60), Parameters: map[string][]string{"commands": {"echo x"}}})
	if err != nil {
		t.Fatal(err)
	}
	s.Advance(61 * time.Second)
	inv = getInvocation(t, c, *out.Command.CommandId, ids[2])
	if inv.Status != ssmtypes.CommandInvocationStatusTimedOut || *inv.StatusDetails != "Delivery Timed Out" {
		t.Fatalf("queued invocation: %s %s", inv.Status, *inv.StatusDetails)
	}
}

func TestFaults_maxErrorsStopsFurtherInvocations(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{})
	ids := s.AddInstances(InstanceConfig{Count: 4, AppVersion: "v1"})
	c := ssm.NewFromConfig(cfg)
	out, err := c.SendCommand(ctx(t), &ssm.SendCommandInput{DocumentName: aws.String("AWS-RunShellScript"), InstanceIds: ids,
		MaxConcurrency: aws.String("1"), MaxErrors: aws.String("0"), Parameters: map[string][]string{"commands": {"fail nope"}}})
	if err != nil {
		t.Fatal(err)
	}
	s.Advance(time.Minute)
	list, err := c.ListCommandInvocations(ctx(t), &ssm.ListCommandInvocationsInput{CommandId: out.Command.CommandId})
	if err != nil {
		t.Fatal(err)
	}
	statuses := map[ssmtypes.CommandInvocationStatus]int{}
	for _, inv := range list.CommandInvocations {
		statuses[inv.Status]++
	}
	if statuses[ssmtypes.CommandInvocationStatusFailed] != 1 || statuses[ssmtypes.CommandInvocationStatusCancelled] != 3 {
		t.Fatalf("statuses %v", statuses)
	}
}

func TestFaults_invocationLagGivesInvocationDoesNotExistBriefly(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{})
	s.SetTiming(Timing{InvocationLag: 3 * time.Second})
	ids := s.AddInstances(InstanceConfig{Count: 1, AppVersion: "v1"})
	c := ssm.NewFromConfig(cfg)
	cmd := runShell(t, c, ids, "echo hi")
	_, err := c.GetCommandInvocation(ctx(t), &ssm.GetCommandInvocationInput{CommandId: aws.String(cmd), InstanceId: aws.String(ids[0])})
	var dne *ssmtypes.InvocationDoesNotExist
	if !errors.As(err, &dne) {
		t.Fatalf("want InvocationDoesNotExist, got %v", err)
	}
	s.Advance(3 * time.Second)
	getInvocation(t, c, cmd, ids[0])
}

func TestFaults_terminatedInstanceAndDeletedTargetGroup(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{})
	arn := s.AddTargetGroup(TargetGroupConfig{Name: "web"})
	ids := s.AddInstances(InstanceConfig{Count: 2, AppVersion: "v1", TargetGroupARNs: []string{arn}})
	if err := s.Faults().TerminateInstance(ids[0], 10*time.Second); err != nil {
		t.Fatal(err)
	}
	c := elbv2.NewFromConfig(cfg)
	if h := targetStates(t, c, arn)[ids[0]]; h.State != elbtypes.TargetHealthStateEnumHealthy {
		t.Fatalf("before the scheduled moment: %+v", h)
	}
	s.Advance(10 * time.Second)
	if h := targetStates(t, c, arn)[ids[0]]; h.State != elbtypes.TargetHealthStateEnumUnused || h.Reason != elbtypes.TargetHealthReasonEnumInvalidState {
		t.Fatalf("terminated: %+v", h)
	}
	out, err := ec2.NewFromConfig(cfg).DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{InstanceIds: ids[:1]})
	if err != nil || out.Reservations[0].Instances[0].State.Name != "terminated" {
		t.Fatalf("ec2 view: %v", err)
	}
	s.Advance(time.Hour)
	_, err = ec2.NewFromConfig(cfg).DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{InstanceIds: ids[:1]})
	var gone smithy.APIError
	if !errors.As(err, &gone) || gone.ErrorCode() != "InvalidInstanceID.NotFound" {
		t.Fatalf("an hour after termination: %v", err)
	}
	if err := s.Faults().DeleteTargetGroup(arn, 0); err != nil {
		t.Fatal(err)
	}
	_, err = c.DescribeTargetHealth(ctx(t), &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(arn)})
	var nf *elbtypes.TargetGroupNotFoundException
	if !errors.As(err, &nf) {
		t.Fatalf("deleted group: %v", err)
	}
}

func TestRealTime_timeScaleMakesLongDelaysShort(t *testing.T) {
	s := New(Options{TimeScale: 0.001, Credentials: map[string]string{testAccessKey: testSecretKey}})
	defer s.Close()
	arn := s.AddTargetGroup(TargetGroupConfig{Name: "web", DeregistrationDelay: 300 * time.Second})
	ids := s.AddInstances(InstanceConfig{Count: 1, AppVersion: "v1", TargetGroupARNs: []string{arn}})
	start := s.Now()
	s.mu.Lock()
	s.deregisterLocked(s.tgs[arn], targetKey{ids[0], 80})
	s.mu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	for {
		snap, _ := s.Instance(ids[0])
		if _, listed := snap.Targets[arn]; !listed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("300 simulated seconds did not pass within 5 wall seconds at scale 0.001")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if d := s.Now().Sub(start); d < 300*time.Second {
		t.Fatalf("target removed after only %v simulated", d)
	}
}

func TestAuth_missingOrMalformedSignatureIsRefused(t *testing.T) {
	_, _, url := newFrozenSim(t, Options{})
	for name, auth := range map[string]string{
		"missing":   "",
		"malformed": "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/ec2, SignedHeaders=host, Signature=xyz",
	} {
		req, _ := http.NewRequest(http.MethodPost, url+"/", strings.NewReader("Action=DescribeInstances&Version=2016-11-15"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode < 400 || resp.StatusCode >= 500 {
			t.Fatalf("%s: status %d", name, resp.StatusCode)
		}
	}
}

func TestFaults_replaceInstanceLaunchesAFreshMemberOnTheLaunchVersion(t *testing.T) {
	s, _, _ := newFrozenSim(t, Options{})
	tg, ids := seedGroup(s, 2)
	s.mu.Lock()
	s.asgs["web-asg"].launchVersion = "v0"
	s.mu.Unlock()
	if err := s.Faults().ReplaceInstance(ids[0], time.Minute); err != nil {
		t.Fatal(err)
	}
	s.Advance(59 * time.Second)
	if snap, _ := s.Instance(ids[0]); snap.State != StateRunning {
		t.Fatalf("replaced before its moment: %+v", snap)
	}
	s.Advance(time.Second)
	if snap, _ := s.Instance(ids[0]); snap.State != StateTerminated || snap.ASG != "web-asg" {
		t.Fatalf("not replaced: %+v", snap)
	}
	var fresh InstanceSnapshot
	for _, in := range s.Snapshot().Instances {
		if in.ID != ids[0] && in.ID != ids[1] {
			fresh = in
		}
	}
	if fresh.ID == "" || fresh.State != StatePending || fresh.LifecycleState != "Pending" {
		t.Fatalf("replacement %+v", fresh)
	}
	s.Advance(time.Minute)
	fresh, _ = s.Instance(fresh.ID)
	if fresh.State != StateRunning || fresh.AppVersion != "v0" || len(fresh.RollingTags) != 0 || fresh.Targets[tg] != TargetHealthy || fresh.LifecycleState != "InService" {
		t.Fatalf("replacement after launch %+v", fresh)
	}
}

func TestFaults_stoppedInstanceStartsAgainAndRejoinsThroughInitial(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{})
	arn := s.AddTargetGroup(TargetGroupConfig{Name: "web", HealthCheckInterval: 10 * time.Second, HealthyThreshold: 2})
	ids := s.AddInstances(InstanceConfig{Count: 1, AppVersion: "v1", TargetGroupARNs: []string{arn}})
	c := elbv2.NewFromConfig(cfg)
	if err := s.Faults().StopInstance(ids[0], 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Faults().StartInstance(ids[0], 30*time.Second); err != nil {
		t.Fatal(err)
	}
	s.Advance(30 * time.Second)
	if h := targetStates(t, c, arn)[ids[0]]; h.State != elbtypes.TargetHealthStateEnumInitial {
		t.Fatalf("just started: %+v", h)
	}
	s.Advance(20 * time.Second)
	if h := targetStates(t, c, arn)[ids[0]]; h.State != elbtypes.TargetHealthStateEnumHealthy {
		t.Fatalf("after two checks: %+v", h)
	}
	if snap, _ := s.Instance(ids[0]); !snap.AppRunning || snap.State != StateRunning {
		t.Fatalf("%+v", snap)
	}
}

func TestFaults_clearRemovesEveryFault(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{})
	s.Faults().ServerErrors("", 1)
	s.Faults().SetRateLimit("DescribeInstances", 0, 0)
	s.Faults().SetThrottling(true)
	s.Faults().Clear()
	for i := 0; i < 3; i++ {
		if _, err := ec2.NewFromConfig(cfg).DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{}); err != nil {
			t.Fatalf("after Clear: %v", err)
		}
	}
}
