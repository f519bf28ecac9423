package provider

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/fleetsim"
)

// One rollout at a time, tried as users meet it: the real terraform CLI in
// separate working directories (separate states, as two workspaces or CI
// runners have) against one simulated fleet.

// leaseFleet seeds n instances on v1 behind one target group whose
// deregistration delay (1500 s, 1.5 s of wall time) keeps a rollout busy
// long enough to be met by another.
func leaseFleet(t *testing.T, n int) (*testFleet, string, []string) {
	t.Helper()
	f := newTestFleet(t)
	tg := f.sim.AddTargetGroup(fleetsim.TargetGroupConfig{Name: "web", Port: 80, DeregistrationDelay: 1500 * time.Second})
	ids := f.sim.AddInstances(fleetsim.InstanceConfig{
		Count: n, AppVersion: "v1", Tags: map[string]string{"rolling:version": "v1"}, TargetGroupARNs: []string{tg},
	})
	sort.Strings(ids)
	return f, tg, ids
}

// leaseDeployment is a rolling_deployment "name" over tgs; extra goes in the
// resource body (a lease block, instance_ids).
func leaseDeployment(name string, tgs []string, extra string) string {
	quoted := make([]string, len(tgs))
	for i, tg := range tgs {
		quoted[i] = fmt.Sprintf("%q", tg)
	}
	return fmt.Sprintf(`
resource "rolling_deployment" %q {
  target_group_arns = [%s]
  version           = var.app_version
  step {
    name     = "deploy"
    commands = ["app deploy ${var.app_version}"]
  }
  strategy {
    batch_size          = 2
    min_healthy_percent = 75
    order               = "sorted"
  }
  failure {
    rollback = false
  }
  %s
}
`, name, strings.Join(quoted, ", "), extra)
}

// leaseDir writes a working directory with the given resources and returns
// a CLI for it on the simulator's time scale.
func leaseDir(t *testing.T, f *testFleet, resources ...string) *terraformCLI {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "main.tf"), requiredProviders+f.providerConfig()+`
variable "app_version" {
  type = string
}
`+strings.Join(resources, "\n"))
	return newTerraformCLI(t, dir, fmt.Sprintf("%s=%g", EnvTimeScale, testTimeScale))
}

// leases are the lease parameters in the simulator, by name.
func leases(f *testFleet) map[string]fleetsim.ParameterSummary {
	out := map[string]fleetsim.ParameterSummary{}
	for _, p := range f.sim.Parameters() {
		if strings.HasPrefix(p.Name, "/rolling/lease/") {
			out[p.Name] = p
		}
	}
	return out
}

// waitExit waits for a started apply and returns its exit code.
func waitExit(t *testing.T, done chan error, out *strings.Builder, within time.Duration) int {
	t.Helper()
	select {
	case err := <-done:
		if err == nil {
			return 0
		}
		if exit, ok := err.(*exec.ExitError); ok {
			return exit.ExitCode()
		}
		t.Fatalf("terraform: %v\n%s", err, out.String())
	case <-time.After(within):
		t.Fatalf("terraform did not finish within %s:\n%s", within, out.String())
	}
	return -1
}

var rolloutIDInOutput = regexp.MustCompile(`r-\d{8}T\d{6}-\d{3}`)

