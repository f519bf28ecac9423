package fleetsim

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// awsCLI runs the installed AWS CLI against the simulator with static
// credentials and no config files, and decodes its JSON output.
func awsCLI(t *testing.T, url string, out any, args ...string) {
	t.Helper()
	stdout, stderr, err := runAWSCLI(t, url, args...)
	if err != nil {
		t.Fatalf("aws %v: %v\n%s", args, err, stderr)
	}
	if out != nil {
		if err := json.Unmarshal(stdout, out); err != nil {
			t.Fatalf("aws %v output: %v\n%s", args, err, stdout)
		}
	}
}

// awsCLIFails runs the AWS CLI expecting AWS to refuse the call, and returns
// what the CLI printed about it.
func awsCLIFails(t *testing.T, url string, args ...string) string {
	t.Helper()
	_, stderr, err := runAWSCLI(t, url, args...)
	if err == nil {
		t.Fatalf("aws %v succeeded, want an error", args)
	}
	return string(stderr)
}

func runAWSCLI(t *testing.T, url string, args ...string) (stdout, stderr []byte, err error) {
	t.Helper()
	bin, err := exec.LookPath("aws")
	if err != nil {
		t.Fatalf("the AWS CLI is required for these tests: %v", err)
	}
	cmd := exec.CommandContext(ctx(t), bin, append([]string{"--endpoint-url", url, "--output", "json"}, args...)...)
	home := t.TempDir()
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + home,
		"AWS_ACCESS_KEY_ID=" + testAccessKey, "AWS_SECRET_ACCESS_KEY=" + testSecretKey, "AWS_DEFAULT_REGION=us-east-1",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true",
		"AWS_PAGER=", "AWS_MAX_ATTEMPTS=1",
	}
	if py := os.Getenv("PYENV_ROOT"); py != "" {
		cmd.Env = append(cmd.Env, "PYENV_ROOT="+py)
	}
	var outBuf, errBuf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &outBuf, &errBuf
	err = cmd.Run()
	return outBuf.Bytes(), errBuf.Bytes(), err
}

func TestAWSCLI_elbv2DescribeTargetHealth(t *testing.T) {
	t.Parallel()
	s, _, url := newFrozenSim(t, Options{})
	arn := s.AddTargetGroup(TargetGroupConfig{Name: "web"})
	ids := s.AddInstances(InstanceConfig{Count: 2, AppVersion: "v1", TargetGroupARNs: []string{arn}})
	var out struct {
		TargetHealthDescriptions []struct {
			Target       struct{ Id string }
			TargetHealth struct{ State string }
		}
	}
	awsCLI(t, url, &out, "elbv2", "describe-target-health", "--target-group-arn", arn)
	if len(out.TargetHealthDescriptions) != 2 || out.TargetHealthDescriptions[0].Target.Id != ids[0] || out.TargetHealthDescriptions[0].TargetHealth.State != "healthy" {
		t.Fatalf("%+v", out)
	}
}

func TestAWSCLI_ssmSendCommandAndGetInvocation(t *testing.T) {
	t.Parallel()
	s, _, url := newFrozenSim(t, Options{})
	ids := s.AddInstances(InstanceConfig{Count: 1, AppVersion: "v1"})
	var sent struct {
		Command struct{ CommandId, Status string }
	}
	awsCLI(t, url, &sent, "ssm", "send-command", "--document-name", "AWS-RunShellScript", "--instance-ids", ids[0],
		"--parameters", `{"commands":["app deploy v9","echo ok"]}`, "--comment", "cli")
	if len(sent.Command.CommandId) != 36 || sent.Command.Status != "Pending" {
		t.Fatalf("%+v", sent)
	}
	s.Advance(time.Minute)
	var inv struct{ Status, StandardOutputContent string }
	awsCLI(t, url, &inv, "ssm", "get-command-invocation", "--command-id", sent.Command.CommandId, "--instance-id", ids[0])
	if inv.Status != "Success" || inv.StandardOutputContent != "deployed v9\nok\n" {
		t.Fatalf("%+v", inv)
	}
}

