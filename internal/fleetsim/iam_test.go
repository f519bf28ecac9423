package fleetsim

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

const testUserARN = "arn:aws:iam::123456789012:user/fleetsim"

// denied asserts an AWS error: its code, HTTP status and message.
func denied(t *testing.T, err error, code string, status int, message string) {
	t.Helper()
	var ae smithy.APIError
	var re *awshttp.ResponseError
	if !errors.As(err, &ae) || !errors.As(err, &re) {
		t.Fatalf("want %s, got %v", code, err)
	}
	if ae.ErrorCode() != code || re.HTTPStatusCode() != status || !strings.Contains(ae.ErrorMessage(), message) {
		t.Fatalf("got %s (HTTP %d) %q, want %s (HTTP %d) containing %q", ae.ErrorCode(), re.HTTPStatusCode(), ae.ErrorMessage(), code, status, message)
	}
}

func TestIAM_elbv2RegisterTargetsOnlyWhereThePolicyAllows(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{Policy: []byte(`{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"elasticloadbalancing:Describe*","Resource":"*"},
		{"Effect":"Allow","Action":["elasticloadbalancing:RegisterTargets","elasticloadbalancing:DeregisterTargets"],
		 "Resource":"arn:aws:elasticloadbalancing:*:*:targetgroup/web/*"}]}`)})
	web := s.AddTargetGroup(TargetGroupConfig{Name: "web"})
	api := s.AddTargetGroup(TargetGroupConfig{Name: "api"})
	ids := s.AddInstances(InstanceConfig{Count: 1, AppVersion: "v1"})
	c := elbv2.NewFromConfig(cfg)
	targets := []elbtypes.TargetDescription{{Id: aws.String(ids[0])}}
	if _, err := c.RegisterTargets(ctx(t), &elbv2.RegisterTargetsInput{TargetGroupArn: aws.String(web), Targets: targets}); err != nil {
		t.Fatalf("allowed: %v", err)
	}
	_, err := c.RegisterTargets(ctx(t), &elbv2.RegisterTargetsInput{TargetGroupArn: aws.String(api), Targets: targets})
	denied(t, err, "AccessDenied", 403, "User: "+testUserARN+" is not authorized to perform: elasticloadbalancing:RegisterTargets on resource: "+api+
		" because no identity-based policy allows the elasticloadbalancing:RegisterTargets action")
	health, err := c.DescribeTargetHealth(ctx(t), &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(api)})
	if err != nil || len(health.TargetHealthDescriptions) != 0 {
		t.Fatalf("the denied call changed the group: %+v %v", health, err)
	}
	_, err = c.DeleteTargetGroup(ctx(t), &elbv2.DeleteTargetGroupInput{TargetGroupArn: aws.String(api)})
	denied(t, err, "AccessDenied", 403, "elasticloadbalancing:DeleteTargetGroup on resource: "+api)
	calls := s.Recorder().Calls("RegisterTargets")
	if len(calls) != 2 || calls[0].ErrorCode != "" || calls[1].ErrorCode != "AccessDenied" || calls[1].HTTPStatus != 403 {
		t.Fatalf("recorded %+v", calls)
	}
}

