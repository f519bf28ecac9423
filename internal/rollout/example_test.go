package rollout_test

import (
	"fmt"
	"time"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/rollout"
)

// The schedule Terraform shows in the plan: six instances in two AZs and
// batches of two, but an 80% floor keeps ceil(6 x 0.8) = 5 in service, so
// one instance moves at a time, alternating AZs. Each batch is expected to
// take drain 30s + step 30s + health 3 x 10s = 90s.
func ExamplePlanSchedule() {
	tg := rollout.TargetGroup{ARN: "arn:aws:elasticloadbalancing:eu-west-1:1:targetgroup/web/0a1b", Name: "web",
		DeregistrationDelay: 30 * time.Second, HealthCheckInterval: 10 * time.Second, HealthyThreshold: 3}
	var insts []rollout.Instance
	for i, az := range []string{"a", "b", "a", "b", "a", "b"} {
		id := fmt.Sprintf("i-%d", i)
		t := rollout.Target{InstanceID: id, Port: 80}
		insts = append(insts, rollout.Instance{ID: id, AZ: "eu-west-1" + az, State: "running",
			Targets: map[string][]rollout.Target{tg.ARN: {t}},
			Health:  map[string]rollout.TargetHealth{tg.ARN: {Target: t, State: rollout.HealthHealthy}},
			Tags:    map[string]string{rollout.TagVersion: "v1"}})
	}
	s := rollout.Spec{
		RolloutID: "ro-example",
		Fleet:     rollout.Fleet{TargetGroups: []rollout.TargetGroup{tg}, Instances: insts},
		Release:   rollout.Release{Version: "v2", Steps: []rollout.Step{{Name: "deploy", Commands: []string{"/opt/app/install v2"}}}},
		Strategy:  rollout.Strategy{BatchSize: 2, MinHealthyPercent: 80},
	}
	plan, err := rollout.PlanSchedule(s)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("floor:", plan.MinInService, "max unavailable:", plan.MaxUnavailable)
	fmt.Println("batches:", plan.Batches)
	fmt.Println("expected:", plan.ExpectedDuration)
	// Output:
	// floor: 5 max unavailable: 1
	// batches: [[i-0] [i-1] [i-2] [i-3] [i-4] [i-5]]
	// expected: 9m0s
}
