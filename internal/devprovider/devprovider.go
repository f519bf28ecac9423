// Package devprovider runs the real terraform on the provider built from
// this repository, as a provider developer does: it finds the module root,
// builds the binary, and writes the CLI configuration whose dev_overrides
// make terraform use that build (no `terraform init`, no registry). The demo,
// the benchmarks and the tests that drive the terraform CLI share it.
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
// binDir instead of the registry.
func CLIConfig(binDir string) string {
	return fmt.Sprintf(`provider_installation {
  dev_overrides {
    %q = %q
  }
  direct {}
}
`, Address, binDir)
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
