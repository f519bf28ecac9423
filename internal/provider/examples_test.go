package provider

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestExamples_validateWithTheBuiltProvider runs `terraform get` and
// `terraform validate` on every runnable example with the provider built from
// this tree (dev_overrides, no registry), and `terraform fmt -check` on all.
// The documentation snippets under provider/, resources/ and data-sources/
// refer to resources of other providers and are only format-checked.
func TestExamples_validateWithTheBuiltProvider(t *testing.T) {
	if os.Getenv("TF_ACC") == "" {
		t.Skip("set TF_ACC=1 to run terraform on the examples (make test does)")
	}
	tf, err := exec.LookPath("terraform")
	if err != nil {
		t.Fatal("terraform is not on PATH")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	bin := filepath.Join(work, "bin")
	build := exec.Command("go", "build", "-o", filepath.Join(bin, "terraform-provider-rolling"), ".")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	rc := filepath.Join(work, "terraformrc")
	cliConfig := "provider_installation {\n  dev_overrides {\n    \"registry.terraform.io/rollingdeploy/rolling\" = \"" + bin + "\"\n  }\n  direct {}\n}\ndisable_checkpoint = true\n"
	if err := os.WriteFile(rc, []byte(cliConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	examples := filepath.Join(work, "examples")
	if out, err := exec.Command("cp", "-r", filepath.Join(root, "examples"), examples).CombinedOutput(); err != nil {
		t.Fatalf("copy examples: %v\n%s", err, out)
	}
	run := func(dir string, args ...string) {
		t.Helper()
		cmd := exec.Command(tf, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "TF_CLI_CONFIG_FILE="+rc, "TF_IN_AUTOMATION=1", "CHECKPOINT_DISABLE=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("terraform %s in %s: %v\n%s", strings.Join(args, " "), dir, err, out)
		}
	}
	run(examples, "fmt", "-check", "-recursive")
	for _, dir := range []string{"modules/rolling_web", "environments/staging", "environments/production", "database-first", "demo"} {
		t.Run(dir, func(t *testing.T) {
			path := filepath.Join(examples, dir)
			if _, err := os.Stat(path); err != nil {
				t.Fatalf("example %s is missing", dir)
			}
			// No init: it would ask the registry. `get` installs local
			// modules only; dev_overrides supply the provider.
			run(path, "get")
			run(path, "validate", "-no-color")
		})
	}
}
