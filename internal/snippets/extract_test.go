package snippets

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// check is how far a snippet is checked.
type check int

const (
	checkValidate check = iota // terraform fmt -check and terraform validate
	checkFmtOnly               // terraform fmt -check only: a deliberate fragment that still parses
	checkSkip                  // nothing: not HCL at all (placeholders such as "...")
)

// snippet is one fenced HCL block of a Markdown file.
type snippet struct {
	source string // file, relative to the repository root
	line   int    // line of the opening fence (1-based); the snippet starts on the next
	text   string
	check  check
}

func (s snippet) String() string { return fmt.Sprintf("%s:%d", s.source, s.line) }

var (
	fenceRE  = regexp.MustCompile("^(\\s*)(`{3,}|~{3,})\\s*([^\\s`]*)")
	markerRE = regexp.MustCompile(`^\s*<!--\s*snippet:\s*([a-z-]+)`)
	hclInfo  = map[string]bool{"terraform": true, "hcl": true, "tf": true}
	markers  = map[string]check{"fmt-only": checkFmtOnly, "skip": checkSkip}
)

// markdownSnippets returns the terraform/hcl/tf fenced blocks of a Markdown
// file (or tfplugindocs template), each with the check its marker asks for.
// Other fences are skipped whole, so a fence inside them does not count.
func markdownSnippets(source, doc string) ([]snippet, error) {
	lines := strings.Split(doc, "\n")
	var out []snippet
	prev := "" // last non-blank line before the current one
	for i := 0; i < len(lines); i++ {
		m := fenceRE.FindStringSubmatch(lines[i])
		if m == nil {
			if strings.TrimSpace(lines[i]) != "" {
				prev = lines[i]
			}
			continue
		}
		indent, fence, info := m[1], m[2], m[3]
		start := i
		var body []string
		closed := false
		for i++; i < len(lines); i++ {
			t := strings.TrimSpace(lines[i])
			if strings.HasPrefix(t, fence) && strings.Trim(t, fence[:1]) == "" {
				closed = true
				break
			}
			body = append(body, strings.TrimPrefix(lines[i], indent))
		}
		if !closed {
			return nil, fmt.Errorf("%s:%d: fence %s is never closed", source, start+1, fence)
		}
		c := checkValidate
		if mm := markerRE.FindStringSubmatch(prev); mm != nil {
			var known bool
			if c, known = markers[mm[1]]; !known {
				return nil, fmt.Errorf("%s:%d: unknown snippet marker %q (want fmt-only or skip)", source, start+1, mm[1])
			}
		}
		prev = lines[i]
		if !hclInfo[info] {
			continue
		}
		out = append(out, snippet{source: source, line: start + 1, text: strings.Join(body, "\n") + "\n", check: c})
	}
	return out, nil
}

var (
	declaredVarRE = regexp.MustCompile(`(?m)^\s*variable\s+"([^"]+)"`)
	usedVarRE     = regexp.MustCompile(`\bvar\.([A-Za-z_][A-Za-z0-9_-]*)`)
	// References to resources and data sources of the providers a
	// configuration of ours typically sits next to; none can be installed.
	foreignRefRE = regexp.MustCompile(`\b(data\.)?((?:aws|awscc|random|null|time|tls|tfe|hcp)_[a-z0-9_]+)\.([A-Za-z_][A-Za-z0-9_-]*)`)
)

