package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/fleetsim"
	"github.com/rollingdeploy/terraform-provider-rolling/internal/rollout"
)

// PlanOptions size scenario 4.
type PlanOptions struct {
	Instances    int // default 1000
	TargetGroups int // instances are spread evenly over them; default 4
	// Repeats is how many times each command is timed (default 5): the
	// figures are the median, with the range.
	Repeats int
	Log     io.Writer
}

// PlanResult is scenario 4: one apply to get a state, then terraform plan
// with nothing to do and with a new version (which plans every instance's
// batch).
type PlanResult struct {
	Options    PlanOptions
	Apply      time.Duration
	StateBytes int64
	Plans      []PlanRun
	Err        error
}

// PlanRun is one terraform command, timed Repeats times.
type PlanRun struct {
	Name    string
	Walls   []time.Duration
	PeakRSS []int64 // bytes, of the provider process(es) during each
	Calls   int     // AWS API calls the simulator served during the last
	// APISpans are the wall times from the first to the last of those
	// calls: the provider's refresh and plan-time reads; the rest is
	// terraform and the provider's own work.
	APISpans []time.Duration
	Actions  map[string]int
}

func (p PlanRun) wall() spread {
	var vs []float64
	for _, w := range p.Walls {
		vs = append(vs, float64(w))
	}
	return spreadOf(vs)
}

func (p PlanRun) rss() spread {
	var vs []float64
	for _, r := range p.PeakRSS {
		vs = append(vs, float64(r)/(1<<20))
	}
	return spreadOf(vs)
}

func (p PlanRun) span() spread {
	var vs []float64
	for _, s := range p.APISpans {
		vs = append(vs, float64(s))
	}
	return spreadOf(vs)
}

// apiSpan is the wall time between the first and last call recorded after
// the first skip calls.
func apiSpan(sim *fleetsim.Sim, skip int) time.Duration {
	calls := sim.Recorder().Calls("")
	if len(calls) <= skip {
		return 0
	}
	calls = calls[skip:]
	return calls[len(calls)-1].WallTime.Sub(calls[0].WallTime)
}

// planConfig is the configuration of scenarios 4 and 5: the simulator's
// command convention for steps, static keys and no STS check.
const planConfig = `terraform {
  required_providers {
    rolling = { source = "rollingdeploy/rolling" }
  }
}

variable "endpoint" { type = string }
variable "app_version" { type = string }
variable "target_group_arns" { type = list(string) }
variable "batch_size" { type = number }
variable "min_healthy_percent" { type = number }

provider "rolling" {
  region                      = "us-east-1"
  access_key                  = "AKIABENCH"
  secret_key                  = "bench-secret"
  skip_credentials_validation = true
  endpoints {
    ec2         = var.endpoint
    elbv2       = var.endpoint
    ssm         = var.endpoint
    autoscaling = var.endpoint
    cloudwatch  = var.endpoint
    sts         = var.endpoint
  }
}

resource "rolling_deployment" "fleet" {
  target_group_arns = var.target_group_arns
  version           = var.app_version

  step {
    name     = "stop"
    commands = ["app stop"]
  }
  step {
    name     = "deploy"
    commands = ["app deploy ${var.app_version}"]
  }
  step {
    name     = "start"
    commands = ["app start"]
  }
  step {
    name     = "verify"
    commands = ["app check"]
  }

  strategy {
    batch_size          = var.batch_size
    min_healthy_percent = var.min_healthy_percent
  }
}
`

func writeConfig(dir string, vars map[string]any) error {
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(planConfig), 0o644); err != nil {
		return err
	}
	data, err := json.MarshalIndent(vars, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "terraform.tfvars.json"), data, 0o644)
}

func totalCalls(sim *fleetsim.Sim) int {
	n := 0
	for _, c := range sim.Recorder().CallCount() {
		n += c
	}
	return n
}

