package awsclient

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/rollout"
)

func apiErr(code, msg string) error {
	return &smithy.OperationError{ServiceID: "X", OperationName: "Op", Err: &smithy.GenericAPIError{Code: code, Message: msg}}
}

func TestTranslate_notFoundThrottledAndOtherCodes(t *testing.T) {
	tests := []struct {
		service, op, code, msg string
		sentinel               error
		text                   string
	}{
		{"elbv2", "RegisterTargets", "TargetGroupNotFound", "One or more target groups not found", rollout.ErrNotFound, "elbv2 RegisterTargets: TargetGroupNotFound: One or more target groups not found"},
		{"ec2", "CreateTags", "InvalidInstanceID.NotFound", "nope", rollout.ErrNotFound, "ec2 CreateTags: InvalidInstanceID.NotFound: nope"},
		{"ssm", "ListCommandInvocations", "InvalidCommandId", "", rollout.ErrNotFound, "ssm ListCommandInvocations: InvalidCommandId"},
		{"autoscaling", "EnterStandby", "ValidationError", "AutoScalingGroup name not found - x", rollout.ErrNotFound, "autoscaling EnterStandby: ValidationError: AutoScalingGroup name not found - x"},
		{"elbv2", "DescribeTargetHealth", "Throttling", "Rate exceeded", rollout.ErrThrottled, "elbv2 DescribeTargetHealth: Throttling: Rate exceeded"},
		{"ec2", "DescribeInstances", "RequestLimitExceeded", "slow down", rollout.ErrThrottled, ""},
		{"elbv2", "RegisterTargets", "InvalidTarget", "not running", nil, "elbv2 RegisterTargets: InvalidTarget: not running"},
		{"autoscaling", "EnterStandby", "ValidationError", "desired capacity below min", nil, ""},
	}
	for _, tt := range tests {
		err := translate(tt.service, tt.op, apiErr(tt.code, tt.msg))
		for _, s := range []error{rollout.ErrNotFound, rollout.ErrThrottled} {
			if got, want := errors.Is(err, s), s == tt.sentinel; got != want {
				t.Errorf("%s: errors.Is(%v) = %v, want %v", tt.code, s, got, want)
			}
		}
		if tt.text != "" && err.Error() != tt.text {
			t.Errorf("%s: text %q, want %q", tt.code, err, tt.text)
		}
		var api smithy.APIError
		if !errors.As(err, &api) || api.ErrorCode() != tt.code {
			t.Errorf("%s: the SDK error is not reachable with errors.As", tt.code)
		}
	}
	if translate("ec2", "X", nil) != nil {
		t.Fatal("translate(nil) must stay nil")
	}
}

func TestIsNotImplemented_emulatorAnswersOnly(t *testing.T) {
	resp := func(status int, err error) error {
		return &smithy.OperationError{Err: &smithyhttp.ResponseError{
			Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}}, Err: err}}
	}
	deser := &smithy.DeserializationError{Err: errors.New("invalid character '<'")}
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"moto HTML 500", resp(500, deser), true},
		{"HTTP 501", resp(501, errors.New("x")), true},
		{"LocalStack", apiErr("InternalFailure", "API action 'ListCommandInvocations' for service 'ssm' not yet implemented"), true},
		{"real internal error", apiErr("InternalServerError", "try again"), false},
		{"throttling", apiErr("ThrottlingException", "Rate exceeded"), false},
		{"undecodable 400", resp(400, deser), false},
	}
	for _, c := range cases {
		if got := isNotImplemented(c.err); got != c.want {
			t.Errorf("%s: isNotImplemented = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestChunks_splitsAtTheLimitOnly(t *testing.T) {
	ids := strings.Split("a b c d e", " ")
	if got := chunks(ids, 5); len(got) != 1 {
		t.Fatalf("5 ids in chunks of 5: %v", got)
	}
	got := chunks(ids, 2)
	if len(got) != 3 || len(got[2]) != 1 || got[1][0] != "c" {
		t.Fatalf("chunks of 2: %v", got)
	}
	if chunks([]string{}, 3) != nil {
		t.Fatal("no ids must give no chunk (no empty API call)")
	}
	// Appending to a chunk must not overwrite the next one.
	first := chunks(ids, 2)[0]
	_ = append(first, "z")
	if ids[2] != "c" {
		t.Fatal("chunks alias the input beyond their length")
	}
}

func TestInvocationStatus_normalisesUndeliverableAndUnknown(t *testing.T) {
	cases := map[[2]string]rollout.InvocationStatus{
		{"Failed", "Undeliverable"}:         rollout.InvocationUndeliverable,
		{"TimedOut", "Delivery Timed Out"}:  rollout.InvocationTimedOut,
		{"TimedOut", "Execution Timed Out"}: rollout.InvocationTimedOut,
		{"Success", "Success"}:              rollout.InvocationSuccess,
		{"Delayed", "Delayed"}:              rollout.InvocationDelayed,
		{"Canceled", "Canceled"}:            rollout.InvocationCancelled,
		{"SomethingNew", "Whatever"}:        rollout.InvocationInProgress,
	}
	for in, want := range cases {
		if got := invocationStatus(in[0], in[1]); got != want {
			t.Errorf("invocationStatus(%q, %q) = %q, want %q", in[0], in[1], got, want)
		}
	}
}
