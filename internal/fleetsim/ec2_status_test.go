package fleetsim

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"
)

func instanceStatuses(t *testing.T, c *ec2.Client, in *ec2.DescribeInstanceStatusInput) (map[string]ec2types.InstanceStatus, int) {
	t.Helper()
	out := map[string]ec2types.InstanceStatus{}
	pages := 0
	p := ec2.NewDescribeInstanceStatusPaginator(c, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx(t))
		if err != nil {
			t.Fatalf("DescribeInstanceStatus: %v", err)
		}
		pages++
		for _, st := range page.InstanceStatuses {
			out[*st.InstanceId] = st
		}
	}
	return out, pages
}

func checks(st ec2types.InstanceStatus) string {
	s := fmt.Sprintf("%s/%s", st.InstanceStatus.Status, st.SystemStatus.Status)
	for _, d := range st.InstanceStatus.Details {
		s += fmt.Sprintf(" %s=%s", d.Name, d.Status)
	}
	return s
}

func TestEC2_describeInstanceStatusListsRunningInstancesUnlessAskedForAll(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{})
	ids := s.AddInstances(InstanceConfig{Count: 3, AZs: []string{"us-east-1b"}, AppVersion: "v1"})
	c := ec2.NewFromConfig(cfg)
	if _, err := c.StopInstances(ctx(t), &ec2.StopInstancesInput{InstanceIds: ids[2:]}); err != nil {
		t.Fatal(err)
	}
	running, _ := instanceStatuses(t, c, &ec2.DescribeInstanceStatusInput{})
	if len(running) != 2 || checks(running[ids[0]]) != "ok/ok reachability=passed" {
		t.Fatalf("running only: %v", running)
	}
	st := running[ids[0]]
	if *st.AvailabilityZone != "us-east-1b" || st.InstanceState.Name != ec2types.InstanceStateNameRunning || *st.InstanceState.Code != 16 ||
		st.SystemStatus.Details[0].Status != ec2types.StatusTypePassed {
		t.Fatalf("row %+v", st)
	}
	all, _ := instanceStatuses(t, c, &ec2.DescribeInstanceStatusInput{IncludeAllInstances: aws.Bool(true)})
	if len(all) != 3 || checks(all[ids[2]]) != "not-applicable/not-applicable" || all[ids[2]].InstanceState.Name != ec2types.InstanceStateNameStopping {
		t.Fatalf("all: %v", all)
	}
	// By id: only running ones unless IncludeAllInstances, an unknown id
	// fails the call.
	byID, _ := instanceStatuses(t, c, &ec2.DescribeInstanceStatusInput{InstanceIds: ids[1:]})
	if _, ok := byID[ids[1]]; !ok || len(byID) != 1 {
		t.Fatalf("by id: %v", byID)
	}
	_, err := c.DescribeInstanceStatus(ctx(t), &ec2.DescribeInstanceStatusInput{InstanceIds: []string{ids[0], "i-0123456789abcdef0"}})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidInstanceID.NotFound" {
		t.Fatalf("unknown id: %v", err)
	}
	_, err = c.DescribeInstanceStatus(ctx(t), &ec2.DescribeInstanceStatusInput{InstanceIds: ids, MaxResults: aws.Int32(5)})
	if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidParameterCombination" {
		t.Fatalf("ids with MaxResults: %v", err)
	}
	many := make([]string, 101)
	for i := range many {
		many[i] = fmt.Sprintf("i-0%016x", i)
	}
	_, err = c.DescribeInstanceStatus(ctx(t), &ec2.DescribeInstanceStatusInput{InstanceIds: many})
	if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidParameterValue" {
		t.Fatalf("101 ids: %v", err)
	}
	_, err = c.DescribeInstanceStatus(ctx(t), &ec2.DescribeInstanceStatusInput{Filters: []ec2types.Filter{{Name: aws.String("tag:Name"), Values: []string{"x"}}}})
	if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidParameterValue" {
		t.Fatalf("a filter DescribeInstanceStatus lacks: %v", err)
	}
}