func TestAccLease_twoWorkingDirectoriesAtOnceExactlyOneProceedsTheOtherNamesTheHolder(t *testing.T) {
	f, tg, ids := leaseFleet(t, 8)
	a := leaseDir(t, f, leaseDeployment("web", []string{tg}, ""))
	b := leaseDir(t, f, leaseDeployment("web", []string{tg}, ""))
	a.must("apply", "-auto-approve", "-var", "app_version=v1")
	b.must("apply", "-auto-approve", "-var", "app_version=v1")
	f.sim.Recorder().Reset()

	_, outA, doneA := startApply(t, a, "v2")
	_, outB, doneB := startApply(t, b, "v3")
	codeA, codeB := waitExit(t, doneA, outA, 60*time.Second), waitExit(t, doneB, outB, 60*time.Second)
	if (codeA == 0) == (codeB == 0) {
		t.Fatalf("exit codes %d and %d: exactly one apply must proceed\n--- a:\n%s\n--- b:\n%s", codeA, codeB, outA, outB)
	}
	winner, loser, won, lost, wonVersion := a, b, outA.String(), outB.String(), "v2"
	if codeB == 0 {
		winner, loser, won, lost, wonVersion = b, a, outB.String(), outA.String(), "v3"
	}
	// The loser names the holder: its rollout id, where it runs, the lease,
	// and what to do.
	flat := plainOutput(lost)
	for _, want := range []string{"Another rollout holds this fleet", "Nothing was changed", winner.dir, "/rolling/lease/web-",
		"aws ssm delete-parameter", "lease { wait"} {
		if !strings.Contains(flat, want) {
			t.Errorf("the refused apply does not say %q:\n%s", want, lost)
		}
	}
	if ids := rolloutIDInOutput.FindAllString(flat, -1); len(ids) == 0 {
		t.Errorf("the refused apply does not name the holder's rollout id:\n%s", lost)
	}
	assertConvergedOn(t, f, tg, ids, wonVersion)
	if low := f.sim.Recorder().MinInService(tg); low < 6 {
		t.Errorf("capacity fell to %d in service, below the floor of 6 of 8", low)
	}
	if !strings.Contains(won, "Apply complete") {
		t.Errorf("the apply that proceeded did not complete:\n%s", won)
	}
	if n := len(leases(f)); n != 0 {
		t.Errorf("%d leases left after both applies ended: %v", n, leases(f))
	}

	// The refused directory applies once the other is done, and both keep
	// Terraform's contract: nothing lease-related in state or plan.
	loserVersion := map[string]string{"v2": "v3", "v3": "v2"}[wonVersion]
	loser.must("apply", "-auto-approve", "-var", "app_version="+loserVersion)
	assertConvergedOn(t, f, tg, ids, loserVersion)
	for _, args := range [][]string{{"plan", "-detailed-exitcode"}, {"plan", "-refresh-only", "-detailed-exitcode"}} {
		if code, out := loser.code(append(args, "-var", "app_version="+loserVersion)...); code != 0 {
			t.Errorf("terraform %s after a successful apply exited %d:\n%s", strings.Join(args, " "), code, out)
		}
	}
}

func TestAccLease_aSigkilledApplysLeaseIsTakenOverAtOnceByTheNextApplyOfTheSameConfiguration(t *testing.T) {
	f, tg, ids, cli := interruptFleet(t)
	cli.must("apply", "-auto-approve", "-var", "app_version=v1")
	cmd, out, done := startApply(t, cli, "v2")
	waitFirstBatchOut(t, f, tg, done, out)
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitExit(t, done, out, 10*time.Second)
	left := leases(f)
	if len(left) != 1 {
		t.Fatalf("the killed apply left %d leases, want its one: %v", len(left), left)
	}

	planOut := plainOutput(cli.must("plan", "-no-color", "-var", "app_version=v2"))
	if !strings.Contains(planOut, "A rollout lease left by an earlier run") || !strings.Contains(planOut, "the next apply takes it over at once") {
		t.Errorf("the plan does not say that the killed run's lease will be taken over:\n%s", planOut)
	}
	// No lease.wait is set: the apply succeeds only by taking the lease
	// over at once, with an overwrite of the killed run's version.
	f.sim.Recorder().Reset()
	cli.must("apply", "-auto-approve", "-var", "app_version=v2")
	assertConvergedOn(t, f, tg, ids, "v2")
	takeovers := 0
	for _, c := range f.sim.Recorder().Calls("PutParameter") {
		if c.Params["Name"] == firstKey(left) && c.Params["Overwrite"] == "true" && c.Params["Version"] == fmt.Sprint(left[firstKey(left)].Version+1) {
			takeovers++
		}
	}
	if takeovers != 1 {
		t.Errorf("the killed run's lease (version %d) was not taken over by one overwrite: %d", left[firstKey(left)].Version, takeovers)
	}
	if n := len(leases(f)); n != 0 {
		t.Errorf("%d leases left after the recovering apply: %v", n, leases(f))
	}
}

