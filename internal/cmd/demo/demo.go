package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/devprovider"
)

// config is one run of the demo.
type config struct {
	Interactive bool
	Instances   int
	// TimeScale is wall seconds per simulated second, for the simulator and
	// the provider alike.
	TimeScale float64
	// BatchSize and MinHealthyPercent are the rollout strategy.
	BatchSize         int
	MinHealthyPercent int
	Terraform         string    // terraform binary
	Out               io.Writer // everything the user sees
	In                io.Reader // Enter between acts, when interactive
	Color             bool      // let terraform colour its output
}

// defaultConfig is the demo a newcomer sees; non-interactive is the smaller,
// faster one CI runs. The time scales keep the whole run under two minutes on
// two cores: a 12-instance rollout takes about 2,000 simulated seconds.
func defaultConfig(interactive bool) config {
	if interactive {
		return config{Interactive: true, Instances: 12, TimeScale: 0.015, BatchSize: 3, MinHealthyPercent: 75, Terraform: "terraform"}
	}
	return config{Instances: 6, TimeScale: 0.005, BatchSize: 2, MinHealthyPercent: 66, Terraform: "terraform"}
}

// demo is the state of one run.
type demo struct {
	cfg   config
	fleet *fleet
	tf    *terraform
	vars  []string      // -var flags common to every plan and apply
	lines chan struct{} // a line read from cfg.In; closed at its end
}

// run tells the story: adopt v1, roll out v2 in planned batches, fail v3 on
// one instance and roll back, then show a new instance as drift. It returns
// an error when anything expected did not happen.
func run(ctx context.Context, cfg config) (err error) {
	out := cfg.Out
	if _, err := exec.LookPath(cfg.Terraform); err != nil {
		return fmt.Errorf("the demo runs the real terraform CLI (>= 1.11), and %q was not found: install it from https://developer.hashicorp.com/terraform/install, or set TERRAFORM to an OpenTofu (>= 1.11) binary", cfg.Terraform)
	}
	root, err := devprovider.ModuleRoot(mustGetwd())
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "rolling-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	pluginDir, workDir := filepath.Join(tmp, "plugins"), filepath.Join(tmp, "work")
	for _, d := range []string{pluginDir, workDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return err
		}
	}

	fmt.Fprintln(out, "==> Building the provider (go build) ...")
	if err := buildProvider(ctx, root, pluginDir, out); err != nil {
		return err
	}
	cliConfigFile := filepath.Join(tmp, "terraformrc")
	if err := os.WriteFile(cliConfigFile, []byte(devprovider.CLIConfig(pluginDir)), 0o644); err != nil {
		return err
	}
	if err := copyConfig(filepath.Join(root, "examples", "demo"), workDir); err != nil {
		return err
	}

	f, err := startFleet(ctx, cfg.Instances, cfg.TimeScale, cfg.MinHealthyPercent)
	if err != nil {
		return err
	}
	defer f.stop()
	d := &demo{
		cfg:   cfg,
		fleet: f,
		// No ROLLING_TIME_SCALE: the provider learns the scale from the
		// simulator, as it does for a user of the standalone one.
		tf: &terraform{bin: cfg.Terraform, dir: workDir, env: devprovider.Env(os.Environ(), cliConfigFile, 0), out: out, color: cfg.Color},
		vars: []string{
			"-var", "endpoint=" + f.endpoint,
			"-var", "batch_size=" + strconv.Itoa(cfg.BatchSize),
			"-var", "min_healthy_percent=" + strconv.Itoa(cfg.MinHealthyPercent),
		},
	}
	fmt.Fprintf(out, `
==> Fleet simulator running in-process
    %d instances in 3 Availability Zones, in target groups %q and %q (%d of them in Auto Scaling group %q),
    alarm %q; 300 s deregistration delay, health checks every 30 s x 5, steps of ~3 s.
    Time runs %.0fx faster than real time (time scale %g; the provider reads it from the simulator).
    AWS endpoint: %s
    Live page:    %s   <- open it to watch the rollout
    Work dir:     %s (copied from examples/demo)
    %s takes the provider just built through dev_overrides (no init, no registry), and
    says so in a warning before every command.
`, cfg.Instances, tgWeb, tgWebTLS, len(f.asgIDs), asgName, alarm, 1/cfg.TimeScale, cfg.TimeScale, f.endpoint, f.pageURL, workDir, filepath.Base(cfg.Terraform))

	for _, act := range []func(context.Context) error{d.adopt, d.rollOut, d.failAndRollBack, d.drift} {
		if err := d.pause(ctx); err != nil {
			return err
		}
		if err := act(ctx); err != nil {
			return err
		}
	}
	fmt.Fprintln(out, "\n==> Demo complete: every expected outcome happened.")
	if cfg.Interactive {
		fmt.Fprintf(out, "    The page stays up at %s; press Enter (or Ctrl-C) to clean up and exit.\n", f.pageURL)
		_ = d.waitEnter(ctx)
	}
	return nil
}

