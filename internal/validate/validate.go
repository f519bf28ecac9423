package validate

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
)

// arnPattern matches arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE.
var arnPattern = regexp.MustCompile(`^arn:aws[a-zA-Z-]*:[a-z0-9-]+:[a-z0-9-]*:(\d{12})?:.+$`)

var (
	roleARNPattern        = regexp.MustCompile(`^arn:aws[a-zA-Z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$`)
	targetGroupARNPattern = regexp.MustCompile(`^arn:aws[a-zA-Z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:targetgroup/[A-Za-z0-9-]{1,32}/[0-9a-f]{16}$`)
)

type arnValidator struct {
	what    string
	pattern *regexp.Regexp
	example string
}

// RoleARN checks an IAM role ARN.
func RoleARN() validator.String {
	return arnValidator{what: "an IAM role ARN", pattern: roleARNPattern, example: "arn:aws:iam::123456789012:role/deploy"}
}

// TargetGroupARN checks an ELBv2 target group ARN.
func TargetGroupARN() validator.String {
	return arnValidator{
		what:    "an ELBv2 target group ARN",
		pattern: targetGroupARNPattern,
		example: "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/0123456789abcdef",
	}
}

// IsTargetGroupARN reports whether s is an ELBv2 target group ARN, as
// TargetGroupARN accepts it.
func IsTargetGroupARN(s string) bool {
	return arnPattern.MatchString(s) && targetGroupARNPattern.MatchString(s)
}

func (v arnValidator) Description(context.Context) string {
	return fmt.Sprintf("must be %s, such as %s", v.what, v.example)
}

func (v arnValidator) MarkdownDescription(ctx context.Context) string {
	return fmt.Sprintf("must be %s, such as `%s`", v.what, v.example)
}

func (v arnValidator) ValidateString(ctx context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	value := req.ConfigValue.ValueString()
	if !arnPattern.MatchString(value) || !v.pattern.MatchString(value) {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid ARN",
			fmt.Sprintf("%q is not %s. Expected a value such as %s.", value, v.what, v.example))
	}
}

type urlValidator struct{}

// URL checks an absolute http or https URL, as endpoint overrides need.
func URL() validator.String { return urlValidator{} }

func (urlValidator) Description(context.Context) string {
	return "must be an absolute http:// or https:// URL"
}

func (v urlValidator) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (urlValidator) ValidateString(ctx context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	value := req.ConfigValue.ValueString()
	u, err := url.Parse(value)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid endpoint URL",
			fmt.Sprintf("%q is not an absolute http:// or https:// URL, such as http://127.0.0.1:4566.", value))
	}
}

type durationValidator struct {
	min, max time.Duration
}

// Duration checks a Go duration string ("90s", "5m", "1h30m") within [lo, hi].
func Duration(lo, hi time.Duration) validator.String { return durationValidator{min: lo, max: hi} }

func (v durationValidator) Description(context.Context) string {
	return fmt.Sprintf("must be a duration such as \"90s\" or \"5m\", between %s and %s", v.min, v.max)
}

func (v durationValidator) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (v durationValidator) ValidateString(ctx context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	value := req.ConfigValue.ValueString()
	d, err := time.ParseDuration(value)
	if err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid duration",
			fmt.Sprintf("%q is not a duration. Use a number with a unit, such as \"90s\", \"5m\" or \"1h30m\".", value))
		return
	}
	if d < v.min || d > v.max {
		resp.Diagnostics.AddAttributeError(req.Path, "Duration out of range",
			fmt.Sprintf("%s is outside the allowed range %s to %s.", value, v.min, v.max))
	}
}
