package awsclient

import (
	"errors"
	"strings"
	"testing"

	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/fleetsim"
	"github.com/rollingdeploy/terraform-provider-rolling/internal/rollout"
)

// Every protocol's denial becomes ErrAccessDenied naming the action and the
// resource, and its text points at the documented policy.
func TestAccessDenied_eachProtocolNamesActionAndResource(t *testing.T) {
	const key = "arn:aws:kms:us-east-1:123456789012:key/k1"
	sim, c, _ := newSim(t, func(cfg *Config) { cfg.SecretsKMSKeyID = key })
	tg := sim.AddTargetGroup(fleetsim.TargetGroupConfig{Name: "web", Port: 80})
	ids := sim.AddInstances(fleetsim.InstanceConfig{Count: 1, AppVersion: "v1", TargetGroupARNs: []string{tg}})
	sim.AddAutoScalingGroup(fleetsim.AutoScalingGroupConfig{Name: "web-asg", Min: 0, Max: 2})
	// Everything but the calls below; SSM's own PutParameter is allowed so
	// that KMS is what refuses.
	policy := `{"Version":"2012-10-17","Statement":[
	  {"Effect":"Allow","Action":"*","Resource":"*"},
	  {"Effect":"Deny","Action":["elasticloadbalancing:DeregisterTargets","ec2:CreateTags","ssm:SendCommand","autoscaling:SuspendProcesses","cloudwatch:DescribeAlarms","kms:Encrypt"],"Resource":"*"}]}`
	if err := sim.SetPolicy([]byte(policy)); err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	ports := c.Ports(nil, nil)
	calls := []struct {
		action, resource string
		call             func() error
	}{
		{"elasticloadbalancing:DeregisterTargets", tg, func() error {
			return ports.LB.Deregister(ctx, tg, []rollout.Target{{InstanceID: ids[0], Port: 80}})
		}},
		{"ec2:CreateTags", "arn:aws:ec2:us-east-1:123456789012:instance/" + ids[0], func() error {
			return ports.Tags.SetTags(ctx, ids, map[string]string{"rolling:phase": "x"})
		}},
		{"ssm:SendCommand", "arn:aws:ssm:us-east-1::document/AWS-RunShellScript", func() error {
			_, err := ports.Commands.Send(ctx, rollout.Command{DocumentName: "AWS-RunShellScript", Parameters: map[string][]string{"commands": {"true"}}}, ids)
			return err
		}},
		{"autoscaling:SuspendProcesses", "autoScalingGroupName/web-asg", func() error {
			return ports.Standby.SuspendProcesses(ctx, "web-asg", []string{"AZRebalance"})
		}},
		{"cloudwatch:DescribeAlarms", "alarm:web-5xx", func() error {
			_, err := ports.Alarms.Firing(ctx, []string{"web-5xx"})
			return err
		}},
	}
	for _, tc := range calls {
		err := tc.call()
		d, ok := AsAccessDenied(err)
		if !ok || !errors.Is(err, ErrAccessDenied) {
			t.Errorf("%s: not recognised as access denied: %v", tc.action, err)
			continue
		}
		if d.Action != tc.action || !strings.Contains(d.Resource, tc.resource) {
			t.Errorf("%s: read action %q resource %q from %q", tc.action, d.Action, d.Resource, d.Message)
		}
		if !strings.Contains(err.Error(), `"IAM permissions" section`) {
			t.Errorf("%s: the text does not point at the docs: %v", tc.action, err)
		}
	}

	err := c.PutSecret(ctx, "/rolling/secrets/a", "v", "")
	if d, ok := AsAccessDenied(err); !ok || d.Action != "kms:Encrypt" || d.Resource != key {
		t.Fatalf("a refused customer key must name kms:Encrypt on the key: %+v %v", d, err)
	}

	// Not every refusal is a denial.
	_, err = c.elbv2.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{Names: []string{"nope"}})
	if _, ok := AsAccessDenied(translate("elbv2", "DescribeTargetGroups", err)); ok {
		t.Fatal("TargetGroupNotFound taken for a denial")
	}
}

func TestDeniedPermission_derivesTheActionWhenTheMessageOmitsIt(t *testing.T) {
	d := deniedPermission("elbv2", "RegisterTargets", "You are not authorized to perform this operation.")
	if d.Action != "elasticloadbalancing:RegisterTargets" || d.Resource != "" {
		t.Fatalf("%+v", d)
	}
	d = deniedPermission("ec2", "CreateTags", "You are not authorized to perform this operation. User: arn:aws:iam::1:user/u is not authorized to perform: ec2:CreateTags on resource: arn:aws:ec2:us-east-1:1:instance/i-1. Encoded authorization failure message: abc")
	if d.Action != "ec2:CreateTags" || d.Resource != "arn:aws:ec2:us-east-1:1:instance/i-1" {
		t.Fatalf("%+v", d)
	}
}
