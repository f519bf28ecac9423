package fleetsim

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// poll calls cond every few wall milliseconds until it holds.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(3 * time.Millisecond)
	}
}

// TestScenario_rollingDeployInScaledTimeKeepsCapacityAndUpdatesEveryInstance
// drives the simulator the way the provider does, against the wall clock at
// TimeScale 0.001: batches of two leave the target group, drain, run the
// steps over SSM, rejoin and wait healthy. The recorder proves the capacity
// floor held.
func TestScenario_rollingDeployInScaledTimeKeepsCapacityAndUpdatesEveryInstance(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{TimeScale: 0.001, TickInterval: 5 * time.Millisecond})
	s.SetTiming(Timing{StepMean: 3 * time.Second, StepSigma: 0.3})
	arn := s.AddTargetGroup(TargetGroupConfig{Name: "web", HealthCheckInterval: 10 * time.Second, HealthyThreshold: 3, DeregistrationDelay: 30 * time.Second})
	ids := s.AddInstances(InstanceConfig{Count: 6, AppVersion: "v1", TargetGroupARNs: []string{arn}})
	s.Recorder().Reset()
	lb, sm := elbv2.NewFromConfig(cfg), ssm.NewFromConfig(cfg)
	start := s.Now()

	for b := 0; b < len(ids); b += 2 {
		batch := ids[b : b+2]
		var targets []elbtypes.TargetDescription
		for _, id := range batch {
			targets = append(targets, elbtypes.TargetDescription{Id: aws.String(id)})
		}
		if _, err := lb.DeregisterTargets(ctx(t), &elbv2.DeregisterTargetsInput{TargetGroupArn: aws.String(arn), Targets: targets}); err != nil {
			t.Fatal(err)
		}
		poll(t, "draining to end", func() bool {
			h := targetStates(t, lb, arn, batch...)
			return h[batch[0]].State == elbtypes.TargetHealthStateEnumUnused && h[batch[1]].State == elbtypes.TargetHealthStateEnumUnused
		})
		out, err := sm.SendCommand(ctx(t), &ssm.SendCommandInput{DocumentName: aws.String("AWS-RunShellScript"), InstanceIds: batch,
			Parameters: map[string][]string{"commands": {"app stop", "app deploy v2", "app check || true", "app start", "app check"}}})
		if err != nil {
			t.Fatal(err)
		}
		poll(t, "the steps to finish", func() bool {
			list, err := sm.ListCommandInvocations(ctx(t), &ssm.ListCommandInvocationsInput{CommandId: out.Command.CommandId})
			if err != nil {
				t.Fatal(err)
			}
			done := 0
			for _, inv := range list.CommandInvocations {
				switch inv.Status {
				case ssmtypes.CommandInvocationStatusSuccess:
					done++
				case ssmtypes.CommandInvocationStatusPending, ssmtypes.CommandInvocationStatusInProgress:
				default:
					t.Fatalf("invocation on %s ended %s", *inv.InstanceId, inv.Status)
				}
			}
			return done == len(batch)
		})
		if _, err := lb.RegisterTargets(ctx(t), &elbv2.RegisterTargetsInput{TargetGroupArn: aws.String(arn), Targets: targets}); err != nil {
			t.Fatal(err)
		}
		poll(t, "the batch to be healthy", func() bool {
			h := targetStates(t, lb, arn, batch...)
			return h[batch[0]].State == elbtypes.TargetHealthStateEnumHealthy && h[batch[1]].State == elbtypes.TargetHealthStateEnumHealthy
		})
	}

	for _, id := range ids {
		if snap, _ := s.Instance(id); snap.AppVersion != "v2" || !snap.AppRunning {
			t.Fatalf("%s after the rollout: %+v", id, snap)
		}
	}
	if got := s.Recorder().MinInService(arn); got != 4 {
		t.Fatalf("MinInService = %d, want 4 (6 instances, batches of 2)", got)
	}
	if got := s.Recorder().MaxOutOfService(); got != 2 {
		t.Fatalf("MaxOutOfService = %d, want 2", got)
	}
	// Lower bound per batch: 30s draining + 5 steps of ~3s + ~30s to healthy.
	if took := s.Now().Sub(start); took < 3*(30+30)*time.Second {
		t.Fatalf("the rollout took only %v of simulated time", took)
	}
}
