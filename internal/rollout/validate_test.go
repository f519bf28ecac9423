package rollout

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestValidate_reportsEveryProblemAtOnce(t *testing.T) {
	s := Spec{
		Release: Release{Steps: []Step{
			{Name: "a", Commands: []string{"x"}, DocumentName: "AWS-Foo"},
			{Name: "a"},
			{Commands: []string{"y"}, Parameters: map[string][]string{"commands": {"z"}}, Timeout: -time.Second},
		}},
		Strategy: Strategy{BatchSize: 2, BatchPercent: 10, MinHealthyPercent: 120, Mode: "sideways", Order: "random",
			CanaryPause: time.Minute, BakeTime: -time.Second},
		Failure: FailurePolicy{MaxFailedInstances: -1, MaxFailedPercent: 101, AlarmNames: []string{""}},
		Fleet: Fleet{Instances: []Instance{
			{ID: "i-1", AutoScalingGroup: "nope", Targets: map[string][]Target{"arn:unknown": nil}},
			{ID: "i-1"},
		}},
	}
	err := s.Validate()
	var verr *ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("err = %v, want *ValidationError", err)
	}
	for _, want := range []string{
		"rollout id must not be empty",
		"version must not be empty",
		`step "a": only one of commands and document_name may be set`,
		`step "a": name is used by more than one step`,
		`step "a": one of commands or document_name must be set`,
		"step 3: name must not be empty",
		`step 3: parameter "commands" is set from commands`,
		"step 3: timeout must not be negative",
		"only one of batch_size and batch_percent may be set",
		"min_healthy_percent must be between 0 and 100",
		`mode must be "batch" or "window"`,
		`order must be "az_balanced", "sorted" or "zone_by_zone"`,
		"canary_pause needs canary_size",
		"bake_time must not be negative",
		"max_failed_instances must not be negative",
		"max_failed_percent must be between 0 and 100",
		"alarm_names[0] must not be empty",
		"instance i-1 is listed twice",
		"instance i-1 is registered in target group arn:unknown, which is not in the fleet",
		"instance i-1 is in Auto Scaling group nope, which is not in the fleet",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing problem %q", want)
		}
	}
}

func TestValidate_includesTheCapacityFloorWithOtherProblems(t *testing.T) {
	s := specFor(instancesIn(2, "a"), Strategy{BatchSize: 1, MinHealthyPercent: 100})
	s.RolloutID = ""
	err := s.Validate()
	if err == nil || !strings.Contains(err.Error(), "rollout id") || !strings.Contains(err.Error(), "at most 50 for 2 instances") {
		t.Fatalf("err = %v", err)
	}
}

func TestValidate_acceptsAGoodSpec(t *testing.T) {
	s := specFor(instancesIn(3, "a", "b"), Strategy{BatchPercent: 34, MinHealthyPercent: 66, Mode: ModeWindow})
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
}

// lockstep is batch mode's: in window mode no step waits for others, so
// asking for it there is a mistake, said at plan time.
func TestValidate_refusesLockstepInWindowMode(t *testing.T) {
	s := specFor(instancesIn(4, "a"), Strategy{BatchSize: 1, Mode: ModeWindow, Lockstep: true})
	err := s.Validate()
	if err == nil || !strings.Contains(err.Error(), `lockstep applies to mode "batch" only`) {
		t.Fatalf("err = %v", err)
	}
	s.Strategy.Mode = ModeBatch
	if err := s.Validate(); err != nil {
		t.Fatalf("batch mode with lockstep: %v", err)
	}
}
