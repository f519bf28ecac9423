package devprovider

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCLIConfig_overridesTheProviderAddressWithTheBuildDir(t *testing.T) {
	want := `provider_installation {
  dev_overrides {
    "registry.terraform.io/rollingdeploy/rolling" = "/tmp/x"
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
