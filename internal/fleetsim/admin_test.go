package fleetsim

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

func adminDo(t *testing.T, method, url, body string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: %v", method, url, err)
		}
	}
	return resp.StatusCode
}

func TestAdmin_fleetRecorderFaultsAndAdvanceOverHTTP(t *testing.T) {
	s, cfg, url := newFrozenSim(t, Options{})
	arn := s.AddTargetGroup(TargetGroupConfig{Name: "web", DeregistrationDelay: 10 * time.Second})
	ids := s.AddInstances(InstanceConfig{Count: 3, AppVersion: "v1", TargetGroupARNs: []string{arn}, Tags: map[string]string{"rolling:version": "v1", "Name": "web"}})

	var fleet FleetSnapshot
	if code := adminDo(t, "GET", url+"/_sim/fleet", "", &fleet); code != 200 {
		t.Fatalf("fleet status %d", code)
	}
	if len(fleet.Instances) != 3 || fleet.Instances[0].ID != ids[0] || fleet.Instances[0].RollingTags["rolling:version"] != "v1" ||
		fleet.Instances[0].Targets[arn] != TargetHealthy || fleet.TargetGroups[0].Healthy != 3 || fleet.Instances[0].AZ != "us-east-1a" {
		t.Fatalf("fleet %+v", fleet)
	}

	c := elbv2.NewFromConfig(cfg)
	if _, err := c.DeregisterTargets(ctx(t), &elbv2.DeregisterTargetsInput{TargetGroupArn: aws.String(arn),
		Targets: []elbtypes.TargetDescription{{Id: aws.String(ids[0])}}}); err != nil {
		t.Fatal(err)
	}
	if code := adminDo(t, "POST", url+"/_sim/advance", `{"duration":"11s"}`, nil); code != 200 {
		t.Fatalf("advance status %d", code)
	}
	var rep RecorderReport
	adminDo(t, "GET", url+"/_sim/recorder?calls=1&timelines=1", "", &rep)
	if rep.CallCount["DeregisterTargets"] != 1 || len(rep.Calls) != 1 || rep.Calls[0].TargetIDs[0] != ids[0] ||
		rep.MinInService[arn] != 2 || rep.MaxOutOfService != 1 || len(rep.Timelines[arn]) < 2 {
		t.Fatalf("recorder %+v", rep)
	}

	if code := adminDo(t, "POST", url+"/_sim/faults", `{"kind":"stop","instance":"`+ids[1]+`"}`, nil); code != 200 {
		t.Fatalf("fault status %d", code)
	}
	if snap, _ := s.Instance(ids[1]); snap.State != StateStopped {
		t.Fatalf("stop via admin: %+v", snap)
	}
	var e map[string]string
	if code := adminDo(t, "POST", url+"/_sim/faults", `{"kind":"meteor"}`, &e); code != 400 || e["error"] == "" {
		t.Fatalf("unknown fault: %d %v", code, e)
	}
	if code := adminDo(t, "POST", url+"/_sim/recorder/reset", "", nil); code != 200 {
		t.Fatalf("reset %d", code)
	}
	var fresh RecorderReport
	adminDo(t, "GET", url+"/_sim/recorder", "", &fresh)
	if len(fresh.CallCount) != 0 || fresh.MinInService[arn] != 1 || fresh.MaxOutOfService != 2 {
		t.Fatalf("after reset %+v", fresh)
	}
	if code := adminDo(t, "POST", url+"/_sim/seed", `{"instances":[{"count":2,"app_version":"v1"}]}`, nil); code != 200 {
		t.Fatalf("seed %d", code)
	}
	if got := len(s.Snapshot().Instances); got != 5 {
		t.Fatalf("instances after admin seed: %d", got)
	}
	if calls := s.Recorder().Calls(""); len(calls) != 0 {
		t.Fatalf("admin calls must not be recorded: %+v", calls)
	}
}

func TestRecorder_timelineTracksHealthyCountOverSimulatedTime(t *testing.T) {
	s, _, _ := newFrozenSim(t, Options{})
	arn := s.AddTargetGroup(TargetGroupConfig{Name: "web", HealthCheckInterval: 10 * time.Second, HealthyThreshold: 2, DeregistrationDelay: 5 * time.Second})
	ids := s.AddInstances(InstanceConfig{Count: 2, AppVersion: "v1", TargetGroupARNs: []string{arn}})
	start := s.Now()
	s.mu.Lock()
	s.deregisterLocked(s.tgs[arn], targetKey{ids[0], 80})
	s.mu.Unlock()
	s.Advance(5 * time.Second)
	s.mu.Lock()
	s.registerLocked(s.tgs[arn], targetKey{ids[0], 80})
	s.mu.Unlock()
	s.Advance(20 * time.Second)
	tl := s.Recorder().InServiceTimeline(arn)
	var counts []int
	for _, p := range tl {
		counts = append(counts, p.Healthy)
	}
	if len(tl) != 3 || counts[0] != 2 || counts[1] != 1 || counts[2] != 2 {
		t.Fatalf("timeline %v", tl)
	}
	if d := tl[2].At.Sub(start); d != 25*time.Second {
		t.Fatalf("healthy again after %v, want 5s drain + 2 checks of 10s", d)
	}
	if s.Recorder().MinInService(arn) != 1 || s.Recorder().MinInService("arn:nope") != -1 {
		t.Fatal("MinInService")
	}
}