// wrapFragment makes the .tf files of one module validate on their own: it
// rewrites references to other providers' resources into variables and
// returns the rewritten files plus a stub file declaring what they use but do
// not declare (variables, and the required_providers header and provider
// block when there are none). A complete configuration comes back unchanged
// with an empty stub.
func wrapFragment(files map[string]string) (map[string]string, string) {
	out := map[string]string{}
	all := ""
	for name, text := range files {
		text = foreignRefRE.ReplaceAllStringFunc(text, func(ref string) string {
			m := foreignRefRE.FindStringSubmatch(ref)
			return "var." + strings.ReplaceAll(m[1], ".", "_") + m[2] + "_" + m[3]
		})
		out[name] = text
		all += text + "\n"
	}
	declared := map[string]bool{}
	for _, m := range declaredVarRE.FindAllStringSubmatch(all, -1) {
		declared[m[1]] = true
	}
	var missing []string
	for _, m := range usedVarRE.FindAllStringSubmatch(all, -1) {
		if !declared[m[1]] {
			declared[m[1]] = true
			missing = append(missing, m[1])
		}
	}
	sort.Strings(missing)
	var stub strings.Builder
	if !strings.Contains(all, "required_providers") {
		stub.WriteString("terraform {\n  required_providers {\n    rolling = {\n      source = \"rollingdeploy/rolling\"\n    }\n  }\n}\n\n")
		if !strings.Contains(all, `provider "rolling"`) {
			stub.WriteString("provider \"rolling\" {}\n\n")
		}
	}
	for _, name := range missing {
		// Untyped: validate treats it as an unknown value of any type.
		fmt.Fprintf(&stub, "variable %q {}\n", name)
	}
	return out, stub.String()
}

func TestMarkdownSnippets_findsHCLFencesWithTheirLineAndMarker(t *testing.T) {
	doc := strings.Join([]string{
		"# Title",
		"```sh",
		"echo '```terraform'",
		"```",
		"",
		"```terraform",
		"resource \"rolling_deployment\" \"a\" {}",
		"```",
		"<!-- snippet: fmt-only (partial on purpose) -->",
		"",
		"~~~hcl",
		"x = 1",
		"~~~",
		"<!-- snippet: skip -->",
		"  ```tf",
		"  ...",
		"  ```",
	}, "\n")
	got, err := markdownSnippets("README.md", doc)
	if err != nil {
		t.Fatal(err)
	}
	want := []snippet{
		{"README.md", 6, "resource \"rolling_deployment\" \"a\" {}\n", checkValidate},
		{"README.md", 11, "x = 1\n", checkFmtOnly},
		{"README.md", 15, "...\n", checkSkip},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || len(got) != len(want) {
		t.Fatalf("snippets = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("snippet %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if _, err := markdownSnippets("x.md", "<!-- snippet: fmtonly -->\n```hcl\nx = 1\n```\n"); err == nil {
		t.Error("a misspelt marker was accepted")
	}
	if _, err := markdownSnippets("x.md", "```hcl\nx = 1\n"); err == nil {
		t.Error("an unclosed fence was accepted")
	}
}

func TestWrapFragment_declaresWhatALoneResourceBlockUses(t *testing.T) {
	files, stub := wrapFragment(map[string]string{"main.tf": `resource "rolling_deployment" "web" {
  target_group_arns = [aws_lb_target_group.web.arn, data.aws_lb_target_group.tls.arn]
  version           = var.app_version
}
`})
	if want := "[var.aws_lb_target_group_web.arn, var.data_aws_lb_target_group_tls.arn]"; !strings.Contains(files["main.tf"], want) {
		t.Errorf("rewritten file lacks %s:\n%s", want, files["main.tf"])
	}
	for _, want := range []string{
		`source = "rollingdeploy/rolling"`, `provider "rolling" {}`,
		`variable "app_version" {}`, `variable "aws_lb_target_group_web" {}`, `variable "data_aws_lb_target_group_tls" {}`,
	} {
		if !strings.Contains(stub, want) {
			t.Errorf("stub lacks %s:\n%s", want, stub)
		}
	}
	complete := "terraform {\n  required_providers {\n    rolling = { source = \"rollingdeploy/rolling\" }\n  }\n}\nvariable \"v\" {}\noutput \"o\" { value = var.v }\n"
	if _, stub := wrapFragment(map[string]string{"main.tf": complete}); stub != "" {
		t.Errorf("a complete configuration got a stub:\n%s", stub)
	}
}
