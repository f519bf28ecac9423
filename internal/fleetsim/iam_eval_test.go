package fleetsim

import (
	"strings"
	"testing"
)

func mustPolicy(t *testing.T, doc string) *Policy {
	t.Helper()
	p, err := ParsePolicy([]byte(doc))
	if err != nil {
		t.Fatalf("ParsePolicy: %v", err)
	}
	return p
}

const (
	tgARN   = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef"
	instARN = "arn:aws:ec2:us-east-1:123456789012:instance/i-0123456789abcdef0"
	asgARN  = "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:5f1e-uuid:autoScalingGroupName/web"
	docARN  = "arn:aws:ssm:us-east-1::document/AWS-RunShellScript"
)

func TestPolicy_evaluation(t *testing.T) {
	type want int
	const (
		allow want = iota
		implicit
		explicit
	)
	res := func(arn string, kv ...string) authResource {
		r := authResource{arn: arn, keys: map[string][]string{}}
		for i := 0; i+1 < len(kv); i += 2 {
			r.keys[strings.ToLower(kv[i])] = []string{kv[i+1]}
		}
		return r
	}
	tests := []struct {
		name   string
		policy string
		req    authRequest
		want   want
	}{
		{"exact action on a star resource",
			`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ec2:DescribeInstances","Resource":"*"}}`,
			authRequest{action: "ec2:DescribeInstances", resources: []authResource{{arn: "*"}}}, allow},
		{"action names are case-insensitive",
			`{"Statement":[{"Effect":"Allow","Action":"EC2:describeinstances","Resource":"*"}]}`,
			authRequest{action: "ec2:DescribeInstances", resources: []authResource{{arn: "*"}}}, allow},
		{"* and ? in actions",
			`{"Statement":[{"Effect":"Allow","Action":["ssm:Get*","ssm:?endCommand"],"Resource":"*"}]}`,
			authRequest{action: "ssm:SendCommand", resources: []authResource{{arn: docARN}}}, allow},
		{"another action is implicitly denied",
			`{"Statement":[{"Effect":"Allow","Action":"ssm:Get*","Resource":"*"}]}`,
			authRequest{action: "ssm:PutParameter", resources: []authResource{{arn: "*"}}}, implicit},
		{"explicit deny wins over allow",
			`{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Sid":"NoDeregister","Effect":"Deny","Action":"elasticloadbalancing:DeregisterTargets","Resource":"*"}]}`,
			authRequest{action: "elasticloadbalancing:DeregisterTargets", resources: []authResource{{arn: tgARN}}}, explicit},
		{"NotAction allows everything else",
			`{"Statement":[{"Effect":"Allow","NotAction":["iam:*","ec2:TerminateInstances"],"Resource":"*"}]}`,
			authRequest{action: "ec2:CreateTags", resources: []authResource{{arn: instARN}}}, allow},
		{"NotAction excludes its actions",
			`{"Statement":[{"Effect":"Allow","NotAction":"ec2:TerminateInstances","Resource":"*"}]}`,
			authRequest{action: "ec2:TerminateInstances", resources: []authResource{{arn: instARN}}}, implicit},
		{"resource wildcard within a segment",
			`{"Statement":[{"Effect":"Allow","Action":"elasticloadbalancing:RegisterTargets","Resource":"arn:aws:elasticloadbalancing:*:*:targetgroup/web/*"}]}`,
			authRequest{action: "elasticloadbalancing:RegisterTargets", resources: []authResource{{arn: tgARN}}}, allow},
		{"resource pattern of another group",
			`{"Statement":[{"Effect":"Allow","Action":"elasticloadbalancing:RegisterTargets","Resource":"arn:aws:elasticloadbalancing:*:*:targetgroup/api/*"}]}`,
			authRequest{action: "elasticloadbalancing:RegisterTargets", resources: []authResource{{arn: tgARN}}}, implicit},
		{"an ARN pattern does not match a call on *",
			`{"Statement":[{"Effect":"Allow","Action":"ec2:DescribeInstances","Resource":"arn:aws:ec2:*:*:instance/*"}]}`,
			authRequest{action: "ec2:DescribeInstances", resources: []authResource{{arn: "*"}}}, implicit},
		{"an Auto Scaling group ARN with colons in its resource part",
			`{"Statement":[{"Effect":"Allow","Action":"autoscaling:EnterStandby","Resource":"arn:aws:autoscaling:*:*:autoScalingGroup:*:autoScalingGroupName/web"}]}`,
			authRequest{action: "autoscaling:EnterStandby", resources: []authResource{{arn: asgARN}}}, allow},
		{"an AWS-owned document has an empty account",
			`{"Statement":[{"Effect":"Allow","Action":"ssm:SendCommand","Resource":["arn:aws:ssm:*:*:document/AWS-RunShellScript","arn:aws:ec2:*:*:instance/*"]}]}`,
			authRequest{action: "ssm:SendCommand", resources: []authResource{{arn: docARN}, {arn: instARN}}}, allow},
		{"every resource of a call must be allowed",
			`{"Statement":[{"Effect":"Allow","Action":"ssm:SendCommand","Resource":"arn:aws:ssm:*:*:document/*"}]}`,
			authRequest{action: "ssm:SendCommand", resources: []authResource{{arn: docARN}, {arn: instARN}}}, implicit},
		{"NotResource",
			`{"Statement":[{"Effect":"Allow","Action":"ec2:CreateTags","NotResource":"arn:aws:ec2:*:*:instance/i-0123456789abcdef0"}]}`,
			authRequest{action: "ec2:CreateTags", resources: []authResource{{arn: instARN}}}, implicit},
		{"StringEquals on a resource tag",
			`{"Statement":[{"Effect":"Allow","Action":"ec2:CreateTags","Resource":"*","Condition":{"StringEquals":{"ec2:ResourceTag/app":"web"}}}]}`,
			authRequest{action: "ec2:CreateTags", resources: []authResource{res(instARN, "ec2:resourcetag/app", "web")}}, allow},
		{"condition key names are case-insensitive",
			`{"Statement":[{"Effect":"Allow","Action":"ec2:CreateTags","Resource":"*","Condition":{"StringEquals":{"EC2:RESOURCETAG/App":"web"}}}]}`,
			authRequest{action: "ec2:CreateTags", resources: []authResource{res(instARN, "ec2:resourcetag/app", "web")}}, allow},
		{"StringEquals with the tag missing",
			`{"Statement":[{"Effect":"Allow","Action":"ec2:CreateTags","Resource":"*","Condition":{"StringEquals":{"ec2:ResourceTag/app":"web"}}}]}`,
			authRequest{action: "ec2:CreateTags", resources: []authResource{res(instARN)}}, implicit},
		{"values of one key are ORed",
			`{"Statement":[{"Effect":"Allow","Action":"autoscaling:*","Resource":"*","Condition":{"StringEquals":{"autoscaling:ResourceTag/env":["prod","staging"]}}}]}`,
			authRequest{action: "autoscaling:ExitStandby", resources: []authResource{res(asgARN, "autoscaling:resourcetag/env", "staging")}}, allow},
		{"keys are ANDed",
			`{"Statement":[{"Effect":"Allow","Action":"ssm:SendCommand","Resource":"*","Condition":{"StringLike":{"ssm:resourceTag/app":"web*","aws:ResourceTag/env":"prod"}}}]}`,
			authRequest{action: "ssm:SendCommand", resources: []authResource{res(instARN, "ssm:resourcetag/app", "web-1", "aws:resourcetag/env", "dev")}}, implicit},
		{"StringLike wildcards",
			`{"Statement":[{"Effect":"Allow","Action":"ssm:SendCommand","Resource":"*","Condition":{"StringLike":{"ssm:resourceTag/app":"web-?"}}}]}`,
			authRequest{action: "ssm:SendCommand", resources: []authResource{res(instARN, "ssm:resourcetag/app", "web-1")}}, allow},
		{"StringNotEquals holds when the key is missing",
			`{"Statement":[{"Effect":"Allow","Action":"ec2:CreateTags","Resource":"*","Condition":{"StringNotEquals":{"ec2:ResourceTag/protected":"true"}}}]}`,
			authRequest{action: "ec2:CreateTags", resources: []authResource{res(instARN)}}, allow},
		{"StringNotEquals fails on the value",
			`{"Statement":[{"Effect":"Allow","Action":"ec2:CreateTags","Resource":"*","Condition":{"StringNotEquals":{"ec2:ResourceTag/protected":"true"}}}]}`,
			authRequest{action: "ec2:CreateTags", resources: []authResource{res(instARN, "ec2:resourcetag/protected", "true")}}, implicit},
		{"StringEqualsIfExists holds without the key",
			`{"Statement":[{"Effect":"Allow","Action":"ec2:CreateTags","Resource":"*","Condition":{"StringEqualsIfExists":{"ec2:ResourceTag/app":"web"}}}]}`,
			authRequest{action: "ec2:CreateTags", resources: []authResource{res(instARN)}}, allow},
		{"ForAllValues:StringEquals allows a subset of tag keys",
			`{"Statement":[{"Effect":"Allow","Action":"ec2:CreateTags","Resource":"*","Condition":{"ForAllValues:StringEquals":{"aws:TagKeys":["rolling:version","rolling:phase"]}}}]}`,
			authRequest{action: "ec2:CreateTags", resources: []authResource{{arn: instARN}}, keys: map[string][]string{"aws:tagkeys": {"rolling:version"}}}, allow},
		{"ForAllValues:StringEquals refuses another tag key",
			`{"Statement":[{"Effect":"Allow","Action":"ec2:CreateTags","Resource":"*","Condition":{"ForAllValues:StringEquals":{"aws:TagKeys":["rolling:version"]}}}]}`,
			authRequest{action: "ec2:CreateTags", resources: []authResource{{arn: instARN}}, keys: map[string][]string{"aws:tagkeys": {"rolling:version", "Name"}}}, implicit},
		{"ForAllValues is vacuously true without the key",
			`{"Statement":[{"Effect":"Allow","Action":"ec2:CreateTags","Resource":"*","Condition":{"ForAllValues:StringLike":{"aws:TagKeys":"rolling:*"}}}]}`,
			authRequest{action: "ec2:CreateTags", resources: []authResource{{arn: instARN}}}, allow},
		{"ForAnyValue:StringLike",
			`{"Statement":[{"Effect":"Allow","Action":"ec2:DeleteTags","Resource":"*","Condition":{"ForAnyValue:StringLike":{"aws:TagKeys":"rolling:*"}}}]}`,
			authRequest{action: "ec2:DeleteTags", resources: []authResource{{arn: instARN}}, keys: map[string][]string{"aws:tagkeys": {"Name", "rolling:phase"}}}, allow},
		{"ForAnyValue is false without the key",
			`{"Statement":[{"Effect":"Allow","Action":"ec2:DeleteTags","Resource":"*","Condition":{"ForAnyValue:StringLike":{"aws:TagKeys":"rolling:*"}}}]}`,
			authRequest{action: "ec2:DeleteTags", resources: []authResource{{arn: instARN}}}, implicit},
		{"aws:RequestTag",
			`{"Statement":[{"Effect":"Allow","Action":"ssm:PutParameter","Resource":"*","Condition":{"StringEquals":{"aws:RequestTag/rolling:fleet":"web"}}}]}`,
			authRequest{action: "ssm:PutParameter", resources: []authResource{{arn: "arn:aws:ssm:us-east-1:123456789012:parameter/x"}}, keys: map[string][]string{"aws:requesttag/rolling:fleet": {"web"}}}, allow},
		{"ArnLike on the principal",
			`{"Statement":[{"Effect":"Allow","Action":"ec2:*","Resource":"*","Condition":{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:role/deploy-*"}}}]}`,
			authRequest{action: "ec2:DescribeInstances", resources: []authResource{{arn: "*"}}, keys: map[string][]string{"aws:principalarn": {"arn:aws:iam::123456789012:role/deploy-ci"}}}, allow},
		{"ArnEquals",
			`{"Statement":[{"Effect":"Allow","Action":"ec2:*","Resource":"*","Condition":{"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::123456789012:role/other"}}}]}`,
			authRequest{action: "ec2:DescribeInstances", resources: []authResource{{arn: "*"}}, keys: map[string][]string{"aws:principalarn": {"arn:aws:iam::123456789012:role/deploy-ci"}}}, implicit},
		{"Null: true requires the key to be absent",
			`{"Statement":[{"Effect":"Deny","Action":"ec2:CreateTags","Resource":"*","Condition":{"Null":{"aws:RequestTag/owner":"true"}}},{"Effect":"Allow","Action":"*","Resource":"*"}]}`,
			authRequest{action: "ec2:CreateTags", resources: []authResource{{arn: instARN}}}, explicit},
		{"Null: false requires the key",
			`{"Statement":[{"Effect":"Allow","Action":"ec2:CreateTags","Resource":"*","Condition":{"Null":{"aws:RequestTag/owner":"false"}}}]}`,
			authRequest{action: "ec2:CreateTags", resources: []authResource{{arn: instARN}}, keys: map[string][]string{"aws:requesttag/owner": {"me"}}}, allow},
		{"Bool",
			`{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":false}}}]}`,
			authRequest{action: "ec2:DescribeInstances", resources: []authResource{{arn: "*"}}, keys: map[string][]string{"aws:securetransport": {"true"}}}, allow},
		{"policy variables",
			`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ssm:GetParameter","Resource":"arn:aws:ssm:*:*:parameter/users/${aws:username}/*"}]}`,
			authRequest{action: "ssm:GetParameter", resources: []authResource{{arn: "arn:aws:ssm:us-east-1:123456789012:parameter/users/fleetsim/key"}}, keys: map[string][]string{"aws:username": {"fleetsim"}}}, allow},
		{"a missing policy variable matches nothing",
			`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ssm:GetParameter","Resource":"arn:aws:ssm:*:*:parameter/users/${aws:username}/*"}]}`,
			authRequest{action: "ssm:GetParameter", resources: []authResource{{arn: "arn:aws:ssm:us-east-1:123456789012:parameter/users/fleetsim/key"}}}, implicit},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := mustPolicy(t, tc.policy).authorize(tc.req)
			got := implicit
			switch {
			case d.allowed:
				got = allow
			case d.explicitDeny:
				got = explicit
			}
			if got != tc.want {
				t.Fatalf("decision %+v, want %d", d, tc.want)
			}
		})
	}
}