func TestIAM_ec2CreateTagsByResourceTagAndTagKeys(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{Policy: []byte(`{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":["ec2:CreateTags","ec2:DeleteTags"],"Resource":"arn:aws:ec2:*:*:instance/*",
		 "Condition":{"StringEquals":{"ec2:ResourceTag/app":"web"},"ForAllValues:StringLike":{"aws:TagKeys":"rolling:*"}}}]}`)})
	web := s.AddInstances(InstanceConfig{Count: 1, AppVersion: "v1", Tags: map[string]string{"app": "web"}})[0]
	api := s.AddInstances(InstanceConfig{Count: 1, AppVersion: "v1", Tags: map[string]string{"app": "api"}})[0]
	c := ec2.NewFromConfig(cfg)
	tag := func(id, key string) error {
		_, err := c.CreateTags(ctx(t), &ec2.CreateTagsInput{Resources: []string{id}, Tags: []ec2types.Tag{{Key: aws.String(key), Value: aws.String("v2")}}})
		return err
	}
	if err := tag(web, "rolling:version"); err != nil {
		t.Fatalf("allowed: %v", err)
	}
	err := tag(api, "rolling:version")
	apiARN := "arn:aws:ec2:us-east-1:123456789012:instance/" + api
	denied(t, err, "UnauthorizedOperation", 403, "You are not authorized to perform this operation. User: "+testUserARN+
		" is not authorized to perform: ec2:CreateTags on resource: "+apiARN+" because no identity-based policy allows the ec2:CreateTags action. Encoded authorization failure message: ")
	// The encoded message carries the decision context.
	var ae smithy.APIError
	errors.As(err, &ae)
	_, enc, _ := strings.Cut(ae.ErrorMessage(), "Encoded authorization failure message: ")
	raw, derr := base64.RawURLEncoding.DecodeString(enc)
	var msg struct {
		Allowed bool `json:"allowed"`
		Context struct {
			Action   string `json:"action"`
			Resource string `json:"resource"`
		} `json:"context"`
	}
	if derr != nil || json.Unmarshal(raw, &msg) != nil || msg.Allowed || msg.Context.Action != "ec2:CreateTags" || msg.Context.Resource != apiARN {
		t.Fatalf("encoded message %s (%v)", raw, derr)
	}
	if err := tag(web, "Name"); err == nil {
		t.Fatal("a tag key outside rolling:* was allowed")
	}
	// Describe calls are authorized on "*": no resource, no encoded message.
	_, err = c.DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{})
	denied(t, err, "UnauthorizedOperation", 403, "is not authorized to perform: ec2:DescribeInstances because no identity-based policy allows the ec2:DescribeInstances action")
	if strings.Contains(err.Error(), "Encoded") {
		t.Fatalf("%v", err)
	}
}

func TestIAM_ssmSendCommandNeedsTheDocumentAndEveryInstance(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{Policy: []byte(`{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"ssm:SendCommand","Resource":"arn:aws:ssm:*::document/AWS-RunShellScript"},
		{"Effect":"Allow","Action":"ssm:SendCommand","Resource":"arn:aws:ec2:*:*:instance/*","Condition":{"StringEquals":{"ssm:resourceTag/app":"web"}}}]}`)})
	web := s.AddInstances(InstanceConfig{Count: 1, AppVersion: "v1", Tags: map[string]string{"app": "web"}})[0]
	api := s.AddInstances(InstanceConfig{Count: 1, AppVersion: "v1", Tags: map[string]string{"app": "api"}})[0]
	c := ssm.NewFromConfig(cfg)
	send := func(ids ...string) error {
		_, err := c.SendCommand(ctx(t), &ssm.SendCommandInput{DocumentName: aws.String("AWS-RunShellScript"), InstanceIds: ids,
			Parameters: map[string][]string{"commands": {"echo hi"}}})
		return err
	}
	if err := send(web); err != nil {
		t.Fatalf("allowed: %v", err)
	}
	err := send(web, api)
	denied(t, err, "AccessDeniedException", 400, "ssm:SendCommand on resource: arn:aws:ec2:us-east-1:123456789012:instance/"+api)
	var ade *ssmtypes.AccessDeniedException
	if !errors.As(err, &ade) {
		t.Fatalf("the SDK does not see its modelled AccessDeniedException: %T", err)
	}
	_, err = c.ListCommandInvocations(ctx(t), &ssm.ListCommandInvocationsInput{})
	denied(t, err, "AccessDeniedException", 400, "ssm:ListCommandInvocations because no identity-based policy allows")
}