// RunPlan runs scenario 4: the real terraform with the built provider
// against an in-process simulator holding opts.Instances instances.
func RunPlan(ctx context.Context, opts PlanOptions) (res PlanResult, err error) {
	if opts.Instances <= 0 {
		opts.Instances = 1000
	}
	if opts.TargetGroups <= 0 {
		opts.TargetGroups = 4
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	res.Options = opts
	defer func() { res.Err = err }()

	fmt.Fprintln(opts.Log, "  building the provider")
	ws, err := newWorkspace(ctx, opts.Log)
	if err != nil {
		return res, err
	}
	defer ws.remove()

	// Nothing waits in plan; real time keeps the simulator honest, and
	// every call takes AWS's latency.
	sim := fleetsim.New(fleetsim.Options{TimeScale: 1, RandSeed: 4, Latency: fleetsim.AWSLatency()})
	defer sim.Close()
	var arns []string
	for i := 0; i < opts.TargetGroups; i++ {
		arn := sim.AddTargetGroup(fleetsim.TargetGroupConfig{Name: fmt.Sprintf("plan-%d", i+1), Port: 8080,
			HealthCheckInterval: 10 * time.Second, HealthyThreshold: 3, DeregistrationDelay: 30 * time.Second})
		arns = append(arns, arn)
		count := opts.Instances / opts.TargetGroups
		if i < opts.Instances%opts.TargetGroups {
			count++
		}
		sim.AddInstances(fleetsim.InstanceConfig{Count: count, AppVersion: "v1",
			Tags: map[string]string{rollout.TagVersion: "v1"}, TargetGroupARNs: []string{arn}})
	}
	srv := httptest.NewServer(sim)
	defer srv.Close()

	vars := map[string]any{"endpoint": srv.URL, "app_version": "v1", "target_group_arns": arns,
		"batch_size": max(opts.Instances/10, 1), "min_healthy_percent": 90}
	if err := writeConfig(ws.dir, vars); err != nil {
		return res, err
	}
	// Every instance is on v1 already: the create adopts the fleet without
	// a rollout, which is what an existing fleet's first apply does.
	fmt.Fprintln(opts.Log, "  terraform apply (adopting the fleet)")
	if res.Apply, _, err = ws.terraform(ctx, "apply", "-auto-approve"); err != nil {
		return res, err
	}
	st, err := os.Stat(filepath.Join(ws.dir, "terraform.tfstate"))
	if err != nil {
		return res, err
	}
	res.StateBytes = st.Size()

	// The fixed cost of starting terraform and the provider and loading the
	// schema, with no AWS call: what plan costs beyond it is refresh and
	// plan modification.
	repeats := max(opts.Repeats, 1)
	if opts.Repeats <= 0 {
		repeats = 5
	}
	fmt.Fprintln(opts.Log, "  terraform validate")
	base := PlanRun{Name: "validate (baseline, no AWS calls)"}
	for i := 0; i < repeats; i++ {
		before := totalCalls(sim)
		took, rss, err := ws.terraform(ctx, "validate")
		if err != nil {
			return res, err
		}
		base.Walls, base.PeakRSS, base.Calls = append(base.Walls, took), append(base.PeakRSS, rss), totalCalls(sim)-before
	}
	res.Plans = append(res.Plans, base)

	for _, p := range []struct{ name, version string }{
		{"plan, nothing to do", "v1"},
		{"plan, new version (schedules every instance)", "v2"},
	} {
		fmt.Fprintf(opts.Log, "  terraform %s (%d times)\n", p.name, repeats)
		run := PlanRun{Name: p.name}
		for i := 0; i < repeats; i++ {
			before := totalCalls(sim)
			counts := sim.Recorder().CallCount()
			took, rss, err := ws.terraform(ctx, "plan", "-var", "app_version="+p.version)
			if err != nil {
				return res, err
			}
			run.Walls, run.PeakRSS = append(run.Walls, took), append(run.PeakRSS, rss)
			run.APISpans = append(run.APISpans, apiSpan(sim, before))
			run.Calls, run.Actions = totalCalls(sim)-before, diffCounts(sim.Recorder().CallCount(), counts)
		}
		res.Plans = append(res.Plans, run)
	}
	return res, nil
}

func diffCounts(after, before map[string]int) map[string]int {
	out := map[string]int{}
	for a, n := range after {
		if d := n - before[a]; d > 0 {
			out[a] = d
		}
	}
	return out
}

// Print writes scenario 4's table.
func (r PlanResult) Print(w io.Writer) {
	fmt.Fprintf(w, "\n4. Plan and refresh at scale (%d instances in %d target groups; real terraform, built provider via dev_overrides; "+
		"wall time, AWS call latency on)\n", r.Options.Instances, r.Options.TargetGroups)
	if r.Err != nil {
		fmt.Fprintf(w, "   ERROR: %v\n", r.Err)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "measure (median of %d (min-max))\tvalue\tgoal\t\tAPI calls\tfirst to last call\n", len(r.firstWalls()))
	for _, p := range r.Plans {
		wall := p.wall()
		goal, v := fmt.Sprintf("< %s", GoalPlan), verdict(wall.med < float64(GoalPlan))
		if strings.HasPrefix(p.Name, "validate") {
			goal, v = "-", ""
		}
		fmt.Fprintf(tw, "%s: wall\t%s\t%s\t%s\t%d\t%s\n", p.Name, wall.millis(), goal, v, p.Calls, p.span().millis())
		rss := p.rss()
		fmt.Fprintf(tw, "%s: provider peak RSS\t%s MB\t< %d MB\t%s\t\n", p.Name, rss.format("%.1f"), GoalRSSBytes>>20,
			verdict(rss.med > 0 && rss.hi < float64(GoalRSSBytes>>20)))
	}
	if r.StateBytes > 0 {
		fmt.Fprintf(tw, "state size after apply\t%.1f KB\t< 1 MB\t%s\t\n", float64(r.StateBytes)/1024, verdict(r.StateBytes < GoalStateBytes))
		fmt.Fprintf(tw, "first apply (adopts the fleet)\t%s\t-\t\t\n", r.Apply.Round(10*time.Millisecond))
	}
	tw.Flush()
	for _, p := range r.Plans {
		if len(p.Actions) == 0 {
			continue
		}
		var by []string
		for _, a := range SortedActions(p.Actions) {
			by = append(by, fmt.Sprintf("%s %d", a, p.Actions[a]))
		}
		fmt.Fprintf(w, "   %s: %s\n", p.Name, strings.Join(by, ", "))
	}
}

// firstWalls is how many times the commands were timed.
func (r PlanResult) firstWalls() []time.Duration {
	if len(r.Plans) == 0 {
		return nil
	}
	return r.Plans[0].Walls
}
