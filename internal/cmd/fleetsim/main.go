package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/fleetsim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return // -h printed the usage, as asked
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fleetsim:", err)
		os.Exit(1)
	}
}

// run is main without the process: it returns when ctx is cancelled.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fleetsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "listen address (host:port); loopback only")
	seedPath := fs.String("seed", "", "JSON seed file (fleet, timing, time scale)")
	timeScale := fs.Float64("timescale", 0, "wall seconds per simulated second; overrides the seed (0 = seed or 1)")
	throttling := fs.Bool("throttling", false, "AWS-like API rate limits on (also settable in the seed)")
	latency := fs.Bool("latency", true, "AWS-like call latency in simulated time (fleetsim.AWSLatency: medians 40-80 ms); -latency=false answers at once")
	policyPath := fs.String("policy", "", "IAM policy document (JSON file) every caller is held to: calls it does not allow get AccessDenied (overrides the seed's policy)")
	fs.Usage = func() { usage(fs) }
	if err := fs.Parse(args); err != nil {
		return err
	}
	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		return fmt.Errorf("-addr: %w", err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("-addr must be a loopback address, got %q", host)
	}
	var seed fleetsim.Seed
	if *seedPath != "" {
		if seed, err = fleetsim.LoadSeed(*seedPath); err != nil {
			return err
		}
	}
	opts := seed.Options()
	if *timeScale > 0 {
		opts.TimeScale = *timeScale
	}
	opts.Throttling = opts.Throttling || *throttling
	if *latency {
		opts.Latency = fleetsim.AWSLatency()
	}
	if *policyPath != "" {
		doc, err := os.ReadFile(*policyPath)
		if err == nil {
			_, err = fleetsim.ParsePolicy(doc)
		}
		if err != nil {
			return fmt.Errorf("-policy: %w", err)
		}
		opts.Policy = doc
	}
	sim := fleetsim.New(opts)
	defer sim.Close()
	if err := sim.ApplySeed(seed); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "endpoint: http://%s\n", ln.Addr())
	if f, ok := stdout.(*os.File); ok {
		_ = f.Sync()
	}
	snap := sim.Snapshot()
	fmt.Fprintf(stderr, "fleetsim: region %s, %d instances, %d target groups, time scale %g\n",
		sim.Region(), len(snap.Instances), len(snap.TargetGroups), sim.TimeScale())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// faultKinds are the kinds POST /_sim/faults accepts, as -h lists them
// (fleetsim.FaultRequest documents each one's fields).
var faultKinds = []string{
	"throttling", "rate_limit", "server_errors", "slow", "fail_deploy", "never_healthy", "hang", "agent",
	"status_checks", "stop", "start", "terminate", "replace", "alarm", "delete_target_group", "clear",
}

// usage is -h: the flags, then what a newcomer needs next to drive the
// simulator (the AWS CLI, the admin API, the provider's time scale).
func usage(fs *flag.FlagSet) {
	w := fs.Output()
	fmt.Fprint(w, `Usage: fleetsim [-seed fleet.json] [-addr 127.0.0.1:0] [-timescale 0.01] [-throttling] [-latency=false] [-policy iam.json]

Serves a simulated AWS region (EC2, ELBv2, SSM, Auto Scaling, CloudWatch, STS,
EventBridge PutEvents) on a loopback address; the first stdout line is
"endpoint: http://HOST:PORT".

Flags:
`)
	fs.PrintDefaults()
	fmt.Fprintf(w, `
AWS API: any SigV4-signed client (any access key unless the seed lists
credentials), e.g.
  aws --endpoint-url http://HOST:PORT --region us-east-1 elbv2 describe-target-groups

Admin API (plain JSON, unsigned, never recorded):
  GET  /_sim/fleet             every instance, target group, ASG and alarm
  GET  /_sim/now               simulated time and time scale
  GET  /_sim/recorder          calls and in-service capacity (?calls=1, ?timelines=1)
  POST /_sim/recorder/reset    start recording afresh
  POST /_sim/advance           {"duration": "5m"}: move simulated time forward
  POST /_sim/faults            {"kind": KIND, ...}: inject a fault, one per request
  POST /_sim/seed              a seed's fleet part: add instances, groups, alarms
  GET  /_sim/parameters        Parameter Store names, versions, types (never values)
  GET  /_sim/policy            the IAM policy in force; PUT replaces it, an empty body turns it off
  GET  /_sim/events            the events EventBridge PutEvents accepted, in order (?bus=NAME)
Fault kinds (fields per kind: FaultRequest in internal/fleetsim/admin.go):
  %s
e.g.
  curl -d '{"kind":"fail_deploy","version":"v2"}' http://HOST:PORT/_sim/faults

Time scale: -timescale 0.01 runs 100 simulated seconds per wall second. The
rolling provider reads it from GET /_sim/now when its ec2, elbv2, ssm,
autoscaling and cloudwatch endpoints are all this simulator on a loopback
address, so its waits match the simulator's; ROLLING_TIME_SCALE=0.01 in
terraform's environment sets it explicitly (never set it against AWS).
`, strings.Join(faultKinds[:8], ", ")+",\n  "+strings.Join(faultKinds[8:], ", "))
}