func TestIAM_ssmPutParameterByRequestTagOverwriteAndKMSKey(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{Policy: []byte(`{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"ssm:PutParameter","Resource":"arn:aws:ssm:*:*:parameter/rolling/*",
		 "Condition":{"StringEquals":{"aws:RequestTag/rolling:fleet":"web","ssm:Overwrite":"false"}}},
		{"Effect":"Allow","Action":["ssm:GetParameter","ssm:DeleteParameter"],"Resource":"arn:aws:ssm:*:*:parameter/rolling/*",
		 "Condition":{"StringEquals":{"ssm:resourceTag/rolling:fleet":"web"}}}]}`)})
	c := ssm.NewFromConfig(cfg)
	put := func(name, fleet, key string, overwrite bool) error {
		in := &ssm.PutParameterInput{Name: aws.String(name), Value: aws.String("s3cret"), Type: ssmtypes.ParameterTypeSecureString, Overwrite: aws.Bool(overwrite)}
		if fleet != "" {
			in.Tags = []ssmtypes.Tag{{Key: aws.String("rolling:fleet"), Value: aws.String(fleet)}}
		}
		if key != "" {
			in.KeyId = aws.String(key)
		}
		_, err := c.PutParameter(ctx(t), in)
		return err
	}
	if err := put("/rolling/web/a", "web", "", false); err != nil {
		t.Fatalf("allowed: %v", err)
	}
	denied(t, put("/rolling/api/a", "api", "", false), "AccessDeniedException", 400, "ssm:PutParameter on resource: arn:aws:ssm:us-east-1:123456789012:parameter/rolling/api/a")
	denied(t, put("/rolling/web/a", "", "", true), "AccessDeniedException", 400, "ssm:PutParameter")
	// A customer managed key needs kms:Encrypt as well, which this policy lacks.
	denied(t, put("/rolling/web/b", "web", "alias/rolling", false), "AccessDeniedException", 400,
		"kms:Encrypt on resource: arn:aws:kms:us-east-1:123456789012:alias/rolling because no identity-based policy allows the kms:Encrypt action (Service: AWSKMS")
	if _, err := c.GetParameter(ctx(t), &ssm.GetParameterInput{Name: aws.String("/rolling/web/a"), WithDecryption: aws.Bool(true)}); err != nil {
		t.Fatalf("read by resource tag: %v", err)
	}
	if _, err := c.DeleteParameter(ctx(t), &ssm.DeleteParameterInput{Name: aws.String("/rolling/web/a")}); err != nil {
		t.Fatalf("delete by resource tag: %v", err)
	}
	if left := s.Parameters(); len(left) != 0 {
		t.Fatalf("left %+v", left)
	}
}

func TestIAM_autoScalingEnterStandbyByGroupTag(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{Policy: []byte(`{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":["autoscaling:EnterStandby","autoscaling:ExitStandby"],"Resource":"*",
		 "Condition":{"StringEquals":{"autoscaling:ResourceTag/rolling:managed":"true"}}}]}`)})
	tg := s.AddTargetGroup(TargetGroupConfig{Name: "web"})
	s.AddAutoScalingGroup(AutoScalingGroupConfig{Name: "managed", TargetGroupARNs: []string{tg}, Tags: map[string]string{"rolling:managed": "true"}})
	s.AddAutoScalingGroup(AutoScalingGroupConfig{Name: "other", TargetGroupARNs: []string{tg}})
	m := s.AddInstances(InstanceConfig{Count: 1, AppVersion: "v1", AutoScalingGroup: "managed"})
	o := s.AddInstances(InstanceConfig{Count: 1, AppVersion: "v1", AutoScalingGroup: "other"})
	c := autoscaling.NewFromConfig(cfg)
	standby := func(group string, ids []string) error {
		_, err := c.EnterStandby(ctx(t), &autoscaling.EnterStandbyInput{AutoScalingGroupName: aws.String(group), InstanceIds: ids, ShouldDecrementDesiredCapacity: aws.Bool(true)})
		return err
	}
	if err := standby("managed", m); err != nil {
		t.Fatalf("allowed: %v", err)
	}
	denied(t, standby("other", o), "AccessDenied", 403, "autoscaling:EnterStandby on resource: arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:")
}

