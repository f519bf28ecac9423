package fleetsim

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestAWSCLI_parameterStoreSecureStringRoundTrip(t *testing.T) {
	t.Parallel()
	s, _, url := newFrozenSim(t, Options{})
	var put struct {
		Version int
		Tier    string
	}
	awsCLI(t, url, &put, "ssm", "put-parameter", "--name", "/rollout/r-1/token", "--type", "SecureString", "--value", "tok-123",
		"--tags", "Key=rolling:rollout,Value=r-1")
	if put.Version != 1 || put.Tier != "Standard" {
		t.Fatalf("put %+v", put)
	}
	if stderr := awsCLIFails(t, url, "ssm", "put-parameter", "--name", "/rollout/r-1/token", "--type", "SecureString", "--value", "x"); !strings.Contains(stderr, "(ParameterAlreadyExists)") {
		t.Fatalf("second create: %s", stderr)
	}
	var got struct {
		Parameter struct{ Value, Type, ARN string }
	}
	awsCLI(t, url, &got, "ssm", "get-parameter", "--name", "/rollout/r-1/token")
	if got.Parameter.Value == "tok-123" || got.Parameter.Type != "SecureString" {
		t.Fatalf("without decryption %+v", got)
	}
	awsCLI(t, url, &got, "ssm", "get-parameter", "--name", "/rollout/r-1/token", "--with-decryption")
	if got.Parameter.Value != "tok-123" || got.Parameter.ARN != "arn:aws:ssm:us-east-1:123456789012:parameter/rollout/r-1/token" {
		t.Fatalf("decrypted %+v", got)
	}
	var byPath struct{ Parameters []struct{ Name string } }
	awsCLI(t, url, &byPath, "ssm", "get-parameters-by-path", "--path", "/rollout", "--recursive")
	if len(byPath.Parameters) != 1 || byPath.Parameters[0].Name != "/rollout/r-1/token" {
		t.Fatalf("by path %+v", byPath)
	}
	awsCLI(t, url, nil, "ssm", "delete-parameter", "--name", "/rollout/r-1/token")
	if left := s.Parameters(); len(left) != 0 {
		t.Fatalf("left %+v", left)
	}
	rec, _ := json.Marshal(s.Recorder().Report(true, false))
	if strings.Contains(string(rec), "tok-123") {
		t.Fatalf("the recorder kept the secret")
	}
}

// One allowed and one denied call per protocol, through the CLI's own
// request and error handling.
func TestAWSCLI_iamPolicyIsEnforcedInEveryProtocol(t *testing.T) {
	t.Parallel()
	s, _, url := newFrozenSim(t, Options{Policy: []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":[
		"elasticloadbalancing:Describe*","ec2:DescribeInstances","autoscaling:Describe*",
		"ssm:GetParameter","cloudwatch:DescribeAlarms"],"Resource":"*"}]}`)})
	tg := s.AddTargetGroup(TargetGroupConfig{Name: "web"})
	s.AddAutoScalingGroup(AutoScalingGroupConfig{Name: "web-asg", TargetGroupARNs: []string{tg}})
	ids := s.AddInstances(InstanceConfig{Count: 1, AppVersion: "v1", AutoScalingGroup: "web-asg"})
	s.AddAlarm("web-5xx", "OK")
	cases := []struct {
		name             string
		allowed          []string
		denied           []string
		code, deniedText string
	}{
		{"query elbv2", []string{"elbv2", "describe-target-health", "--target-group-arn", tg},
			[]string{"elbv2", "register-targets", "--target-group-arn", tg, "--targets", "Id=" + ids[0]},
			"(AccessDenied)", "elasticloadbalancing:RegisterTargets on resource: " + tg},
		{"ec2 query", []string{"ec2", "describe-instances"},
			[]string{"ec2", "create-tags", "--resources", ids[0], "--tags", "Key=a,Value=b"},
			"(UnauthorizedOperation)", "Encoded authorization failure message"},
		{"query autoscaling", []string{"autoscaling", "describe-auto-scaling-groups"},
			[]string{"autoscaling", "enter-standby", "--auto-scaling-group-name", "web-asg", "--instance-ids", ids[0], "--should-decrement-desired-capacity"},
			"(AccessDenied)", "autoscaling:EnterStandby on resource: arn:aws:autoscaling:"},
		{"query sts", []string{"sts", "get-caller-identity"},
			[]string{"sts", "assume-role", "--role-arn", "arn:aws:iam::123456789012:role/deployer", "--role-session-name", "ci"},
			"(AccessDenied)", "sts:AssumeRole on resource: arn:aws:iam::123456789012:role/deployer because no identity-based policy allows"},
		{"json ssm", []string{"ssm", "get-parameter", "--name", "/none"},
			[]string{"ssm", "put-parameter", "--name", "/x", "--type", "String", "--value", "v"},
			"(AccessDeniedException)", "ssm:PutParameter on resource: arn:aws:ssm:us-east-1:123456789012:parameter/x"},
		{"cloudwatch", []string{"cloudwatch", "describe-alarms", "--alarm-names", "web-5xx"},
			[]string{"cloudwatch", "set-alarm-state", "--alarm-name", "web-5xx", "--state-value", "ALARM", "--state-reason", "test"},
			"(AccessDenied)", "cloudwatch:SetAlarmState on resource: arn:aws:cloudwatch:us-east-1:123456789012:alarm:web-5xx"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.name == "json ssm" {
				// Allowed by IAM; the parameter just does not exist.
				if stderr := awsCLIFails(t, url, tc.allowed...); !strings.Contains(stderr, "(ParameterNotFound)") {
					t.Fatalf("allowed call: %s", stderr)
				}
			} else {
				awsCLI(t, url, nil, tc.allowed...)
			}
			stderr := awsCLIFails(t, url, tc.denied...)
			if !strings.Contains(stderr, tc.code) || !strings.Contains(stderr, tc.deniedText) {
				t.Fatalf("denied call: %s", stderr)
			}
		})
	}
}
