package provider

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/awsclient"
	"github.com/rollingdeploy/terraform-provider-rolling/internal/rollout"
)

// Sensitive step values never travel as SendCommand parameters: SSM keeps
// those in its command history, where ssm:ListCommands shows them to anyone
// for weeks. Instead each value is written, for one rollout only, to a
// SecureString parameter (KMS-encrypted with the provider's
// secrets_kms_key_id); the step's commands start with lines that read it on
// the instance with the instance profile's credentials, so the command only
// names the parameter; and the parameter is deleted when the rollout ends,
// whatever the outcome. A run that dies before deleting (a killed terraform)
// leaves parameters under its fleet's path, which the fleet's next apply
// deletes before it stages its own.
//
// Document steps cannot take sensitive values: SSM resolves no SecureString
// reference in a Run Command document's parameters ("SSM documents currently
// don't support references to Secure String parameters", Systems Manager
// User Guide), so the value would be a command parameter again. The plan
// refuses the combination (secretProblems).

// secretsRoot is the Parameter Store path every staged value lives under;
// the documented policies scope the provider's writes and the instance
// profile's reads to it.
const secretsRoot = "/rolling/secrets"

// fleetSecretsPath is a fleet's own hierarchy: /rolling/secrets/<the
// alphabetically first target group name>/<digest of every ARN>. The name
// lets an instance profile be limited to its fleet's values
// (parameter/rolling/secrets/web/*); the digest keeps apart two deployments
// whose first target group is the same, so that one's cleanup never deletes
// what the other staged.
func fleetSecretsPath(targetGroupARNs []string) string {
	arns := append([]string(nil), targetGroupARNs...)
	sort.Strings(arns)
	sum := sha256.Sum256([]byte(strings.Join(arns, ",")))
	name := ""
	for _, arn := range arns {
		// arn:aws:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/ID
		if parts := strings.Split(arn, "/"); len(parts) == 3 && (name == "" || parts[1] < name) {
			name = parts[1]
		}
	}
	if name == "" {
		name = "fleet"
	}
	return secretsRoot + "/" + name + "/" + hex.EncodeToString(sum[:4])
}

// stagedSecrets are the parameters one rollout wrote.
type stagedSecrets struct {
	// lines holds, by step and variable, the shell line that reads the
	// value on the instance (what release() puts ahead of the commands).
	lines  map[string]map[string]string
	names  []string
	values []string // to keep out of error texts
}

// stageSecrets deletes what crashed runs of this fleet left and writes this
// rollout's sensitive values (secrets: step -> variable -> value). It must
// run while the rollout holds the fleet, so that no other rollout of the
// fleet is using what it deletes. On a failure it deletes what it wrote,
// adds an error and returns false.
func (r *deploymentResource) stageSecrets(ctx context.Context, plan *deploymentModel, rolloutID string, secrets map[string]map[string]string, diags *diag.Diagnostics) (stagedSecrets, bool) {
	st := stagedSecrets{lines: map[string]map[string]string{}}
	client := r.client()
	if client == nil {
		return st, true
	}
	fleetPath := fleetSecretsPath(plan.targetGroupARNs(ctx, diags))
	r.deleteLeftoverSecrets(ctx, client, fleetPath, rolloutID, len(secrets) > 0, diags)

	var steps []string
	for step, values := range secrets {
		if len(values) > 0 {
			steps = append(steps, step)
		}
	}
	sort.Strings(steps)
	for _, step := range steps {
		vars := make([]string, 0, len(secrets[step]))
		for v := range secrets[step] {
			vars = append(vars, v)
		}
		sort.Strings(vars)
		st.lines[step] = map[string]string{}
		for _, v := range vars {
			value := secrets[step][v]
			if value == "" {
				// Parameter Store refuses empty values, and an empty
				// string discloses nothing.
				st.lines[step][v] = v + "=''"
				continue
			}
			name := fleetPath + "/" + rolloutID + "/" + step + "/" + v
			desc := fmt.Sprintf("rolling: %s of step %s for rollout %s; deleted when the rollout ends", v, step, rolloutID)
			if err := client.PutSecret(ctx, name, value, desc); err != nil {
				addAWSError(diags, "Cannot stage the sensitive parameters", redact(err, append(st.values, value)))
				r.unstageSecrets(context.WithoutCancel(ctx), st, diags)
				return stagedSecrets{}, false
			}
			st.names = append(st.names, name)
			st.values = append(st.values, value)
			st.lines[step][v] = secretReadLine(client.Region(), v, name)
		}
	}
	if len(st.names) > 0 {
		tflog.Debug(ctx, "staged the sensitive parameters in Parameter Store", map[string]any{"parameters": st.names, "kms_key_id": client.SecretsKMSKeyID()})
	}
	return st, true
}

// unstageSecrets deletes what stageSecrets wrote. ctx must outlive a
// cancelled apply (context.WithoutCancel): the values must not outlive the
// rollout. A failure is a warning: the fleet's next apply deletes them.
func (r *deploymentResource) unstageSecrets(ctx context.Context, st stagedSecrets, diags *diag.Diagnostics) {
	client := r.client()
	if client == nil || len(st.names) == 0 {
		return
	}
	if err := client.DeleteSecrets(ctx, st.names); err != nil {
		addAWSWarning(diags, "Cannot delete the staged sensitive parameters",
			redact(err, st.values), "They stay encrypted in Parameter Store until the next apply of this resource deletes them: "+strings.Join(st.names, ", ")+".")
		return
	}
	tflog.Debug(ctx, "deleted the staged sensitive parameters", map[string]any{"parameters": st.names})
}