func TestAWSCLI_cloudwatchDescribeAlarmsAndEC2(t *testing.T) {
	t.Parallel()
	s, _, url := newFrozenSim(t, Options{})
	s.AddAlarm("web-5xx", "ALARM")
	ids := s.AddInstances(InstanceConfig{Count: 1, AppVersion: "v1", Tags: map[string]string{"Name": "web"}})
	var alarms struct {
		MetricAlarms []struct{ AlarmName, StateValue string }
	}
	awsCLI(t, url, &alarms, "cloudwatch", "describe-alarms", "--alarm-names", "web-5xx")
	if len(alarms.MetricAlarms) != 1 || alarms.MetricAlarms[0].StateValue != "ALARM" {
		t.Fatalf("%+v", alarms)
	}
	var inst struct {
		Reservations []struct{ Instances []struct{ InstanceId string } }
	}
	awsCLI(t, url, &inst, "ec2", "describe-instances", "--filters", "Name=tag:Name,Values=web")
	if len(inst.Reservations) != 1 || inst.Reservations[0].Instances[0].InstanceId != ids[0] {
		t.Fatalf("%+v", inst)
	}
	if calls := s.Recorder().Calls("DescribeAlarms"); len(calls) != 1 || calls[0].Service != "monitoring" || calls[0].ErrorCode != "" || calls[0].Protocol == "" {
		t.Fatalf("recorded %+v", calls)
	}
}

// What the provider's range listing asks (awsclient rangeInvocations): every
// invocation of AWS-RunShellScript requested since a moment, with details,
// across commands and without a command id, through the CLI's own
// pagination (pages of 50 at most).
func TestAWSCLI_ssmListCommandInvocationsSinceAMoment(t *testing.T) {
	t.Parallel()
	s, _, url := newFrozenSim(t, Options{})
	ids := s.AddInstances(InstanceConfig{Count: 30, AppVersion: "v1"})
	send := func(lines string, to []string) string {
		t.Helper()
		var sent struct{ Command struct{ CommandId string } }
		awsCLI(t, url, &sent, append([]string{"ssm", "send-command", "--document-name", "AWS-RunShellScript",
			"--parameters", `{"commands":["` + lines + `"]}`, "--instance-ids"}, to...)...)
		return sent.Command.CommandId
	}
	old := send("echo old", ids[:1])
	s.Advance(time.Minute)
	cut := s.Now().UTC().Format(time.RFC3339)
	first, second := send("echo one", ids), send("echo two", ids)
	s.Advance(time.Minute)
	var out struct {
		CommandInvocations []struct {
			CommandId, InstanceId, Status, DocumentName string
			CommandPlugins                              []struct{ Status, Output string }
		}
	}
	awsCLI(t, url, &out, "ssm", "list-command-invocations", "--details", "--page-size", "50",
		"--filters", "key=InvokedAfter,value="+cut, "key=DocumentName,value=AWS-RunShellScript")
	n := map[string]int{}
	for _, inv := range out.CommandInvocations {
		n[inv.CommandId]++
		if inv.Status != "Success" || inv.DocumentName != "AWS-RunShellScript" || len(inv.CommandPlugins) != 1 || inv.CommandPlugins[0].Status != "Success" {
			t.Fatalf("%+v", inv)
		}
	}
	if n[first] != 30 || n[second] != 30 || n[old] != 0 {
		t.Fatalf("invocations by command: %v", n)
	}
	if got := s.Recorder().Calls("ListCommandInvocations"); len(got) != 2 {
		t.Errorf("the CLI read 60 invocations in %d pages, want 2 of 50", len(got))
	}
	if msg := awsCLIFails(t, url, "ssm", "list-command-invocations", "--filters", "key=ExecutionStage,value=Executing"); !strings.Contains(msg, "InvalidFilterKey") {
		t.Errorf("ExecutionStage: %s", msg)
	}
}
