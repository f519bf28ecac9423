package fleetsim

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// fuzzSim is a small seeded fleet accepting any (unverified) signature.
func fuzzSim(t testing.TB) (*Sim, []string, string) {
	s := New(Options{TimeScale: 1e9, TickInterval: -1})
	t.Cleanup(s.Close)
	arn := s.AddTargetGroup(TargetGroupConfig{Name: "web"})
	s.AddAutoScalingGroup(AutoScalingGroupConfig{Name: "asg", TargetGroupARNs: []string{arn}, Max: 5})
	ids := s.AddInstances(InstanceConfig{Count: 3, AppVersion: "v1", TargetGroupARNs: []string{arn}, AutoScalingGroup: "asg"})
	s.AddAlarm("alarm", "OK")
	return s, ids, arn
}

func fuzzAuth(service string) string {
	return "AWS4-HMAC-SHA256 Credential=AKIDFUZZ/20260101/us-east-1/" + service + "/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + strings.Repeat("0", 64)
}

// serve runs one request and checks the answer is a well-formed response of
// the protocol: a known status and a body that parses.
func serve(t *testing.T, s *Sim, req *http.Request, proto protocol) {
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	res := rec.Result()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 && (res.StatusCode < 400 || res.StatusCode > 599) {
		t.Fatalf("status %d", res.StatusCode)
	}
	switch proto {
	case protoQuery, protoEC2:
		d := xml.NewDecoder(bytes.NewReader(body))
		for {
			_, err := d.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("response is not XML: %v\n%s", err, body)
			}
		}
	case protoJSON:
		if !json.Valid(body) {
			t.Fatalf("response is not JSON: %s", body)
		}
	case protoCBOR:
		var v any
		if err := cbor.Unmarshal(body, &v); err != nil {
			t.Fatalf("response is not CBOR: %v", err)
		}
		if res.Header.Get("Smithy-Protocol") != "rpc-v2-cbor" {
			t.Fatal("CBOR response without Smithy-Protocol")
		}
	}
}

func FuzzQueryRequest(f *testing.F) {
	for _, seed := range []string{
		"Action=DescribeTargetHealth&Version=2015-12-01&TargetGroupArn=ARN&Targets.member.1.Id=ID0&Targets.member.1.Port=80",
		"Action=RegisterTargets&Version=2015-12-01&TargetGroupArn=ARN&Targets.member.1.Id=ID1",
		"Action=DeregisterTargets&Version=2015-12-01&TargetGroupArn=ARN&Targets.member.2.Id=ID2&Targets.member.2.Port=99999",
		"Action=DescribeTargetGroups&Version=2015-12-01&PageSize=1&Marker=fleetsim-1",
		"Action=ModifyTargetGroupAttributes&Version=2015-12-01&TargetGroupArn=ARN&Attributes.member.1.Key=deregistration_delay.timeout_seconds&Attributes.member.1.Value=-5",
		"Action=CreateTargetGroup&Version=2015-12-01&Name=x&Port=0",
		"Action=DescribeInstances&Version=2016-11-15&Filter.1.Name=tag:Name&Filter.1.Value.1=*&MaxResults=5&NextToken=fleetsim-x",
		"Action=CreateTags&Version=2016-11-15&ResourceId.1=ID0&Tag.1.Key=rolling:phase&Tag.1.Value=deploy",
		"Action=DeleteTags&Version=2016-11-15&ResourceId.1=ID0&Tag.1.Key=aws:x",
		"Action=DescribeTags&Version=2016-11-15&Filter.1.Name=key&Filter.1.Value.1=rolling%3A%3F",
		"Action=EnterStandby&Version=2011-01-01&AutoScalingGroupName=asg&InstanceIds.member.1=ID0&ShouldDecrementDesiredCapacity=true",
		"Action=ExitStandby&Version=2011-01-01&AutoScalingGroupName=asg&InstanceIds.member.1=ID0",
		"Action=SetDesiredCapacity&Version=2011-01-01&AutoScalingGroupName=asg&DesiredCapacity=99999999999999999999",
		"Action=SuspendProcesses&Version=2011-01-01&AutoScalingGroupName=asg&ScalingProcesses=",
		"Action=AssumeRole&Version=2011-06-15&RoleArn=arn:aws:iam::123456789012:role/r&RoleSessionName=s&DurationSeconds=900",
		"Action=DescribeAlarms&Version=2010-08-01&MaxRecords=0",
		"%zz&&==Action",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		stop := watchdog(body)
		defer stop()
		s, ids, arn := fuzzSim(t)
		body = strings.NewReplacer("ARN", arn, "ID0", ids[0], "ID1", ids[1], "ID2", ids[2]).Replace(body)
		service := "elasticloadbalancing"
		proto := protoQuery
		switch {
		case strings.Contains(body, "2016-11-15"):
			service, proto = "ec2", protoEC2
		case strings.Contains(body, "2011-01-01"):
			service = "autoscaling"
		case strings.Contains(body, "2011-06-15"):
			service = "sts"
		case strings.Contains(body, "2010-08-01"):
			service = "monitoring"
		}
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", fuzzAuth(service))
		serve(t, s, req, proto)
		s.Advance(time.Hour)
	})
}