// Two resources of one configuration whose target groups share two
// instances: the plan warns, and one apply runs them one after the other
// when lease.wait allows, never both on the shared instances at once.
func TestAccLease_overlappingResourcesAreWarnedAtPlanAndNeverRollTheSameInstancesAtOnce(t *testing.T) {
	f := newTestFleet(t)
	web := f.sim.AddTargetGroup(fleetsim.TargetGroupConfig{Name: "web", Port: 80, DeregistrationDelay: 600 * time.Second})
	api := f.sim.AddTargetGroup(fleetsim.TargetGroupConfig{Name: "api", Port: 8080, DeregistrationDelay: 600 * time.Second})
	tags := map[string]string{"rolling:version": "v1"}
	f.sim.AddInstances(fleetsim.InstanceConfig{Count: 4, AppVersion: "v1", Tags: tags, TargetGroupARNs: []string{web}})
	shared := f.sim.AddInstances(fleetsim.InstanceConfig{Count: 2, AppVersion: "v1", Tags: tags, TargetGroupARNs: []string{web, api}})
	f.sim.AddInstances(fleetsim.InstanceConfig{Count: 4, AppVersion: "v1", Tags: tags, TargetGroupARNs: []string{api}})
	sort.Strings(shared)
	lease := `lease {
    wait = "2h"
  }`
	cli := leaseDir(t, f, leaseDeployment("web", []string{web}, lease), leaseDeployment("api", []string{api}, lease))
	cli.must("apply", "-auto-approve", "-var", "app_version=v1")

	planOut := plainOutput(cli.must("plan", "-no-color", "-var", "app_version=v2"))
	if !strings.Contains(planOut, "Two rolling_deployment resources reach the same instances") {
		t.Fatalf("the plan does not warn about the shared instances:\n%s", planOut)
	}
	if !strings.Contains(planOut, "Instances "+shared[0]+", "+shared[1]) {
		t.Errorf("the overlap warning does not name %v:\n%s", shared, planOut)
	}

	f.sim.Recorder().Reset()
	cli.must("apply", "-auto-approve", "-var", "app_version=v2")
	// Never were both deployments' rollouts out on a shared instance at the
	// same time: the departures of the shared instances (their
	// deregistrations from either group) came from one rollout, then the
	// other, and the two rollouts' windows did not interleave.
	windows := map[string][2]time.Time{}
	for _, c := range f.sim.Recorder().Calls("") {
		if c.Action != "DeregisterTargets" && c.Action != "RegisterTargets" || c.ErrorCode != "" {
			continue
		}
		w := windows[c.TargetGroupARN]
		if w[0].IsZero() {
			w[0] = c.WallTime
		}
		w[1] = c.WallTime
		windows[c.TargetGroupARN] = w
	}
	ww, wa := windows[web], windows[api]
	if ww[0].IsZero() || wa[0].IsZero() {
		t.Fatalf("a rollout moved nothing: web %v, api %v", ww, wa)
	}
	if ww[0].Before(wa[1]) && wa[0].Before(ww[1]) {
		t.Errorf("the two rollouts overlapped in time on shared instances: web %s..%s, api %s..%s",
			ww[0].Format("15:04:05.000"), ww[1].Format("15:04:05.000"), wa[0].Format("15:04:05.000"), wa[1].Format("15:04:05.000"))
	}
	for _, tg := range []string{web, api} {
		if low := f.sim.Recorder().MinInService(tg); low < 5 {
			t.Errorf("%s fell to %d in service, below its floor", tg, low)
		}
	}
	if n := len(leases(f)); n != 0 {
		t.Errorf("%d leases left: %v", n, leases(f))
	}
}