// adopt applies v1 to a fleet already on v1: the resource adopts it and
// deploys nothing.
func (d *demo) adopt(ctx context.Context) error {
	d.say("Act 1: terraform apply with app_version = v1 (the fleet already runs v1: adopted, nothing deployed)")
	if err := d.apply(ctx, 0, "-auto-approve", "-var", "app_version=v1"); err != nil {
		return err
	}
	o, err := d.report(ctx)
	if err != nil {
		return err
	}
	if o.LastRollout != nil && o.LastRollout.Updated != 0 {
		return fmt.Errorf("adopting a fleet on v1 updated instances: %+v", o.LastRollout)
	}
	return d.expectVersions("v1", "v1")
}

// rollOut plans v2, shows the batches from the saved plan, and applies it.
func (d *demo) rollOut(ctx context.Context) error {
	d.say("Act 2: a rolling deployment of v2 — terraform plan -out, the planned batches, then apply the plan")
	batches, err := d.plan(ctx, "v2.tfplan", "v2", true)
	if err != nil {
		return err
	}
	if len(batches) < 2 {
		return fmt.Errorf("v2 planned %d batches, want a rolling schedule of several", len(batches))
	}
	if err := d.apply(ctx, 0, "v2.tfplan"); err != nil {
		return err
	}
	o, err := d.report(ctx)
	if err != nil {
		return err
	}
	if o.LastRollout == nil || o.LastRollout.Status != "succeeded" || o.LastRollout.Updated != d.cfg.Instances {
		return fmt.Errorf("v2 rollout: last_rollout = %+v, want succeeded with %d updated", o.LastRollout, d.cfg.Instances)
	}
	if err := d.expectFloorHeld(); err != nil {
		return err
	}
	return d.expectVersions("v2", "v2")
}

// failAndRollBack makes v3 fail on one instance of the second batch, so the
// first batch is updated and then rolled back too.
func (d *demo) failAndRollBack(ctx context.Context) error {
	d.say("Act 3: a bad version — v3 fails to install on one instance; the rollout stops and rolls back")
	batches, err := d.plan(ctx, "v3.tfplan", "v3", false)
	if err != nil {
		return err
	}
	victim := batches[min(1, len(batches)-1)][0]
	d.fleet.sim.Faults().FailDeploy("v3", victim)
	fmt.Fprintf(d.cfg.Out, "    (fault injected: `app deploy v3` exits 1 on %s, in batch %d)\n\n", victim, min(2, len(batches)))
	if err := d.apply(ctx, 1, "v3.tfplan"); err != nil {
		return err
	}
	fmt.Fprintln(d.cfg.Out, "    ^ terraform exited 1, as expected: that error is what users see.")
	o, err := d.report(ctx)
	if err != nil {
		return err
	}
	if r := o.LastRollout; r == nil || r.Status != "rolled_back" || r.RolledBack < 1 {
		return fmt.Errorf("v3 rollout: last_rollout = %+v, want rolled_back", r)
	}
	if err := d.expectFloorHeld(); err != nil {
		return err
	}
	return d.expectVersions("v2", "v2")
}

// drift adds an instance the way an Auto Scaling scale-out would, from the
// old launch template, and shows it in the plan.
func (d *demo) drift(ctx context.Context) error {
	d.say("Act 4: back on app_version = v2, and Auto Scaling launches a new instance from the old launch template (v1) — terraform plan shows the drift")
	ids := d.fleet.scaleOut()
	if len(ids) != 1 {
		return fmt.Errorf("the simulator launched %d instances, want 1", len(ids))
	}
	fmt.Fprintf(d.cfg.Out, "    (new instance %s joined %s on v1)\n\n", ids[0], asgName)
	code, err := d.tf.run(ctx, append([]string{"plan", "-detailed-exitcode", "-out", "drift.tfplan", "-var", "app_version=v2"}, d.vars...)...)
	if err != nil {
		return err
	}
	if code != 2 {
		return fmt.Errorf("terraform plan -detailed-exitcode exited %d after a new instance joined, want 2 (changes)", code)
	}
	change, err := d.show(ctx, "drift.tfplan")
	if err != nil {
		return err
	}
	printSchedule(d.cfg.Out, change.Summary, change.Batches)
	if !slices.Contains(slices.Concat(change.batches()...), ids[0]) {
		return fmt.Errorf("the drift plan's schedule %v does not include the new instance %s", change.Batches, ids[0])
	}
	fmt.Fprintln(d.cfg.Out, "    The next apply would bring it to v2; the demo stops here.")
	return nil
}