// deleteLeftoverSecrets deletes what earlier rollouts of the fleet staged
// and never deleted. Only a warning when it fails: the leftovers stay
// encrypted and the rollout does not need them gone.
func (r *deploymentResource) deleteLeftoverSecrets(ctx context.Context, client *awsclient.Client, fleetPath, rolloutID string, staging bool, diags *diag.Diagnostics) {
	found, err := client.ListSecrets(ctx, fleetPath)
	if err != nil {
		if staging {
			// Staging needs the same path's permissions and will say so.
			tflog.Warn(ctx, "cannot list leftover sensitive parameters", map[string]any{"error": err.Error()})
			return
		}
		addAWSWarning(diags, "Cannot look for leftover sensitive parameters", err,
			"Sensitive values an interrupted rollout staged under "+fleetPath+" may remain in Parameter Store (encrypted).")
		return
	}
	var leftovers []string
	for _, p := range found {
		if !strings.HasPrefix(p.Name, fleetPath+"/"+rolloutID+"/") {
			leftovers = append(leftovers, p.Name)
		}
	}
	if len(leftovers) == 0 {
		return
	}
	if err := client.DeleteSecrets(ctx, leftovers); err != nil {
		addAWSWarning(diags, "Cannot delete leftover sensitive parameters", err,
			"An interrupted rollout left these in Parameter Store (encrypted): "+strings.Join(leftovers, ", ")+".")
		return
	}
	tflog.Info(ctx, "deleted sensitive parameters an interrupted rollout left", map[string]any{"parameters": leftovers})
}

// secretReadLine reads one staged value into a shell variable on the
// instance. The assignment's status is the AWS CLI's, so a missing
// parameter or a refused read fails the step with the CLI's error (an
// `export NAME="$(...)"` would hide it behind export's own status). The
// variables are exported only after every read (see addSecrets), so that one
// named like an AWS_* setting cannot change how the next read runs.
func secretReadLine(region, variable, parameter string) string {
	return fmt.Sprintf(`%s="$(aws ssm get-parameter --region %s --name '%s' --with-decryption --query Parameter.Value --output text)" || exit 1`,
		variable, region, parameter)
}

// addSecrets puts the lines reading a step's staged values (lines: variable
// -> line) ahead of its commands, then one export of them all. A document
// step gets nothing: the plan refuses sensitive values there, and a previous
// release's document step (for a rollback) runs as it is.
func addSecrets(step *rollout.Step, lines map[string]string) {
	if step.DocumentName != "" || len(lines) == 0 {
		return
	}
	vars := make([]string, 0, len(lines))
	for v := range lines {
		vars = append(vars, v)
	}
	sort.Strings(vars)
	pre := make([]string, 0, len(vars)+1)
	for _, v := range vars {
		pre = append(pre, lines[v])
	}
	pre = append(pre, "export "+strings.Join(vars, " "))
	step.Commands = append(pre, step.Commands...)
}

// shellVariable is what the instance's shell accepts as a variable name.
var shellVariable = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// shellReserved are variables whose assignment changes how the following
// lines run.
var shellReserved = map[string]bool{"PATH": true, "IFS": true}

// secretProblems are the plan-time checks of sensitive_parameters (see
// staticProblems).
func (m deploymentModel) secretProblems() []string {
	var problems []string
	for _, s := range m.Steps {
		if !isSet(s.SensitiveParameters) || s.Name.IsUnknown() {
			continue
		}
		name := s.Name.ValueString()
		if isSet(s.DocumentName) {
			problems = append(problems, fmt.Sprintf("step %q: sensitive_parameters work only with commands. SSM keeps a document's "+
				"parameters in its command history and resolves no SecureString reference in them, so a secret given to a document "+
				"would be readable with ssm:ListCommands. Use commands (each value is read on the instance from Parameter Store), "+
				"or let the document read a Parameter Store parameter itself", name))
			continue
		}
		for k := range s.SensitiveParameters.Elements() {
			switch {
			case !shellVariable.MatchString(k):
				problems = append(problems, fmt.Sprintf("step %q: sensitive_parameters key %q is not a shell variable name (letters, digits and '_', not starting with a digit)", name, k))
			case shellReserved[k]:
				problems = append(problems, fmt.Sprintf("step %q: sensitive_parameters key %s would change how the step's commands run; choose another name", name, k))
			}
		}
	}
	sort.Strings(problems)
	return problems
}

// redact keeps secret values out of an error's text (AWS validation
// messages may quote a request's values).
func redact(err error, values []string) error {
	text := err.Error()
	clean := text
	for _, v := range values {
		if v != "" {
			clean = strings.ReplaceAll(clean, v, "***")
		}
	}
	if clean == text {
		return err
	}
	return redactedError{text: clean, err: err}
}

type redactedError struct {
	text string
	err  error
}

func (e redactedError) Error() string { return e.text }
func (e redactedError) Unwrap() error { return e.err }

func sensitiveValues(ctx context.Context, config *deploymentModel, diags *diag.Diagnostics) map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, s := range config.Steps {
		if s.SensitiveParameters.IsNull() || s.SensitiveParameters.IsUnknown() {
			continue
		}
		values := map[string]string{}
		diags.Append(s.SensitiveParameters.ElementsAs(ctx, &values, false)...)
		out[s.Name.ValueString()] = values
	}
	return out
}

func maskedValues(secrets map[string]map[string]string) []string {
	var out []string
	for _, values := range secrets {
		for _, v := range values {
			if v != "" {
				out = append(out, v)
			}
		}
	}
	return out
}
