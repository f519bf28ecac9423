package fleetsim

import (
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/smithy-go"
)

func alarmStates(t *testing.T, c *cloudwatch.Client, names ...string) map[string]cwtypes.StateValue {
	t.Helper()
	out, err := c.DescribeAlarms(ctx(t), &cloudwatch.DescribeAlarmsInput{AlarmNames: names})
	if err != nil {
		t.Fatalf("DescribeAlarms: %v", err)
	}
	m := map[string]cwtypes.StateValue{}
	for _, a := range out.MetricAlarms {
		m[*a.AlarmName] = a.StateValue
		if a.StateUpdatedTimestamp == nil || a.AlarmArn == nil {
			t.Fatalf("alarm fields %+v", a)
		}
	}
	return m
}

func TestCloudWatch_describeAndSetAlarmStateOverCBOR(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{})
	s.AddAlarm("web-5xx", "OK")
	s.AddAlarm("web-latency", "INSUFFICIENT_DATA")
	c := cloudwatch.NewFromConfig(cfg)
	if got := alarmStates(t, c); got["web-5xx"] != cwtypes.StateValueOk || got["web-latency"] != cwtypes.StateValueInsufficientData {
		t.Fatalf("%v", got)
	}
	if _, err := c.SetAlarmState(ctx(t), &cloudwatch.SetAlarmStateInput{AlarmName: aws.String("web-5xx"), StateValue: cwtypes.StateValueAlarm, StateReason: aws.String("test")}); err != nil {
		t.Fatal(err)
	}
	if got := alarmStates(t, c, "web-5xx"); len(got) != 1 || got["web-5xx"] != cwtypes.StateValueAlarm {
		t.Fatalf("%v", got)
	}
	_, err := c.SetAlarmState(ctx(t), &cloudwatch.SetAlarmStateInput{AlarmName: aws.String("nope"), StateValue: cwtypes.StateValueAlarm, StateReason: aws.String("x")})
	var nf *cwtypes.ResourceNotFound
	if !errors.As(err, &nf) {
		t.Fatalf("want ResourceNotFound, got %T %v", err, err)
	}
	if calls := s.Recorder().Calls("SetAlarmState"); len(calls) != 2 || calls[1].ErrorCode != "ResourceNotFound" || calls[0].Service != "monitoring" {
		t.Fatalf("recorded %+v", calls)
	}
}

func TestCloudWatch_describeAlarmsPaginates(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{})
	for _, n := range []string{"a1", "a2", "a3", "b1"} {
		s.AddAlarm(n, "OK")
	}
	p := cloudwatch.NewDescribeAlarmsPaginator(cloudwatch.NewFromConfig(cfg), &cloudwatch.DescribeAlarmsInput{AlarmNamePrefix: aws.String("a"), MaxRecords: aws.Int32(2)})
	n, pages := 0, 0
	for p.HasMorePages() {
		out, err := p.NextPage(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		pages++
		n += len(out.MetricAlarms)
	}
	if n != 3 || pages != 2 {
		t.Fatalf("%d alarms over %d pages", n, pages)
	}
}

func TestFaults_alarmFiresAfterCallsOrSimulatedTime(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{})
	s.AddAlarm("calls", "OK")
	s.AddAlarm("timed", "OK")
	if err := s.Faults().AlarmAfterCalls("calls", 2); err != nil {
		t.Fatal(err)
	}
	if err := s.Faults().AlarmAt("timed", 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	c := cloudwatch.NewFromConfig(cfg)
	for i := 1; i <= 2; i++ {
		if got := alarmStates(t, c, "calls"); got["calls"] != cwtypes.StateValueOk {
			t.Fatalf("call %d already %s", i, got["calls"])
		}
	}
	if got := alarmStates(t, c); got["calls"] != cwtypes.StateValueAlarm || got["timed"] != cwtypes.StateValueOk {
		t.Fatalf("third call: %v", got)
	}
	s.Advance(5 * time.Minute)
	if got := alarmStates(t, c); got["timed"] != cwtypes.StateValueAlarm {
		t.Fatalf("after 5 min: %v", got)
	}
	var ae smithy.APIError
	if err := s.Faults().AlarmAt("nope", 0); err == nil || errors.As(err, &ae) {
		t.Fatalf("unknown alarm: %v", err)
	}
}