func TestSeed_fileBuildsTheFleetAndRejectsTypos(t *testing.T) {
	sd, err := ParseSeed([]byte(`{
		"time_scale": 0.5, "timing": {"step_mean": "4s"},
		"target_groups": [{"name": "web", "deregistration_delay": "0s"}],
		"auto_scaling_groups": [{"name": "g", "target_groups": ["web"], "max": 4, "launch_version": "v1"}],
		"instances": [{"count": 2, "app_version": "v1", "auto_scaling_group": "g"}, {"count": 1, "app_version": "v1", "target_groups": ["web"]}],
		"alarms": [{"name": "a", "state": "ALARM"}],
		"documents": [{"name": "Custom", "parameters": ["version"]}]
	}`))
	if err != nil {
		t.Fatal(err)
	}
	if sd.Options().TimeScale != 0.5 {
		t.Fatalf("options %+v", sd.Options())
	}
	s := New(Options{TimeScale: 1e9, TickInterval: -1})
	defer s.Close()
	if err := s.ApplySeed(sd); err != nil {
		t.Fatal(err)
	}
	snap := s.Snapshot()
	if len(snap.Instances) != 3 || snap.TargetGroups[0].Healthy != 3 || snap.Instances[0].LifecycleState != "InService" || snap.Alarms[0].State != "ALARM" {
		t.Fatalf("snapshot %+v", snap)
	}
	s.mu.Lock()
	delay := s.tgs[snap.TargetGroups[0].ARN].deregistrationDelay()
	s.mu.Unlock()
	if delay != 0 {
		t.Fatalf("explicit 0s delay became %v", delay)
	}
	if _, err := ParseSeed([]byte(`{"instancez": []}`)); err == nil {
		t.Fatal("unknown field accepted")
	}
	if _, err := ParseSeed([]byte(`{"instances":[{"count":1,"target_groups":["nope"]}]}`)); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("unknown target group: %v", err)
	}
}

func TestAdmin_everyFaultKindAppliesOverHTTP(t *testing.T) {
	s, _, url := newFrozenSim(t, Options{})
	arn := s.AddTargetGroup(TargetGroupConfig{Name: "web"})
	s.AddAutoScalingGroup(AutoScalingGroupConfig{Name: "asg", TargetGroupARNs: []string{arn}, Max: 9, LaunchVersion: "v1"})
	ids := s.AddInstances(InstanceConfig{Count: 4, AppVersion: "v1", AutoScalingGroup: "asg"})
	s.AddAlarm("a", "OK")
	for _, body := range []string{
		`{"kind":"throttling","on":true}`,
		`{"kind":"rate_limit","action":"DescribeInstances","burst":5,"per_second":1}`,
		`{"kind":"server_errors","action":"DescribeTags","rate":0.5}`,
		`{"kind":"slow","action":"DescribeTags","rate":0.5,"delay":"10ms"}`,
		`{"kind":"fail_deploy","version":"v2","instances":["` + ids[0] + `"]}`,
		`{"kind":"never_healthy","version":"v3"}`,
		`{"kind":"hang","match":"app deploy"}`,
		`{"kind":"agent","instance":"` + ids[1] + `","online":false}`,
		`{"kind":"stop","instance":"` + ids[1] + `","after":"1m"}`,
		`{"kind":"start","instance":"` + ids[1] + `","after":"2m"}`,
		`{"kind":"terminate","instance":"` + ids[2] + `"}`,
		`{"kind":"replace","instance":"` + ids[3] + `","after":30}`,
		`{"kind":"alarm","alarm":"a","after_calls":3}`,
		`{"kind":"delete_target_group","target_group":"web","after":"1h"}`,
		`{"kind":"clear"}`,
	} {
		var e map[string]any
		if code := adminDo(t, "POST", url+"/_sim/faults", body, &e); code != 200 {
			t.Fatalf("%s: %d %v", body, code, e)
		}
	}
	if snap, _ := s.Instance(ids[2]); snap.State != StateTerminated {
		t.Fatalf("terminate: %+v", snap)
	}
	s.Advance(time.Minute)
	if snap, _ := s.Instance(ids[3]); snap.State != StateTerminated {
		t.Fatalf("replace after 30s: %+v", snap)
	}
	if snap, _ := s.Instance(ids[1]); snap.State != StateStopped || snap.AgentOnline {
		t.Fatalf("stop after 1m: %+v", snap)
	}
	s.Advance(time.Hour)
	if len(s.Snapshot().TargetGroups) != 0 {
		t.Fatal("target group not deleted after 1h")
	}
	for _, bad := range []string{`{"kind":"stop","instance":"i-nope"}`, `{"kind":"alarm","alarm":"nope"}`, `{"kind":"rate_limit"}`, `{"kind":"stop","after":"soon"}`, `not json`} {
		if code := adminDo(t, "POST", url+"/_sim/faults", bad, nil); code != 400 {
			t.Fatalf("%s accepted with %d", bad, code)
		}
	}
}