// A lease left by a run that will not come back, from another working
// directory: the apply is refused with the command that breaks it; after
// that command (the AWS CLI, as printed) the apply proceeds. With lease.wait
// longer than its TTL, an apply takes it over by itself.
func TestAccLease_aStaleLeaseFromElsewhereIsBrokenByTheDocumentedCommandOrByWaitingOutItsTTL(t *testing.T) {
	f, tg, ids := leaseFleet(t, 6)
	killed := leaseDir(t, f, leaseDeployment("web", []string{tg}, ""))
	killed.must("apply", "-auto-approve", "-var", "app_version=v1")
	cmd, out, done := startApply(t, killed, "v2")
	waitFirstBatchOut(t, f, tg, done, out)
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitExit(t, done, out, 10*time.Second)

	other := leaseDir(t, f, leaseDeployment("web", []string{tg}, ""))
	code, refused := other.code("apply", "-auto-approve", "-no-color", "-var", "app_version=v3")
	if code == 0 {
		t.Fatalf("an apply from another directory went ahead over a lease that was never released:\n%s", refused)
	}
	m := regexp.MustCompile(`aws ssm delete-parameter --region (\S+) --name (\S+)`).FindStringSubmatch(plainOutput(refused))
	if m == nil {
		t.Fatalf("the refusal does not print the command that breaks the lease:\n%s", refused)
	}
	if _, ok := leases(f)[m[2]]; !ok {
		t.Fatalf("the printed lease %s is not the one left: %v", m[2], leases(f))
	}
	awsCLI(t, f.url, "ssm", "delete-parameter", "--region", m[1], "--name", m[2])
	other.must("apply", "-auto-approve", "-var", "app_version=v3")
	assertConvergedOn(t, f, tg, ids, "v3")

	// Again, and this time wait: the lease is taken over once this apply
	// has seen it unrenewed for its TTL (5 min simulated, 0.3 s here).
	cmd, out, done = startApply(t, killed, "v4")
	waitFirstBatchOut(t, f, tg, done, out)
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitExit(t, done, out, 10*time.Second)
	writeFile(t, filepath.Join(other.dir, "main.tf"), requiredProviders+f.providerConfig()+`
variable "app_version" {
  type = string
}
`+leaseDeployment("web", []string{tg}, `lease {
    wait = "30m"
  }`))
	other.must("apply", "-auto-approve", "-var", "app_version=v4")
	assertConvergedOn(t, f, tg, ids, "v4")
	if n := len(leases(f)); n != 0 {
		t.Errorf("%d leases left: %v", n, leases(f))
	}
}