func TestIAM_stsCallerIdentityNeedsNoPermissionAndRoleSessionsShareThePolicy(t *testing.T) {
	_, cfg, url := newFrozenSim(t, Options{Policy: []byte(`{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"arn:aws:iam::123456789012:role/deployer"},
		{"Sid":"NoTags","Effect":"Deny","Action":"ec2:CreateTags","Resource":"*"}]}`)})
	c := sts.NewFromConfig(cfg)
	if _, err := c.GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatalf("GetCallerIdentity: %v", err)
	}
	_, err := c.AssumeRole(ctx(t), &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::123456789012:role/admin"), RoleSessionName: aws.String("x")})
	denied(t, err, "AccessDenied", 403, "sts:AssumeRole on resource: arn:aws:iam::123456789012:role/admin")
	out, err := c.AssumeRole(ctx(t), &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::123456789012:role/deployer"), RoleSessionName: aws.String("ci")})
	if err != nil {
		t.Fatal(err)
	}
	role := sdkConfig(url, "us-east-1", "", "", 1)
	role.Credentials = credentials.NewStaticCredentialsProvider(*out.Credentials.AccessKeyId, *out.Credentials.SecretAccessKey, *out.Credentials.SessionToken)
	_, err = ec2.NewFromConfig(role).CreateTags(ctx(t), &ec2.CreateTagsInput{Resources: []string{"i-0123456789abcdef0"}, Tags: []ec2types.Tag{{Key: aws.String("a"), Value: aws.String("b")}}})
	denied(t, err, "UnauthorizedOperation", 403, "User: arn:aws:sts::123456789012:assumed-role/deployer/ci is not authorized to perform: ec2:CreateTags on resource: arn:aws:ec2:us-east-1:123456789012:instance/i-0123456789abcdef0 with an explicit deny in an identity-based policy")
}

func TestIAM_cloudWatchOverCBOR(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{Policy: []byte(`{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"cloudwatch:DescribeAlarms","Resource":"arn:aws:cloudwatch:*:*:alarm:web-*"}]}`)})
	s.AddAlarm("web-5xx", "OK")
	s.AddAlarm("db-cpu", "OK")
	c := cloudwatch.NewFromConfig(cfg)
	if out, err := c.DescribeAlarms(ctx(t), &cloudwatch.DescribeAlarmsInput{AlarmNames: []string{"web-5xx"}}); err != nil || len(out.MetricAlarms) != 1 {
		t.Fatalf("allowed: %+v %v", out, err)
	}
	_, err := c.DescribeAlarms(ctx(t), &cloudwatch.DescribeAlarmsInput{AlarmNames: []string{"web-5xx", "db-cpu"}})
	denied(t, err, "AccessDenied", 403, "cloudwatch:DescribeAlarms on resource: arn:aws:cloudwatch:us-east-1:123456789012:alarm:db-cpu")
	// A listing by prefix is authorized on every alarm.
	_, err = c.DescribeAlarms(ctx(t), &cloudwatch.DescribeAlarmsInput{AlarmNamePrefix: aws.String("web-")})
	denied(t, err, "AccessDenied", 403, "alarm:*")
	if calls := s.Recorder().Calls("DescribeAlarms"); calls[len(calls)-1].Protocol != "cbor" {
		t.Fatalf("the SDK did not speak CBOR: %+v", calls)
	}
}

func TestIAM_everyServedActionHasAnAuthorizationRule(t *testing.T) {
	served := map[string][]string{"monitoring": {"DescribeAlarms", "SetAlarmState"}}
	for name := range elbActions {
		served["elasticloadbalancing"] = append(served["elasticloadbalancing"], name)
	}
	for name := range ec2Actions {
		served["ec2"] = append(served["ec2"], name)
	}
	for name := range asgActions {
		served["autoscaling"] = append(served["autoscaling"], name)
	}
	for name := range stsActions {
		served["sts"] = append(served["sts"], name)
	}
	for name := range ssmActions {
		served["ssm"] = append(served["ssm"], name)
	}
	for service, names := range served {
		for _, name := range names {
			if _, ok := iamRules[service][name]; !ok {
				t.Errorf("%s %s is served but has no entry in iamRules (iam_actions.go): under a policy it is always denied", service, name)
			}
		}
	}
}

