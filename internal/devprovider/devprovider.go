// Package devprovider runs the real terraform on the provider built from
// this repository, as a provider developer does: it finds the module root,
// builds the binary, and writes the CLI configuration whose dev_overrides
// make terraform use that build (no `terraform init`, no registry). The demo,
// the benchmarks and the tests that drive the terraform CLI share it, and
// with it the choice of CLI: Terraform, or OpenTofu through $TERRAFORM.
//
// It must not import the provider itself.
package devprovider

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

const (
	// Address is the registry address main.go serves the provider under;
	// the dev override must name exactly it.
	Address = "registry.terraform.io/rollingdeploy/rolling"
	// OpenTofuAddress is the same provider as OpenTofu resolves
	// `source = "rollingdeploy/rolling"`: its default registry host differs.
	OpenTofuAddress = "registry.opentofu.org/rollingdeploy/rolling"
	// EnvTerraform names the terraform-compatible CLI the demo and the
	// CLI-driven tests run (a path or a name on PATH), e.g. tofu.
	EnvTerraform = "TERRAFORM"
	// EnvAccTerraformPath is terraform-plugin-testing's choice of binary;
	// it wins over EnvTerraform, so one variable serves both kinds of test.
	EnvAccTerraformPath = "TF_ACC_TERRAFORM_PATH"
	// Binary is the executable name terraform looks for in the override dir.
	Binary = "terraform-provider-rolling"
	// EnvTimeScale is provider.EnvTimeScale, spelled here so that callers do
	// not link the provider for one constant.
	EnvTimeScale = "ROLLING_TIME_SCALE"
	module       = "module github.com/rollingdeploy/terraform-provider-rolling"
)

// ModuleRoot walks up from dir to this repository's go.mod.
func ModuleRoot(dir string) (string, error) {
	for {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.Contains(data, []byte(module)) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the terraform-provider-rolling repository (no go.mod found)")
		}
		dir = parent
	}
}

// BuildCommand is `go build` of the provider from root into binDir; callers
// run it their own way (output, process group).
func BuildCommand(ctx context.Context, root, binDir string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(binDir, Binary), ".")
	cmd.Dir = root
	return cmd
}

// CLIConfig is a terraform CLI configuration that takes the provider from
// binDir instead of the registry, under both registry addresses, so the same
// file serves Terraform and OpenTofu.
func CLIConfig(binDir string) string {
	return fmt.Sprintf(`provider_installation {
  dev_overrides {
    %q = %q
    %q = %q
  }
  direct {}
}
`, Address, binDir, OpenTofuAddress, binDir)
}

// Terraform is the CLI to run: $TF_ACC_TERRAFORM_PATH, else $TERRAFORM,
// else terraform, as found on PATH, made absolute.
func Terraform() (string, error) {
	name := "terraform"
	for _, env := range []string{EnvAccTerraformPath, EnvTerraform} {
		if v := os.Getenv(env); v != "" {
			name = v
			break
		}
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("the terraform CLI %q was not found (set %s or %s to a terraform >= 1.11 or tofu >= 1.11, by name on PATH or absolute path): %w",
			name, EnvTerraform, EnvAccTerraformPath, err)
	}
	// Absolute, so that it still names the same file from a test's
	// package directory or terraform's work directory.
	return filepath.Abs(path)
}

// IsOpenTofu reports whether the CLI at path is OpenTofu, from the first
// line of its `version` output.
func IsOpenTofu(path string) bool {
	cmd := exec.Command(path, "version")
	cmd.Env = append(os.Environ(), "CHECKPOINT_DISABLE=1")
	out, err := cmd.Output()
	return err == nil && bytes.HasPrefix(out, []byte("OpenTofu"))
}

// SetAcceptanceEnv points terraform-plugin-testing at Terraform(): it sets
// TF_ACC_TERRAFORM_PATH when only TERRAFORM names the CLI, and for OpenTofu
// TF_ACC_PROVIDER_HOST, because the testing framework reattaches the
// in-process provider under registry.terraform.io unless told otherwise,
// which OpenTofu would not match to the configuration's provider.
func SetAcceptanceEnv() error {
	path, err := Terraform()
	if err != nil {
		return err
	}
	if err := os.Setenv(EnvAccTerraformPath, path); err != nil {
		return err
	}
	if os.Getenv("TF_ACC_PROVIDER_HOST") == "" && IsOpenTofu(path) {
		return os.Setenv("TF_ACC_PROVIDER_HOST", "registry.opentofu.org")
	}
	return nil
}

// Env is the environment terraform runs in: base without the user's AWS
// settings (a broken profile must not break a simulated run), CLI config and
// arguments, plus the given CLI config, the simulator's time scale (none when
// 0), no update check and no prompts.
func Env(base []string, cliConfigFile string, timeScale float64) []string {
	var env []string
	for _, kv := range base {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "AWS_") || name == "TF_CLI_CONFIG_FILE" || name == EnvTimeScale ||
			name == "TF_CLI_ARGS" || strings.HasPrefix(name, "TF_CLI_ARGS_") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "TF_CLI_CONFIG_FILE="+cliConfigFile, "CHECKPOINT_DISABLE=1", "TF_INPUT=0")
	if timeScale > 0 {
		env = append(env, fmt.Sprintf("%s=%g", EnvTimeScale, timeScale))
	}
	return env
}
