package awsclient

import (
	"errors"
	"regexp"
	"strings"
)

// ErrAccessDenied is wrapped by an *Error for a call AWS refused because no
// policy of the caller allows it (AccessDenied, AccessDeniedException,
// UnauthorizedOperation). AsAccessDenied says which permission was missing.
var ErrAccessDenied = errors.New("access denied")

// accessDeniedCodes are the codes the services this package calls answer a
// denied call with: the query services and CloudWatch AccessDenied, SSM (and
// KMS on its behalf) AccessDeniedException, EC2 UnauthorizedOperation.
var accessDeniedCodes = map[string]bool{
	"AccessDenied":          true,
	"AccessDeniedException": true,
	"UnauthorizedOperation": true,
}

// AccessDeniedHint ends the text of every denial: it points at the
// documented policy.
const AccessDeniedHint = `the IAM permissions the provider needs are listed in the "IAM permissions" section of the rolling_deployment documentation`

// AccessDenied is the permission a denied call lacked.
type AccessDenied struct {
	// Action is the IAM action, as AWS's message names it (kms:Encrypt when
	// SSM was refused the key), else derived from the call (ssm:SendCommand).
	Action string
	// Resource is the ARN AWS named; empty when the message names none
	// (EC2 may only give an encoded authorization message).
	Resource string
	// Message is AWS's own text.
	Message string
}

// AsAccessDenied returns the missing permission when err is a denied AWS
// call translated by this package.
func AsAccessDenied(err error) (AccessDenied, bool) {
	var e *Error
	if !errors.As(err, &e) || e.denied == nil {
		return AccessDenied{}, false
	}
	return *e.denied, true
}

// iamServicePrefix maps this package's service names to IAM's where they
// differ.
var iamServicePrefix = map[string]string{"elbv2": "elasticloadbalancing"}

var (
	deniedActionPattern   = regexp.MustCompile(`perform: ([A-Za-z0-9-]+:[A-Za-z0-9]+)`)
	deniedResourcePattern = regexp.MustCompile(`on resource: (\S+)`)
)

// deniedPermission reads action and resource from AWS's message ("User: ARN
// is not authorized to perform: ACTION on resource: ARN because ...").
func deniedPermission(service, operation, message string) *AccessDenied {
	d := &AccessDenied{Message: message}
	prefix := service
	if p, ok := iamServicePrefix[service]; ok {
		prefix = p
	}
	d.Action = prefix + ":" + operation
	if m := deniedActionPattern.FindStringSubmatch(message); m != nil {
		d.Action = m[1]
	}
	if m := deniedResourcePattern.FindStringSubmatch(message); m != nil {
		d.Resource = strings.TrimRight(m[1], ".,;")
	}
	return d
}