// plan runs terraform plan -out FILE for version and returns the planned
// batches; the plan's own output is shown only when loud.
func (d *demo) plan(ctx context.Context, file, version string, loud bool) ([][]string, error) {
	args := append([]string{"plan", "-out", file, "-var", "app_version=" + version}, d.vars...)
	var code int
	var err error
	if loud {
		code, err = d.tf.run(ctx, args...)
	} else {
		_, err = d.tf.capture(ctx, args...)
	}
	if err != nil {
		return nil, err
	}
	if code != 0 {
		return nil, fmt.Errorf("terraform plan for %s exited %d", version, code)
	}
	change, err := d.show(ctx, file)
	if err != nil {
		return nil, err
	}
	if !slices.Equal(change.Actions, []string{"update"}) {
		return nil, fmt.Errorf("plan for %s: actions %v, want [update]", version, change.Actions)
	}
	fmt.Fprintf(d.cfg.Out, "\n    From `terraform show -json %s`:\n", file)
	printSchedule(d.cfg.Out, change.Summary, change.Batches)
	batches := change.batches()
	if len(batches) == 0 {
		return nil, fmt.Errorf("plan for %s has no batches", version)
	}
	return batches, nil
}

func (d *demo) show(ctx context.Context, file string) (plannedChange, error) {
	data, err := d.tf.capture(ctx, "show", "-json", file)
	if err != nil {
		return plannedChange{}, err
	}
	return parsePlan(data)
}

// apply runs terraform apply with args and wants exit code want.
func (d *demo) apply(ctx context.Context, want int, args ...string) error {
	full := append([]string{"apply"}, args...)
	if !strings.HasSuffix(args[len(args)-1], ".tfplan") {
		full = append(full, d.vars...) // a saved plan carries its variables
	}
	start := time.Now()
	code, err := d.tf.run(ctx, full...)
	if err != nil {
		return err
	}
	fmt.Fprintf(d.cfg.Out, "    (terraform apply took %s wall time)\n", time.Since(start).Round(100*time.Millisecond))
	if code != want {
		return fmt.Errorf("terraform apply exited %d, want %d", code, want)
	}
	return nil
}

// report prints the fleet table and the rollout report after an apply.
func (d *demo) report(ctx context.Context) (deployment, error) {
	fmt.Fprintln(d.cfg.Out, "\n--- fleet (from the simulator) ---")
	printFleet(d.cfg.Out, d.fleet.tracker.View())
	data, err := d.tf.capture(ctx, "show", "-json")
	if err != nil {
		return deployment{}, err
	}
	o, err := parseState(data)
	if err != nil {
		return o, err
	}
	fmt.Fprintln(d.cfg.Out, "--- rollout report (terraform show -json) ---")
	printRollout(d.cfg.Out, o)
	return o, nil
}

// expectVersions checks every instance runs app and is tagged tag.
func (d *demo) expectVersions(app, tag string) error {
	var wrong []string
	for id, v := range d.fleet.versions() {
		if v[0] != app || v[1] != tag {
			wrong = append(wrong, fmt.Sprintf("%s runs %q tagged %q", id, v[0], v[1]))
		}
	}
	sort.Strings(wrong)
	if len(wrong) > 0 {
		return fmt.Errorf("want every instance on %s: %s", app, strings.Join(wrong, "; "))
	}
	fmt.Fprintf(d.cfg.Out, "    check: all %d instances run %s.\n", d.cfg.Instances, app)
	return nil
}

// expectFloorHeld checks that no target group ever had fewer healthy
// instances than min_healthy_percent of the fleet, rounded up.
func (d *demo) expectFloorHeld() error {
	floor := (d.cfg.MinHealthyPercent*d.cfg.Instances + 99) / 100
	low, group := d.fleet.minInService()
	if low < floor {
		return fmt.Errorf("target group %s fell to %d healthy instances, below the floor of %d (%d%% of %d)",
			group, low, floor, d.cfg.MinHealthyPercent, d.cfg.Instances)
	}
	fmt.Fprintf(d.cfg.Out, "    check: in-service capacity never fell below the floor (lowest %d, floor %d).\n", low, floor)
	return nil
}

func (d *demo) say(title string) {
	fmt.Fprintf(d.cfg.Out, "\n==> %s\n\n", title)
}

// pause waits for Enter between acts when interactive.
func (d *demo) pause(ctx context.Context) error {
	if !d.cfg.Interactive {
		return nil
	}
	fmt.Fprint(d.cfg.Out, "\n[press Enter to continue, Ctrl-C to quit] ")
	return d.waitEnter(ctx)
}

// waitEnter waits for a line on the input (or its end) or for ctx.
func (d *demo) waitEnter(ctx context.Context) error {
	if d.lines == nil {
		// One reader for the whole run: a goroutine blocked on a terminal
		// read cannot be cancelled, so never start a second one.
		lines := make(chan struct{})
		d.lines = lines
		if d.cfg.In == nil {
			close(lines)
			return nil
		}
		go func(in io.Reader) {
			sc := bufio.NewScanner(in)
			for sc.Scan() {
				lines <- struct{}{}
			}
			close(lines)
		}(d.cfg.In)
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-d.lines:
		return nil
	}
}

func mustGetwd() string {
	wd, err := os.Getwd()
	if err != nil {
		return "."
	}
	return wd
}