func TestPolicy_parseRefusesWhatItCannotHonour(t *testing.T) {
	for name, doc := range map[string]string{
		"principal":          `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]}`,
		"effect":             `{"Statement":[{"Effect":"allow","Action":"*","Resource":"*"}]}`,
		"no resource":        `{"Statement":[{"Effect":"Allow","Action":"*"}]}`,
		"no action":          `{"Statement":[{"Effect":"Allow","Resource":"*"}]}`,
		"action and not":     `{"Statement":[{"Effect":"Allow","Action":"*","NotAction":"ec2:*","Resource":"*"}]}`,
		"unknown operator":   `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"DateGreaterThan":{"aws:CurrentTime":"2020-01-01T00:00:00Z"}}}]}`,
		"unknown set":        `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"ForSome:StringEquals":{"aws:TagKeys":"a"}}}]}`,
		"bad version":        `{"Version":"2020-01-01","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`,
		"not service:action": `{"Statement":[{"Effect":"Allow","Action":"DescribeInstances","Resource":"*"}]}`,
		"unknown element":    `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Conditions":{}}]}`,
		"not json":           `{"Statement":`,
	} {
		if _, err := ParsePolicy([]byte(doc)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// Every problem is reported at once.
	_, err := ParsePolicy([]byte(`{"Statement":[{"Effect":"Maybe","Action":"*"},{"Effect":"Allow","Resource":"*"}]}`))
	if err == nil || !strings.Contains(err.Error(), "Statement[0]: Effect") || !strings.Contains(err.Error(), "Statement[1]: Action or NotAction") {
		t.Fatalf("%v", err)
	}
}

func TestWildcardAndARNMatching(t *testing.T) {
	for _, tc := range []struct {
		pattern, value string
		want           bool
	}{
		{"*", "", true},
		{"a*c", "abbbc", true},
		{"a*c", "abbbd", false},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"*web*", "my-web-1", true},
		{"arn:aws:ec2:*:*:instance/*", instARN, true},
		{"arn:aws:ec2:eu-west-1:*:instance/*", instARN, false},
		{"arn:aws:ec2:*:*:instance/*", "*", false},
		{"arn:aws:autoscaling:*:*:autoScalingGroup:*", asgARN, true},
		{"arn:aws:ssm:us-east-1::document/AWS-*", docARN, true},
	} {
		if got := arnMatch(tc.pattern, tc.value); got != tc.want {
			t.Errorf("arnMatch(%q, %q) = %v", tc.pattern, tc.value, got)
		}
	}
}
