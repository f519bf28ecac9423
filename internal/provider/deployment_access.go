package provider

import (
	"fmt"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/diag"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/awsclient"
)

// iamDocsPointer is where a denied permission is explained.
const iamDocsPointer = `The permissions the provider needs, scoped to the fleet, are in the "IAM permissions" section ` +
	`of the rolling_deployment documentation (examples/iam/policy.json in the provider's repository); the instance ` +
	`profile's are in its "Secrets" section.`

// addAWSError adds err under summary. An AWS denial becomes a diagnostic of
// its own, naming the action and the resource that were refused and where
// the needed permissions are listed, so that it reads as a permissions
// problem and not as a broken fleet.
func addAWSError(diags *diag.Diagnostics, summary string, err error) {
	if s, d, ok := accessDeniedText(err); ok {
		diags.AddError(s, d)
		return
	}
	diags.AddError(summary, err.Error())
}

// addAWSWarning is addAWSError as a warning, with what it means for the
// user.
func addAWSWarning(diags *diag.Diagnostics, summary string, err error, consequence string) {
	if s, d, ok := accessDeniedText(err); ok {
		diags.AddWarning(s, consequence+"\n\n"+d)
		return
	}
	diags.AddWarning(summary, consequence+"\n\n"+err.Error())
}

func accessDeniedText(err error) (summary, detail string, ok bool) {
	d, ok := awsclient.AsAccessDenied(err)
	if !ok {
		return "", "", false
	}
	on := ""
	if d.Resource != "" {
		on = " on " + d.Resource
	}
	// err's own text, not d.Message: the caller may have redacted it. The
	// pointer is said once.
	said := strings.Replace(err.Error(), " ("+awsclient.AccessDeniedHint+")", "", 1)
	return "Access denied: " + d.Action, fmt.Sprintf("AWS refused %s%s to the provider's credentials.\n\n%s\n\n%s", d.Action, on, iamDocsPointer, said), true
}
