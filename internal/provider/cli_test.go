package provider

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/devprovider"
)

// Some tests run the real terraform CLI on the provider binary built from
// this tree, as users do with dev_overrides, instead of the in-process server.
var built struct {
	once sync.Once
	dir  string // holds terraform-provider-rolling and terraformrc
	err  error
	out  []byte
}

// cliConfigFile builds the provider once per test binary and returns a
// terraform CLI config whose dev_overrides point at it.
func cliConfigFile(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		// Shared by every test of the binary, so it outlives any one test.
		built.dir, built.err = os.MkdirTemp("", "rolling-provider-bin") //nolint:usetesting
		if built.err != nil {
			return
		}
		root, _ := filepath.Abs("../..")
		if built.out, built.err = devprovider.BuildCommand(context.Background(), root, built.dir).CombinedOutput(); built.err != nil {
			return
		}
		rc := devprovider.CLIConfig(built.dir) + "disable_checkpoint = true\n"
		built.err = os.WriteFile(filepath.Join(built.dir, "terraformrc"), []byte(rc), 0o600)
	})
	if built.err != nil {
		t.Fatalf("building the provider: %v\n%s", built.err, built.out)
	}
	return filepath.Join(built.dir, "terraformrc")
}

// requiredProviders names the provider's registry address, which
// dev_overrides maps to the build.
const requiredProviders = `
terraform {
  required_providers {
    rolling = {
      source = "rollingdeploy/rolling"
    }
  }
}
`

// terraformCLI runs terraform in dir with the built provider.
type terraformCLI struct {
	t   *testing.T
	bin string // terraform, or the CLI TERRAFORM / TF_ACC_TERRAFORM_PATH names (tofu)
	dir string
	env []string
}

func newTerraformCLI(t *testing.T, dir string, env ...string) *terraformCLI {
	t.Helper()
	bin, err := devprovider.Terraform()
	if err != nil {
		t.Fatal(err)
	}
	base := append(devprovider.Env(os.Environ(), cliConfigFile(t), 0), "TF_IN_AUTOMATION=1")
	return &terraformCLI{t: t, bin: bin, dir: dir, env: append(base, env...)}
}

// run returns combined output and whether terraform exited 0.
func (c *terraformCLI) run(args ...string) (string, bool) {
	c.t.Helper()
	cmd := exec.Command(c.bin, args...)
	cmd.Dir = c.dir
	cmd.Env = c.env
	out, err := cmd.CombinedOutput()
	return string(out), err == nil
}

// code runs terraform and returns its exit code and combined output.
func (c *terraformCLI) code(args ...string) (int, string) {
	c.t.Helper()
	cmd := exec.Command("terraform", args...)
	cmd.Dir = c.dir
	cmd.Env = c.env
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &exit):
		return exit.ExitCode(), string(out)
	default:
		c.t.Fatalf("terraform %s: %v", strings.Join(args, " "), err)
		return -1, ""
	}
}

// must runs terraform and fails the test when it does not exit 0.
func (c *terraformCLI) must(args ...string) string {
	c.t.Helper()
	out, ok := c.run(args...)
	if !ok {
		c.t.Fatalf("terraform %s failed:\n%s", strings.Join(args, " "), out)
	}
	return out
}