func FuzzJSONRequest(f *testing.F) {
	for _, seed := range []struct{ op, body string }{
		{"SendCommand", `{"DocumentName":"AWS-RunShellScript","InstanceIds":["ID0","ID1"],"Parameters":{"commands":["app deploy v2","sleep 1e300","exit 999"],"executionTimeout":["0"]},"MaxConcurrency":"50%","MaxErrors":"1"}`},
		{"SendCommand", `{"DocumentName":"AWS-RunShellScript","Targets":[{"Key":"tag:Name","Values":["x"]}],"Parameters":{"commands":["echo"]},"TimeoutSeconds":-1}`},
		{"ListCommandInvocations", `{"Details":true,"MaxResults":1,"NextToken":"fleetsim-99"}`},
		{"GetCommandInvocation", `{"CommandId":"00000000-0000-4000-a000-000000000000","InstanceId":"ID0","PluginName":"x"}`},
		{"CancelCommand", `{"CommandId":""}`},
		{"ListCommands", `{"MaxResults":51}`},
		{"DescribeInstanceInformation", `{"Filters":[{"Key":"PingStatus","Values":["Online"]}],"InstanceInformationFilterList":[{"key":"bad","valueSet":[]}]}`},
		{"DescribeDocument", `{"Name":"AWS-RunShellScript","DocumentVersion":"$LATEST"}`},
		{"DescribeAlarms", `{"AlarmNames":["alarm"],"MaxRecords":1}`},
		{"SetAlarmState", `{"AlarmName":"alarm","StateValue":"ALARM","StateReason":"r"}`},
		{"Nope", `[1,2`},
	} {
		f.Add(seed.op, seed.body)
	}
	f.Fuzz(func(t *testing.T, op, body string) {
		stop := watchdog(op + " " + body)
		defer stop()
		s, ids, _ := fuzzSim(t)
		body = strings.NewReplacer("ID0", ids[0], "ID1", ids[1]).Replace(body)
		target, service := "AmazonSSM."+op, "ssm"
		if strings.Contains(op, "Alarm") {
			target, service = "GraniteServiceVersion20100801."+op, "monitoring"
		}
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.Header.Set("X-Amz-Target", target)
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		req.Header.Set("Authorization", fuzzAuth(service))
		serve(t, s, req, protoJSON)
		s.Advance(2 * time.Hour)
		// The same body as CBOR exercises the rpc-v2-cbor decoder.
		var v any
		if json.Unmarshal([]byte(body), &v) == nil && service == "monitoring" {
			b, err := cbor.Marshal(v)
			if err == nil {
				creq := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(b))
				creq.URL.Path = cborServicePath + op
				creq.Header.Set("Smithy-Protocol", "rpc-v2-cbor")
				creq.Header.Set("Authorization", fuzzAuth(service))
				serve(t, s, creq, protoCBOR)
			}
		}
	})
}

func FuzzParseSeed(f *testing.F) {
	f.Add(`{"target_groups":[{"name":"web","deregistration_delay":"30s"}],"instances":[{"count":2,"target_groups":["web"]}]}`)
	f.Add(`{"instances":[{"count":0}],"alarms":[{"name":"a","state":"BAD"}],"timing":{"step_mean":5}}`)
	f.Add(`{"auto_scaling_groups":[{"name":"g","target_groups":["missing"]}]}`)
	f.Fuzz(func(t *testing.T, data string) {
		sd, err := ParseSeed([]byte(data))
		if err != nil {
			return
		}
		total := 0
		for _, in := range sd.Instances {
			total += in.Count
		}
		if total > 200 {
			return // valid but too big to build in a fuzz iteration
		}
		s := New(Options{TimeScale: 1e9, TickInterval: -1})
		defer s.Close()
		if err := s.ApplySeed(sd); err != nil {
			t.Fatalf("a validated seed failed to apply: %v", err)
		}
	})
}

// watchdog crashes the fuzz worker (so the engine keeps the input) when one
// iteration runs far longer than any request should.
func watchdog(input string) func() {
	t := time.AfterFunc(20*time.Second, func() { panic("fuzz iteration hung on input: " + input) })
	return func() { t.Stop() }
}
