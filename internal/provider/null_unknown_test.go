package provider

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

// Every argument of rolling_deployment accepts null (a module variable left
// unset) and unknown (an output of a resource not created yet) at validate
// and plan. The matrix is generated from the schema, so an argument added
// later is covered without anyone remembering: one resource per argument
// and case, all in one configuration, one `terraform validate` and one
// `terraform plan` with the real CLI.

// schemaArg is one configurable argument: its block ("" at the top level)
// and name.
type schemaArg struct {
	block, name string
	typ         attr.Type
	required    bool
}

func (a schemaArg) String() string {
	if a.block == "" {
		return a.name
	}
	return a.block + "." + a.name
}

func deploymentArgs(t *testing.T) []schemaArg {
	t.Helper()
	var resp resource.SchemaResponse
	newDeploymentResource().Schema(context.Background(), resource.SchemaRequest{}, &resp)
	var out []schemaArg
	type argAttr interface {
		IsRequired() bool
		IsOptional() bool
		GetType() attr.Type
	}
	add := func(block, name string, a argAttr) {
		if a.IsRequired() || a.IsOptional() { // not computed only
			out = append(out, schemaArg{block: block, name: name, typ: a.GetType(), required: a.IsRequired()})
		}
	}
	for name, a := range resp.Schema.Attributes {
		add("", name, a)
	}
	for block, b := range resp.Schema.Blocks {
		for name, a := range b.GetNestedObject().GetAttributes() {
			add(block, name, a)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// sampleValues are valid values for arguments whose validators refuse the
// generic sample of their type.
var sampleValues = map[string]string{
	"version":                        `"v1"`,
	"step.name":                      `"deploy"`,
	"step.document_name":             `"AWS-RunShellScript"`,
	"step.document_version":          `"$DEFAULT"`,
	"step.parameters":                `{ commands = ["app check"] }`,
	"step.sensitive_parameters":      `{ TOKEN = "not-a-secret" }`,
	"step.timeout":                   `"5m"`,
	"instance_ids":                   `["i-0123456789abcdef0"]`,
	"triggers":                       `{ config = "abc" }`,
	"strategy.mode":                  `"window"`,
	"strategy.order":                 `"sorted"`,
	"strategy.min_healthy_percent":   `50`,
	"strategy.batch_percent":         `50`,
	"failure.max_failed_percent":     `10`,
	"failure.suspend_processes":      `["AZRebalance"]`,
	"failure.alarm_names":            `["web-5xx"]`,
	"failure.rollback":               `true`,
	"timeouts.create":                `"30m"`,
	"timeouts.update":                `"30m"`,
	"strategy.canary_pause":          `"1m"`,
	"strategy.pause_between_batches": `"10s"`,
	"strategy.bake_time":             `"10s"`,
	"strategy.health_timeout":        `"10m"`,
	"strategy.drain_timeout":         `"5m"`,
}

// partners are set beside an argument that is tested null: an either/or
// pair must treat null as unset, and some arguments need another.
var partners = map[string]string{
	"strategy.batch_size":          "batch_percent = 50",
	"strategy.batch_percent":       "batch_size = 2",
	"failure.max_failed_instances": "max_failed_percent = 10",
	"failure.max_failed_percent":   "max_failed_instances = 1",
	"strategy.canary_pause":        "canary_size = 1",
}

func sampleFor(a schemaArg, tg string) string {
	if v, ok := sampleValues[a.String()]; ok {
		return v
	}
	switch a.String() {
	case "target_group_arns":
		return fmt.Sprintf("[%q]", tg)
	}
	switch a.typ {
	case types.StringType:
		return `"30s"`
	case types.Int64Type:
		return `1`
	case types.BoolType:
		return `true`
	}
	switch a.typ.(type) {
	case types.ListType, types.SetType:
		return `["x"]`
	case types.MapType:
		return `{ k = "v" }`
	}
	return `null`
}

// hclType is the variable type for a null of an argument's type.
func hclType(t attr.Type) string {
	switch t {
	case types.StringType:
		return "string"
	case types.Int64Type:
		return "number"
	case types.BoolType:
		return "bool"
	}
	switch t := t.(type) {
	case types.ListType:
		return "list(" + hclType(t.ElemType) + ")"
	case types.SetType:
		return "set(" + hclType(t.ElemType) + ")"
	case types.MapType:
		return "map(" + hclType(t.ElemType) + ")"
	}
	return "any"
}

// matrixResource renders one rolling_deployment with arg set to expr.
func matrixResource(name string, a schemaArg, expr, tg string) string {
	top := map[string]string{"target_group_arns": fmt.Sprintf("[%q]", tg), "version": `"v1"`}
	step := map[string]string{"name": `"deploy"`, "commands": `["app deploy"]`}
	if a.block == "step" && (a.name == "document_version" || a.name == "parameters" || a.name == "commands") {
		step = map[string]string{"name": `"deploy"`, "document_name": `"AWS-RunShellScript"`, "parameters": `{ commands = ["app deploy"] }`}
	}
	blocks := map[string]map[string]string{"step": step}
	extra := map[string]string{}
	if a.block == "" {
		top[a.name] = expr
	} else {
		if blocks[a.block] == nil {
			blocks[a.block] = map[string]string{}
		}
		blocks[a.block][a.name] = expr
		if p, ok := partners[a.String()]; ok && strings.HasPrefix(expr, "var.") {
			extra[a.block] = p
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "resource \"rolling_deployment\" %q {\n", name)
	for _, k := range sortedKeys(top) {
		fmt.Fprintf(&b, "  %s = %s\n", k, top[k])
	}
	names := []string{"step"}
	for blk := range blocks {
		if blk != "step" {
			names = append(names, blk)
		}
	}
	sort.Strings(names[1:])
	for _, blk := range names {
		body := blocks[blk]
		fmt.Fprintf(&b, "  %s {\n", blk)
		for _, k := range sortedKeys(body) {
			fmt.Fprintf(&b, "    %s = %s\n", k, body[k])
		}
		if extra[blk] != "" {
			fmt.Fprintf(&b, "    %s\n", extra[blk])
		}
		b.WriteString("  }\n")
	}
	b.WriteString("}\n")
	return b.String()
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func TestAccContract_everyArgumentAcceptsNullAndUnknown(t *testing.T) {
	f := newTestFleet(t)
	tg, _ := f.web(3, "v1")
	f.sim.AddAlarm("web-5xx", "OK")
	args := deploymentArgs(t)
	if len(args) < 30 {
		t.Fatalf("the schema walk found only %d arguments: it misses some", len(args))
	}

	var cfg strings.Builder
	cfg.WriteString(requiredProviders + f.providerConfig())
	nullVars := map[string]bool{}
	var cases []string
	for _, a := range args {
		id := strings.ReplaceAll(a.String(), ".", "_")
		if !a.required {
			v := "null_" + strings.NewReplacer("(", "_", ")", "").Replace(hclType(a.typ))
			if !nullVars[v] {
				nullVars[v] = true
				fmt.Fprintf(&cfg, "variable %q {\n  type    = %s\n  default = null\n}\n", v, hclType(a.typ))
			}
			cfg.WriteString(matrixResource("null_"+id, a, "var."+v, tg))
			cases = append(cases, "null "+a.String())
		}
		fmt.Fprintf(&cfg, "resource \"terraform_data\" %q {\n  input = %s\n}\n", "u_"+id, sampleFor(a, tg))
		cfg.WriteString(matrixResource("unknown_"+id, a, "terraform_data.u_"+id+".output", tg))
		cases = append(cases, "unknown "+a.String())
	}
	// Unknown inside a list, and whole blocks from dynamic blocks over a
	// value known only after apply.
	fmt.Fprintf(&cfg, `
resource "terraform_data" "alarm" {
  input = "web-5xx"
}
resource "terraform_data" "one" {
  input = ["x"]
}
resource "rolling_deployment" "unknown_list_element" {
  target_group_arns = [%[1]q]
  version           = "v1"
  step {
    name     = "deploy"
    commands = ["app deploy"]
  }
  failure {
    alarm_names = [terraform_data.alarm.output]
  }
}
resource "rolling_deployment" "unknown_blocks" {
  target_group_arns = [%[1]q]
  version           = "v1"
  dynamic "step" {
    for_each = terraform_data.one.output
    content {
      name     = "deploy"
      commands = ["app deploy"]
    }
  }
  dynamic "strategy" {
    for_each = terraform_data.one.output
    content {
      batch_size = 1
    }
  }
  dynamic "failure" {
    for_each = terraform_data.one.output
    content {
      rollback = false
    }
  }
}
`, tg)

	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "main.tf"), cfg.String())
	cli := newTerraformCLI(t, dir)
	if code, out := cli.code("validate", "-no-color"); code != 0 {
		t.Fatalf("terraform validate exited %d over %d cases:\n%s", code, len(cases), out)
	}
	code, out := cli.code("plan", "-no-color", "-input=false", "-detailed-exitcode")
	if code != 2 || strings.Contains(out, "Error") {
		t.Fatalf("terraform plan exited %d over %d cases (%s):\n%s", code, len(cases), strings.Join(cases, ", "), out)
	}
	if n := f.mutatingCalls(); len(n) != 0 {
		t.Errorf("a plan made mutating calls: %v", n)
	}
}
