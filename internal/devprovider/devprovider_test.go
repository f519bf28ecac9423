package devprovider

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCLIConfig_overridesBothRegistryAddressesWithTheBuildDir(t *testing.T) {
	want := `provider_installation {
  dev_overrides {
    "registry.terraform.io/rollingdeploy/rolling" = "/tmp/x"
    "registry.opentofu.org/rollingdeploy/rolling" = "/tmp/x"
  }
  direct {}
}
`
	if got := CLIConfig("/tmp/x"); got != want {
		t.Errorf("CLIConfig =\n%s\nwant\n%s", got, want)
	}
}

func TestEnv_isolatesTerraformFromTheUsersAWSAndCLISettings(t *testing.T) {
	env := Env([]string{
		"PATH=/usr/bin", "AWS_PROFILE=prod", "AWS_ACCESS_KEY_ID=AKIA", "TF_CLI_CONFIG_FILE=/home/u/.terraformrc",
		"TF_CLI_ARGS_apply=-parallelism=1", "ROLLING_TIME_SCALE=1", "HOME=/home/u",
	}, "/tmp/demo/terraformrc", 0.005)
	got := strings.Join(env, "\n") + "\n"
	for _, gone := range []string{"AWS_PROFILE", "AWS_ACCESS_KEY_ID", "/home/u/.terraformrc", "TF_CLI_ARGS_apply", "ROLLING_TIME_SCALE=1\n"} {
		if strings.Contains(got, gone) {
			t.Errorf("env keeps %q:\n%s", gone, got)
		}
	}
	for _, kept := range []string{"PATH=/usr/bin", "HOME=/home/u", "TF_CLI_CONFIG_FILE=/tmp/demo/terraformrc", "ROLLING_TIME_SCALE=0.005", "CHECKPOINT_DISABLE=1"} {
		if !strings.Contains(got, kept+"\n") {
			t.Errorf("env lacks %q:\n%s", kept, got)
		}
	}
	if strings.Contains(strings.Join(Env(nil, "/rc", 0), "\n"), EnvTimeScale) {
		t.Error("a zero time scale still sets ROLLING_TIME_SCALE")
	}
}

func TestModuleRoot_findsTheRepositoryFromASubdirectory(t *testing.T) {
	wd, _ := os.Getwd()
	root, err := ModuleRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "main.go")); err != nil {
		t.Fatalf("root %s has no main.go", root)
	}
	if _, err := ModuleRoot(t.TempDir()); err == nil {
		t.Fatal("ModuleRoot outside the repository succeeded")
	}
}

func TestTerraform_prefersTheTestingFrameworksPathThenTERRAFORMThenPATH(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"terraform", "tofu", "tf-acc"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\necho OpenTofu v1.11.0\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", dir)
	for _, c := range []struct{ accPath, terraform, want string }{
		{"", "", "terraform"},
		{"", "tofu", "tofu"},
		{filepath.Join(dir, "tf-acc"), "tofu", "tf-acc"},
	} {
		t.Setenv(EnvAccTerraformPath, c.accPath)
		t.Setenv(EnvTerraform, c.terraform)
		got, err := Terraform()
		if err != nil || got != filepath.Join(dir, c.want) {
			t.Errorf("TF_ACC_TERRAFORM_PATH=%q TERRAFORM=%q: Terraform() = %q, %v; want %s", c.accPath, c.terraform, got, err, c.want)
		}
	}
	t.Setenv(EnvAccTerraformPath, "")
	t.Setenv(EnvTerraform, "no-such-cli")
	if _, err := Terraform(); err == nil {
		t.Error("a missing CLI was accepted")
	}
}

func TestSetAcceptanceEnv_pointsTheTestingFrameworkAtOpenTofusRegistryHost(t *testing.T) {
	dir := t.TempDir()
	tofu := filepath.Join(dir, "tofu")
	if err := os.WriteFile(tofu, []byte("#!/bin/sh\necho OpenTofu v1.11.0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	t.Setenv(EnvAccTerraformPath, "")
	t.Setenv(EnvTerraform, "tofu")
	t.Setenv("TF_ACC_PROVIDER_HOST", "")
	if err := SetAcceptanceEnv(); err != nil {
		t.Fatal(err)
	}
	if got := os.Getenv(EnvAccTerraformPath); got != tofu {
		t.Errorf("TF_ACC_TERRAFORM_PATH = %q, want %s", got, tofu)
	}
	if got := os.Getenv("TF_ACC_PROVIDER_HOST"); got != "registry.opentofu.org" {
		t.Errorf("TF_ACC_PROVIDER_HOST = %q, want registry.opentofu.org", got)
	}
}