func TestIAM_unknownActionsAndBadPoliciesAreDeniedLoudly(t *testing.T) {
	s, cfg, url := newFrozenSim(t, Options{Policy: []byte(`{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`)})
	resp := signedPost(t, url+"/", "elasticloadbalancing", "application/x-www-form-urlencoded", nil, []byte("Action=DescribeSSLPolicies&Version=2015-12-01"))
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("an action without a rule answered %d", resp.StatusCode)
	}
	if calls := s.Recorder().Calls("DescribeSSLPolicies"); len(calls) != 1 || calls[0].ErrorCode != "AccessDenied" {
		t.Fatalf("%+v", calls)
	}
	if err := s.SetPolicy([]byte(`{"Statement":[{"Effect":"Allow","Action":"*"}]}`)); err == nil {
		t.Fatal("SetPolicy accepted a policy without Resource")
	}
	if _, err := ec2.NewFromConfig(cfg).DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{}); err != nil {
		t.Fatalf("the refused policy replaced the one in force: %v", err)
	}
	bad, badCfg, _ := newFrozenSim(t, Options{Policy: []byte(`{"Statement":[{"Effect":"Allow","Action":"*"}]}`)})
	_, err := ec2.NewFromConfig(badCfg).DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{})
	denied(t, err, "UnauthorizedOperation", 403, "the simulator's IAM policy does not parse")
	if err := bad.SetPolicy(nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ec2.NewFromConfig(badCfg).DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{}); err != nil {
		t.Fatalf("with enforcement off: %v", err)
	}
}

func TestIAM_adminRoutesShowAndReplaceThePolicy(t *testing.T) {
	_, cfg, url := newFrozenSim(t, Options{})
	var got any
	if code := adminDo(t, "GET", url+"/_sim/policy", "", &got); code != 200 || got != nil {
		t.Fatalf("no policy: %d %v", code, got)
	}
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"ec2:*","Resource":"*"}]}`
	if code := adminDo(t, "PUT", url+"/_sim/policy", doc, nil); code != 200 {
		t.Fatalf("PUT %d", code)
	}
	_, err := ec2.NewFromConfig(cfg).DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{})
	denied(t, err, "UnauthorizedOperation", 403, "with an explicit deny")
	if code := adminDo(t, "PUT", url+"/_sim/policy", `{"Statement":"nope"}`, nil); code != 400 {
		t.Fatalf("bad policy PUT %d", code)
	}
	var shown map[string]any
	if code := adminDo(t, "GET", url+"/_sim/policy", "", &shown); code != 200 || shown["Version"] != "2012-10-17" {
		t.Fatalf("GET %d %v", code, shown)
	}
	if code := adminDo(t, "PUT", url+"/_sim/policy", "", nil); code != 200 {
		t.Fatalf("clearing %d", code)
	}
	if _, err := ec2.NewFromConfig(cfg).DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{}); err != nil {
		t.Fatalf("after clearing: %v", err)
	}
}

func TestIAM_seedCarriesThePolicy(t *testing.T) {
	sd, err := ParseSeed([]byte(`{"policy":{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"ec2:*","Resource":"*"}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	_, cfg, _ := newFrozenSim(t, sd.Options())
	_, err = ec2.NewFromConfig(cfg).DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{})
	denied(t, err, "UnauthorizedOperation", 403, "with an explicit deny")
	if _, err := ParseSeed([]byte(`{"policy":{"Statement":[{"Effect":"Allow","Action":"*"}]}}`)); err == nil || !strings.Contains(err.Error(), "policy:") {
		t.Fatalf("a seed with a bad policy: %v", err)
	}
}
