package provider

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/awsclient"
	"github.com/rollingdeploy/terraform-provider-rolling/internal/rollout"
)

// The preflight reads, before anything moves, what decides whether the
// rollout can work, with no mutating call: each instance's EC2 state and
// status checks and its SSM agent (read with the fleet, so a plan's
// schedule leaves out what cannot be deployed), and each step's SSM
// document (at plan time). The engine checks the instances again just
// before each batch leaves (rollout.Readiness).

// readFleet is DiscoverFleet with each running instance's readiness.
func readFleet(ctx context.Context, client *awsclient.Client, arns, ids []string) (rollout.Fleet, error) {
	fleet, err := client.DiscoverFleet(ctx, arns, ids)
	if err != nil {
		return fleet, err
	}
	fleet.Scoped = len(ids) > 0
	var running []string
	for _, inst := range fleet.Instances {
		if inst.State == "running" {
			running = append(running, inst.ID)
		}
	}
	if len(running) == 0 {
		return fleet, nil
	}
	report, err := client.CheckInstances(ctx, running)
	if err != nil {
		return fleet, fmt.Errorf("reading the instances' status checks and SSM agents: %w", err)
	}
	for i, inst := range fleet.Instances {
		if rd, ok := report[inst.ID]; ok && inst.State == "running" {
			fleet.Instances[i].Unready = awsclient.UnreadyReason(rd)
		}
	}
	return fleet, nil
}

// undeployable names the out-of-date instances the rollout leaves out:
// stopped ones and unready ones, with the reason.
func undeployable(f rollout.Fleet, version, releaseID string) []string {
	var out []string
	for _, inst := range f.Instances {
		if inst.Tags[rollout.TagPhase] != "" || !instanceOutOfDate(inst, version, releaseID) {
			continue
		}
		switch {
		case inst.State == "stopped" || inst.State == "stopping":
			out = append(out, fmt.Sprintf("%s (%s)", inst.ID, inst.State))
		case inst.Unready != "":
			out = append(out, fmt.Sprintf("%s (%s)", inst.ID, inst.Unready))
		}
	}
	sort.Strings(out)
	return out
}

// checkUnready reports the instances the plan leaves out: a warning, or an
// error when failure.unready_instances is "fail".
func checkUnready(f rollout.Fleet, version, releaseID string, fail bool, diags *diag.Diagnostics) {
	left := undeployable(f, version, releaseID)
	if len(left) == 0 {
		return
	}
	if fail {
		diags.AddAttributeError(path.Root("failure").AtName("unready_instances"), "Instances cannot be deployed now",
			fmt.Sprintf("These out-of-date instances cannot be deployed now: %s. Start them, fix their status checks or their "+
				"SSM agent, or set failure.unready_instances = \"skip\" to roll the others and leave these for a later apply.",
				strings.Join(left, ", ")))
		return
	}
	diags.AddWarning("Instances left out of this rollout",
		fmt.Sprintf("These out-of-date instances cannot be deployed now and are left out: %s. Once they can be (running, "+
			"status checks ok, SSM agent Online), the next plan shows them. Set failure.unready_instances = \"fail\" to "+
			"refuse the plan instead.", strings.Join(left, ", ")))
}

// checkDocuments verifies at plan time that each document step can be sent:
// the document and version exist and the parameters given are the ones it
// declares, with every required one given. Without it SendCommand fails
// only after the first batch has been drained and tagged.
func (r *deploymentResource) checkDocuments(ctx context.Context, m *deploymentModel, diags *diag.Diagnostics) {
	client := r.client()
	for i, s := range m.Steps {
		if !isSet(s.DocumentName) || s.DocumentVersion.IsUnknown() || !known(ctx, s.Parameters) {
			continue
		}
		at := path.Root("step").AtListIndex(i)
		name, version := s.DocumentName.ValueString(), s.DocumentVersion.ValueString()
		doc, err := client.CheckDocument(ctx, name, version)
		switch {
		case err != nil:
			addAWSError(diags, "Cannot read the SSM document", err)
			continue
		case !doc.Exists:
			diags.AddAttributeError(at.AtName("document_name"), "SSM document not found",
				fmt.Sprintf("Step %q names the document %q, which does not exist in this account and region (or is not shared with it).", s.Name.ValueString(), name))
			continue
		case !doc.VersionExists:
			diags.AddAttributeError(at.AtName("document_version"), "SSM document version not found",
				fmt.Sprintf("Document %q has no version %q; its latest is %s and its default %s.", name, version, doc.LatestVersion, doc.DefaultVersion))
			continue
		}
		given := map[string]bool{}
		var params map[string][]string
		if !s.Parameters.IsNull() {
			diags.Append(s.Parameters.ElementsAs(ctx, &params, false)...)
		}
		for k := range params {
			given[k] = true
		}
		declared := map[string]bool{}
		var names, missing []string
		for _, p := range doc.Parameters {
			declared[p.Name] = true
			names = append(names, p.Name)
			if p.Required && !given[p.Name] {
				missing = append(missing, p.Name)
			}
		}
		var unknownNames []string
		for k := range given {
			if !declared[k] {
				unknownNames = append(unknownNames, k)
			}
		}
		sort.Strings(unknownNames)
		sort.Strings(missing)
		if len(unknownNames) > 0 {
			diags.AddAttributeError(at.AtName("parameters"), "Parameter not accepted by the SSM document",
				fmt.Sprintf("Document %q (version %s) does not declare %s; it takes: %s.", name, doc.Version, strings.Join(unknownNames, ", "), strings.Join(names, ", ")))
		}
		if len(missing) > 0 {
			diags.AddAttributeError(at.AtName("parameters"), "Required parameter missing",
				fmt.Sprintf("Document %q (version %s) needs %s, which step %q does not give.", name, doc.Version, strings.Join(missing, ", "), s.Name.ValueString()))
		}
	}
}

// errNotConfigured is returned by reads made before the provider has a client.
var errNotConfigured = errors.New("the provider is not configured")

// warnOutOfScope names the instance_ids that none of the deployment's target
// groups registers (a typo, or an instance since terminated or
// deregistered): they are not deployed, and without a word the plan read
// "all 0 instances are on it, nothing to roll out".
func warnOutOfScope(ids []string, f rollout.Fleet, diags *diag.Diagnostics) {
	in := map[string]bool{}
	for _, inst := range f.Instances {
		in[inst.ID] = true
	}
	var missing []string
	for _, id := range ids {
		if id != "" && !in[id] { // "": an element not known yet
			missing = append(missing, id)
		}
	}
	if len(missing) == 0 {
		return
	}
	sort.Strings(missing)
	diags.AddAttributeWarning(path.Root("instance_ids"), "Instances not in the target groups", fmt.Sprintf(
		"%s %s registered in none of target_group_arns, so this deployment leaves %s alone: check the ids "+
			"(a typo, or an instance since terminated or deregistered).",
		strings.Join(missing, ", "), isAre(len(missing)), map[bool]string{true: "it", false: "them"}[len(missing) == 1]))
}