// awsCLI runs the AWS CLI against the simulator with the inspector's key
// (its calls are not the provider's).
func awsCLI(t *testing.T, url string, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("aws")
	if err != nil {
		t.Skipf("the AWS CLI is not installed: %v", err)
	}
	cmd := exec.Command(bin, append([]string{"--endpoint-url", url, "--output", "json"}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "AWS_ACCESS_KEY_ID=" + inspectorAccessKey,
		"AWS_SECRET_ACCESS_KEY=x", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_EC2_METADATA_DISABLED=true", "AWS_PAGER="}
	if py := os.Getenv("PYENV_ROOT"); py != "" {
		cmd.Env = append(cmd.Env, "PYENV_ROOT="+py)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

var ansiEscape = regexp.MustCompile(`\x1b\[[0-9;]*m`)

// plainOutput is terraform's output without colours, diagnostic box
// borders and line wrapping, for matching phrases.
func plainOutput(s string) string {
	s = strings.ReplaceAll(ansiEscape.ReplaceAllString(s, ""), "│", " ")
	return strings.Join(strings.Fields(s), " ")
}

func firstKey(m map[string]fleetsim.ParameterSummary) string {
	for k := range m {
		return k
	}
	return ""
}

// A lease broken while its rollout runs (deleted by an operator who took it
// for stale) stops that rollout safely at its next renewal: nothing more
// leaves, the instances out of service are put back, and the apply fails
// saying why.
func TestAccLease_aRolloutWhoseLeaseIsBrokenStopsLikeACancellation(t *testing.T) {
	f, tg, ids := leaseFleet(t, 8)
	cli := leaseDir(t, f, leaseDeployment("web", []string{tg}, ""))
	cli.must("apply", "-auto-approve", "-var", "app_version=v1")
	f.sim.Recorder().Reset()
	_, out, done := startApply(t, cli, "v2")
	waitFirstBatchOut(t, f, tg, done, out)
	var name string
	for n := range leases(f) {
		name = n
	}
	if name == "" {
		t.Fatal("a rollout is running without a lease")
	}
	broken := time.Now()
	awsCLI(t, f.url, "ssm", "delete-parameter", "--region", "us-east-1", "--name", name)
	if code := waitExit(t, done, out, 60*time.Second); code == 0 {
		t.Fatalf("the apply whose lease was deleted succeeded:\n%s", out)
	}
	text := plainOutput(out.String())
	for _, want := range []string{"The rollout lost its lease", "the parameter was deleted", "cancelled"} {
		if !strings.Contains(text, want) {
			t.Errorf("the apply does not say %q:\n%s", want, out)
		}
	}
	// Stopped at once: no batch left after the renewal that noticed (every
	// 100 s simulated, 0.1 s here), long before the rollout's end.
	for _, c := range f.sim.Recorder().Calls("DeregisterTargets") {
		if c.ErrorCode == "" && c.WallTime.After(broken.Add(time.Second)) {
			t.Errorf("an instance left at %s, %s after the lease was broken", c.WallTime.Format("15:04:05.000"), c.WallTime.Sub(broken))
		}
	}
	waitAllHealthy(t, f, tg, ids, 10*time.Second)
	if low := f.sim.Recorder().MinInService(tg); low < 6 {
		t.Errorf("capacity fell to %d in service, below the floor of 6 of 8", low)
	}
	if n := len(leases(f)); n != 0 {
		t.Errorf("%d leases left: %v", n, leases(f))
	}
	cli.must("apply", "-auto-approve", "-var", "app_version=v2")
	assertConvergedOn(t, f, tg, ids, "v2")
}

// Same working directory, same workspace, but the holder still runs (two
// applies with -lock=false): its lease is not taken over as if it were left
// by an ended run.
func TestAccLease_aLiveRunFromTheSameDirectoryKeepsItsLeaseEvenWithoutTheStateLock(t *testing.T) {
	f, tg, ids := leaseFleet(t, 6)
	cli := leaseDir(t, f, leaseDeployment("web", []string{tg}, ""))
	cli.must("apply", "-auto-approve", "-var", "app_version=v1")
	cmd := exec.Command(cli.bin, "apply", "-auto-approve", "-lock=false", "-var", "app_version=v2")
	cmd.Dir, cmd.Env = cli.dir, cli.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	waitFirstBatchOut(t, f, tg, done, out)

	code, second := cli.code("apply", "-auto-approve", "-lock=false", "-no-color", "-var", "app_version=v3")
	if code == 0 || !strings.Contains(plainOutput(second), "Another rollout holds this fleet") {
		t.Fatalf("a second apply in the same directory went ahead while the first ran (exit %d):\n%s", code, second)
	}
	if c := waitExit(t, done, out, 60*time.Second); c != 0 {
		t.Fatalf("the first apply failed (exit %d):\n%s", c, out)
	}
	assertConvergedOn(t, f, tg, ids, "v2")
}
