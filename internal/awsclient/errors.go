package awsclient

import (
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/rollout"
)

// notFoundCodes are the AWS error codes meaning "the resource does not
// exist" for the calls this package makes.
var notFoundCodes = map[string]bool{
	"TargetGroupNotFound":        true,
	"LoadBalancerNotFound":       true,
	"InvalidInstanceID.NotFound": true,
	"InvalidCommandId":           true,
	"InvocationDoesNotExist":     true,
	"ResourceNotFound":           true,
	"ResourceNotFoundException":  true,
}

// notImplementedCodes are what emulators answer for an operation they lack
// (LocalStack, moto's JSON services); real AWS never does.
var notImplementedCodes = map[string]bool{
	"NotImplemented":            true,
	"NotImplementedError":       true,
	"UnknownOperation":          true,
	"UnknownOperationException": true,
	"InvalidAction":             true,
}

// Error is an AWS API failure as this package reports it: the service and
// operation, the AWS error code and message. It wraps rollout.ErrNotFound or
// rollout.ErrThrottled when the code means that, and always the SDK error.
type Error struct {
	Service   string // ec2, elbv2, ssm, autoscaling, cloudwatch, sts
	Operation string
	Code      string // AWS error code; empty for transport errors
	Message   string
	sentinel  error
	err       error
	denied    *AccessDenied // set when AWS refused the call for lack of permission
}

func (e *Error) Error() string {
	if e.denied != nil {
		// The one place every caller's message passes through: a denial
		// says where the permissions the provider needs are written down.
		return fmt.Sprintf("%s %s: %s: %s (%s)", e.Service, e.Operation, e.Code, e.Message, AccessDeniedHint)
	}
	switch {
	case e.Code != "" && e.Message != "":
		return fmt.Sprintf("%s %s: %s: %s", e.Service, e.Operation, e.Code, e.Message)
	case e.Code != "":
		return fmt.Sprintf("%s %s: %s", e.Service, e.Operation, e.Code)
	}
	return fmt.Sprintf("%s %s: %s", e.Service, e.Operation, e.Message)
}

func (e *Error) Unwrap() []error {
	if e.sentinel != nil {
		return []error{e.sentinel, e.err}
	}
	return []error{e.err}
}

// translate is the one place where AWS errors become this package's errors.
// nil stays nil.
func translate(service, operation string, err error) error {
	if err == nil {
		return nil
	}
	var already *Error
	if errors.As(err, &already) {
		return err
	}
	out := &Error{Service: service, Operation: operation, err: err}
	if inner := nestedOperation(err); inner != nil {
		// The call failed while fetching credentials (AssumeRole,
		// AssumeRoleWithWebIdentity): say so, or the user chases the wrong
		// call.
		out.Operation = fmt.Sprintf("%s (getting credentials: %s %s)", operation, inner.ServiceID, inner.OperationName)
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		out.Code = apiErr.ErrorCode()
		out.Message = apiErr.ErrorMessage()
		switch {
		case notFoundCodes[out.Code], isAutoScalingNotFound(service, out.Code, out.Message):
			out.sentinel = rollout.ErrNotFound
		case isThrottleCode(out.Code):
			out.sentinel = rollout.ErrThrottled
		case accessDeniedCodes[out.Code]:
			out.sentinel = ErrAccessDenied
			out.denied = deniedPermission(service, operation, out.Message)
		}
		return out
	}
	// Transport errors, context cancellation, retry quota exhaustion: keep
	// the SDK's text without the operation prefix we already add.
	out.Message = err.Error()
	var opErr *smithy.OperationError
	if errors.As(err, &opErr) && opErr.Err != nil {
		out.Message = opErr.Err.Error()
	}
	return out
}

// Auto Scaling reports a missing group or instance as ValidationError with a
// message, not a dedicated code.
func isAutoScalingNotFound(service, code, message string) bool {
	if service != "autoscaling" || code != "ValidationError" {
		return false
	}
	m := strings.ToLower(message)
	return strings.Contains(m, "not found") || strings.Contains(m, "not part of auto scaling group") ||
		strings.Contains(m, "is not in")
}

// isNotImplemented reports whether err says the endpoint lacks the
// operation (an emulator), as opposed to a real failure: a not-implemented
// code or message (LocalStack answers 501 InternalFailure "... not yet
// implemented"), HTTP 501, or an HTTP 5xx whose body is not an AWS error at
// all (moto crashes with an HTML 500 page). Real AWS always answers with a
// parsable error body, so the last case cannot hide a real outage.
func isNotImplemented(err error) bool {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		if notImplementedCodes[apiErr.ErrorCode()] {
			return true
		}
		msg := strings.ToLower(apiErr.ErrorMessage())
		return strings.Contains(msg, "not yet implemented") || strings.Contains(msg, "has not been implemented") ||
			strings.Contains(msg, "not implemented")
	}
	var respErr *smithyhttp.ResponseError
	if !errors.As(err, &respErr) {
		return false
	}
	if respErr.HTTPStatusCode() == 501 {
		return true
	}
	var deserErr *smithy.DeserializationError
	return respErr.HTTPStatusCode() >= 500 && errors.As(err, &deserErr)
}

// documentMissing says whether SSM answered that the document ("document")
// or its version ("version") does not exist; "" for any other error. The
// preflight reports these as facts; elsewhere they are ordinary failures
// (SendCommand of a missing document must not look like a vanished
// instance), so they are not in notFoundCodes.
func documentMissing(err error) string {
	switch errorCode(err) {
	case "InvalidDocument":
		return "document"
	case "InvalidDocumentVersion":
		return "version"
	}
	return ""
}

func errorCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}

// isThrottleCode uses the SDK's own list, so "throttled" here means exactly
// what the retryer backed off on.
func isThrottleCode(code string) bool {
	_, ok := retry.DefaultThrottleErrorCodes[code]
	return ok
}

// isRetryable reports whether the SDK's standard retryer would have retried
// err; used after a deliberate single-attempt probe.
func isRetryable(err error) bool {
	if err == nil {
		return false
	}
	return retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err).Bool()
}

// nestedOperation finds the deepest operation error in err's chain when
// it is not the outermost one (a call made on behalf of another).
func nestedOperation(err error) *smithy.OperationError {
	var found *smithy.OperationError
	depth := 0
	for err != nil {
		if op, ok := err.(*smithy.OperationError); ok {
			depth++
			if depth > 1 {
				found = op
			}
		}
		switch e := err.(type) {
		case interface{ Unwrap() error }:
			err = e.Unwrap()
		case interface{ Unwrap() []error }:
			errs := e.Unwrap()
			if len(errs) == 0 {
				return found
			}
			err = errs[0]
		default:
			return found
		}
	}
	return found
}
