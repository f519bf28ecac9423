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
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	examples := filepath.Join(t.TempDir(), "examples")
	if out, err := exec.Command("cp", "-r", filepath.Join(root, "examples"), examples).CombinedOutput(); err != nil {
		t.Fatalf("copy examples: %v\n%s", err, out)
	}
	run := func(dir string, args ...string) {
		t.Helper()
		if out, ok := newTerraformCLI(t, dir).run(args...); !ok {
			t.Errorf("terraform %s in %s:\n%s", strings.Join(args, " "), dir, out)
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