func TestEC2_describeInstanceStatusFiltersAndPaginates(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{})
	ids := s.AddInstances(InstanceConfig{Count: 12, AppVersion: "v1"})
	c := ec2.NewFromConfig(cfg)
	if err := s.Faults().SetStatusChecks(ids[3], StatusImpaired, "", 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Faults().SetStatusChecks(ids[4], "", StatusInsufficientData, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Faults().StopInstance(ids[5], 0); err != nil {
		t.Fatal(err)
	}
	rows, pages := instanceStatuses(t, c, &ec2.DescribeInstanceStatusInput{IncludeAllInstances: aws.Bool(true), MaxResults: aws.Int32(5)})
	if len(rows) != 12 || pages != 3 {
		t.Fatalf("%d rows over %d pages", len(rows), pages)
	}
	imp := rows[ids[3]].InstanceStatus
	if imp.Status != ec2types.SummaryStatusImpaired || imp.Details[0].Status != ec2types.StatusTypeFailed || imp.Details[0].ImpairedSince == nil {
		t.Fatalf("impaired %+v", imp)
	}
	if got := checks(rows[ids[4]]); got != "ok/insufficient-data reachability=passed" {
		t.Fatalf("system check insufficient-data: %s", got)
	}
	for filter, want := range map[string][]string{
		"instance-status.status":       {"impaired"},
		"instance-status.reachability": {"failed"},
		"system-status.status":         {"insufficient-data"},
		"instance-state-name":          {"stopped"},
		"instance-state-code":          {"80"},
	} {
		got, _ := instanceStatuses(t, c, &ec2.DescribeInstanceStatusInput{IncludeAllInstances: aws.Bool(true),
			Filters: []ec2types.Filter{{Name: aws.String(filter), Values: want}}})
		if len(got) != 1 {
			t.Errorf("%s=%v: %d rows", filter, want, len(got))
		}
	}
	if got, _ := instanceStatuses(t, c, &ec2.DescribeInstanceStatusInput{Filters: []ec2types.Filter{{Name: aws.String("event.code"), Values: []string{"instance-stop"}}}}); len(got) != 0 {
		t.Errorf("no scheduled events are modelled: %v", got)
	}
	// Clearing the forced result returns to the modelled one.
	if err := s.Faults().SetStatusChecks(ids[3], "", "", 0); err != nil {
		t.Fatal(err)
	}
	if got, _ := instanceStatuses(t, c, &ec2.DescribeInstanceStatusInput{InstanceIds: ids[3:4]}); checks(got[ids[3]]) != "ok/ok reachability=passed" {
		t.Fatalf("after clearing: %v", got)
	}
	if err := s.Faults().SetStatusChecks(ids[3], "broken", "", 0); err == nil {
		t.Fatal("an unknown status result was accepted")
	}
}

func TestEC2_statusChecksInitializeAfterAStartThenPass(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{})
	s.SetTiming(Timing{StatusChecks: 90 * time.Second})
	ids := s.AddInstances(InstanceConfig{Count: 1, AppVersion: "v1"})
	c := ec2.NewFromConfig(cfg)
	if _, err := c.StopInstances(ctx(t), &ec2.StopInstancesInput{InstanceIds: ids}); err != nil {
		t.Fatal(err)
	}
	s.Advance(30 * time.Second)
	if _, err := c.StartInstances(ctx(t), &ec2.StartInstancesInput{InstanceIds: ids}); err != nil {
		t.Fatal(err)
	}
	all := &ec2.DescribeInstanceStatusInput{IncludeAllInstances: aws.Bool(true)}
	if got, _ := instanceStatuses(t, c, all); checks(got[ids[0]]) != "not-applicable/not-applicable" {
		t.Fatalf("pending: %v", checks(got[ids[0]]))
	}
	s.Advance(20 * time.Second)
	if got, _ := instanceStatuses(t, c, all); checks(got[ids[0]]) != "initializing/initializing reachability=initializing" {
		t.Fatalf("just running: %v", checks(got[ids[0]]))
	}
	s.Advance(90 * time.Second)
	if got, _ := instanceStatuses(t, c, all); checks(got[ids[0]]) != "ok/ok reachability=passed" {
		t.Fatalf("after the checks: %v", checks(got[ids[0]]))
	}
}

// The admin API's faults: impaired status checks, and an SSM agent that goes
// offline while the instance keeps running.
func TestAdmin_statusChecksAndAgentFaultsOverHTTP(t *testing.T) {
	s, cfg, url := newFrozenSim(t, Options{})
	ids := s.AddInstances(InstanceConfig{Count: 2, AppVersion: "v1"})
	body := `{"kind":"status_checks","instance":"` + ids[0] + `","instance_status":"impaired","system_status":"impaired","after":"10s"}`
	if code := adminDo(t, "POST", url+"/_sim/faults", body, nil); code != 200 {
		t.Fatalf("status_checks fault: %d", code)
	}
	if code := adminDo(t, "POST", url+"/_sim/faults", `{"kind":"agent","instance":"`+ids[1]+`","online":false,"after":"5s"}`, nil); code != 200 {
		t.Fatalf("agent fault: %d", code)
	}
	var e map[string]string
	if code := adminDo(t, "POST", url+"/_sim/faults", `{"kind":"status_checks","instance":"`+ids[0]+`","instance_status":"sad"}`, &e); code != 400 || e["error"] == "" {
		t.Fatalf("bad status: %d %v", code, e)
	}
	c, sm := ec2.NewFromConfig(cfg), ssm.NewFromConfig(cfg)
	if got, _ := instanceStatuses(t, c, &ec2.DescribeInstanceStatusInput{}); checks(got[ids[0]]) != "ok/ok reachability=passed" {
		t.Fatalf("before the fault's moment: %v", checks(got[ids[0]]))
	}
	s.Advance(10 * time.Second)
	if got, _ := instanceStatuses(t, c, &ec2.DescribeInstanceStatusInput{}); checks(got[ids[0]]) != "impaired/impaired reachability=failed" {
		t.Fatalf("impaired: %v", checks(got[ids[0]]))
	}
	if p := pingStatuses(t, sm); p[ids[1]] != ssmtypes.PingStatusConnectionLost || p[ids[0]] != ssmtypes.PingStatusOnline {
		t.Fatalf("agent offline: %v", p)
	}
	if st := ec2State(t, c, ids[1]); st != ec2types.InstanceStateNameRunning {
		t.Fatalf("an offline agent does not stop the instance: %s", st)
	}
}
