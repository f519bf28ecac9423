package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// providerAddress is the address main.go serves the provider under; the dev
// override must name exactly it.
const providerAddress = "registry.terraform.io/rollingdeploy/rolling"

// cliConfig is a throwaway terraform CLI configuration that takes the
// provider from dir instead of the registry, so no `terraform init` and no
// network are needed.
func cliConfig(dir string) string {
	return fmt.Sprintf(`provider_installation {
  dev_overrides {
    %q = %q
  }
  direct {}
}
`, providerAddress, dir)
}

// terraformEnv is the environment terraform runs in: the demo's CLI config
// and time scale, no AWS settings of the user's (the demo never talks to AWS,
// and a broken profile must not break it), no update check.
func terraformEnv(base []string, cliConfigFile string, timeScale float64) []string {
	var env []string
	for _, kv := range base {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "AWS_") || name == "TF_CLI_CONFIG_FILE" || name == envTimeScale || name == "TF_CLI_ARGS" || strings.HasPrefix(name, "TF_CLI_ARGS_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"TF_CLI_CONFIG_FILE="+cliConfigFile,
		fmt.Sprintf("%s=%g", envTimeScale, timeScale),
		"CHECKPOINT_DISABLE=1",
		"TF_INPUT=0",
	)
}

// envTimeScale is provider.EnvTimeScale; spelled here so the demo does not
// link the provider package for one constant.
const envTimeScale = "ROLLING_TIME_SCALE"

// terraform runs the real terraform CLI in the demo's work directory.
type terraform struct {
	bin   string
	dir   string
	env   []string
	out   io.Writer // what the user sees
	color bool
}

// run streams terraform's output to the user and returns its exit code. An
// error means it could not run or was interrupted, not a non-zero exit.
func (tf *terraform) run(ctx context.Context, args ...string) (int, error) {
	return tf.exec(ctx, tf.out, args...)
}

// capture returns terraform's standard output (for -json commands); its
// standard error still goes to the user.
func (tf *terraform) capture(ctx context.Context, args ...string) ([]byte, error) {
	var stdout bytes.Buffer
	code, err := tf.exec(ctx, &stdout, args...)
	if err != nil {
		return nil, err
	}
	if code != 0 {
		return nil, fmt.Errorf("terraform %s exited %d", strings.Join(args, " "), code)
	}
	return stdout.Bytes(), nil
}

func (tf *terraform) exec(ctx context.Context, stdout io.Writer, args ...string) (int, error) {
	if !tf.color && len(args) > 0 && args[0] != "version" {
		args = append([]string{args[0], "-no-color"}, args[1:]...)
	}
	cmd := exec.CommandContext(ctx, tf.bin, args...)
	cmd.Dir = tf.dir
	cmd.Env = tf.env
	cmd.Stdout = stdout
	cmd.Stderr = tf.out
	return runGroup(ctx, cmd)
}

// interruptGrace is how long an interrupted terraform may take to stop the
// provider (which cancels the rollout and puts instances back) before the
// group is killed.
var interruptGrace = 30 * time.Second

// runGroup runs cmd in its own process group. When ctx ends it interrupts
// the group (terraform then stops the provider, which cancels the rollout),
// gives it a moment, and kills whatever is left of the group.
func runGroup(ctx context.Context, cmd *exec.Cmd) (int, error) {
	ownProcessGroup(cmd)
	cmd.Cancel = func() error { return interruptGroup(cmd.Process.Pid) }
	cmd.WaitDelay = interruptGrace
	if err := cmd.Start(); err != nil {
		return -1, err
	}
	err := cmd.Wait()
	if ctx.Err() != nil {
		killGroup(cmd.Process.Pid)
		return -1, fmt.Errorf("%s interrupted: %w", filepath.Base(cmd.Path), ctx.Err())
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), nil
	}
	if err != nil {
		return -1, err
	}
	return 0, nil
}

// buildProvider compiles the provider from the repository root into dir, as
// the dev override expects it.
func buildProvider(ctx context.Context, root, dir string, out io.Writer) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(dir, "terraform-provider-rolling"), ".")
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = out, out
	code, err := runGroup(ctx, cmd)
	if err != nil {
		return fmt.Errorf("building the provider: %w", err)
	}
	if code != 0 {
		return fmt.Errorf("building the provider: go build exited %d", code)
	}
	return nil
}

// findRoot walks up from dir to the module's go.mod.
func findRoot(dir string) (string, error) {
	for {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil &&
			bytes.Contains(data, []byte("module github.com/rollingdeploy/terraform-provider-rolling")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the terraform-provider-rolling repository (no go.mod found)")
		}
		dir = parent
	}
}

// copyConfig copies the demo's Terraform files (not state or plans) to dst.
func copyConfig(src, dst string) error {
	files, err := filepath.Glob(filepath.Join(src, "*.tf"))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no .tf files in %s", src)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dst, filepath.Base(f)), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}
