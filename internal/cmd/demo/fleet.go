package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/fleetsim"
	"github.com/rollingdeploy/terraform-provider-rolling/internal/fleetview"
)

// Names the Terraform configuration in examples/demo refers to.
const (
	tgWeb    = "web"
	tgWebTLS = "web-tls"
	asgName  = "web-asg"
	alarm    = "web-5xx-rate"
)

// fleet is the simulated AWS region of the demo and its two servers: the AWS
// endpoint the provider talks to and the live page.
type fleet struct {
	sim      *fleetsim.Sim
	tracker  *fleetview.Tracker
	tgARNs   []string
	endpoint string // AWS API
	pageURL  string
	asgIDs   []string
	plainIDs []string
	stop     func()
}

// startFleet seeds a fleet with AWS's real timings (300 s deregistration
// delay, health checks every 30 s with a healthy threshold of 5, steps of a
// few seconds with variance), scaled by timeScale, and serves it on
// 127.0.0.1. Half the instances belong to an Auto Scaling group (the provider
// uses standby for them), the other half are registered directly; all are in
// both target groups and on v1.
func startFleet(ctx context.Context, instances int, timeScale float64, minHealthyPercent int) (*fleet, error) {
	// AWS's call latency too, in simulated time like everything else.
	sim := fleetsim.New(fleetsim.Options{TimeScale: timeScale, RandSeed: 2026, Latency: fleetsim.AWSLatency()})
	sim.SetTiming(fleetsim.Timing{StepMean: 3 * time.Second, StepSigma: 0.4, Delivery: time.Second, Launch: 30 * time.Second})
	tg := func(name string, port int32) string {
		return sim.AddTargetGroup(fleetsim.TargetGroupConfig{
			Name: name, Port: port, HealthCheckInterval: 30 * time.Second, HealthyThreshold: 5,
			UnhealthyThreshold: 2, DeregistrationDelay: 300 * time.Second,
		})
	}
	arns := []string{tg(tgWeb, 80), tg(tgWebTLS, 443)}
	inASG := instances / 2
	sim.AddAutoScalingGroup(fleetsim.AutoScalingGroupConfig{
		Name: asgName, TargetGroupARNs: arns, Min: 0, Max: instances + 2, LaunchVersion: "v1",
		Tags: map[string]string{"Name": "web"},
	})
	onV1 := map[string]string{"Name": "web", "rolling:version": "v1"}
	f := &fleet{sim: sim}
	f.asgIDs = sim.AddInstances(fleetsim.InstanceConfig{Count: inASG, AppVersion: "v1", Tags: onV1, AutoScalingGroup: asgName})
	f.plainIDs = sim.AddInstances(fleetsim.InstanceConfig{Count: instances - inASG, AppVersion: "v1", Tags: onV1, TargetGroupARNs: arns})
	sim.AddAlarm(alarm, "OK")
	f.tgARNs = arns
	// Capacity is judged from here on, not from the empty groups of a moment ago.
	sim.Recorder().Reset()

	f.tracker = fleetview.NewTracker(sim, fleetview.Options{Title: "make demo", MinHealthyPercent: minHealthyPercent})
	apiURL, stopAPI, err := serve(sim)
	if err != nil {
		sim.Close()
		return nil, err
	}
	pageURL, stopPage, err := serve(f.tracker.Handler())
	if err != nil {
		stopAPI()
		sim.Close()
		return nil, err
	}
	trackCtx, stopTracking := context.WithCancel(ctx)
	go f.tracker.Run(trackCtx)
	f.endpoint, f.pageURL = apiURL, pageURL+"/"
	f.stop = func() {
		stopTracking()
		stopPage()
		stopAPI()
		sim.Close()
	}
	return f, nil
}

// serve runs h on a free port of 127.0.0.1 until the returned stop is
// called. Close (not Shutdown): the page's event streams never end by
// themselves.
func serve(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = ln.Close()
		}
	}()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}

// versions returns each instance's installed version and rolling:version tag.
func (f *fleet) versions() map[string][2]string {
	out := map[string][2]string{}
	for _, is := range f.sim.Snapshot().Instances {
		out[is.ID] = [2]string{is.AppVersion, is.Tags["rolling:version"]}
	}
	return out
}

// scaleOut launches one instance into the Auto Scaling group the way a
// scale-out would: from the old launch template (v1), without the provider's
// rolling:version tag.
func (f *fleet) scaleOut() []string {
	return f.sim.AddInstances(fleetsim.InstanceConfig{
		Count: 1, AppVersion: "v1", Tags: map[string]string{"Name": "web"}, AutoScalingGroup: asgName,
	})
}

// minInService is the lowest healthy count any target group had since the
// fleet was seeded, as the simulator recorded it (every change, not samples).
func (f *fleet) minInService() (lowest int, group string) {
	lowest = -1
	for _, arn := range f.tgARNs {
		if n := f.sim.Recorder().MinInService(arn); lowest < 0 || n < lowest {
			lowest, group = n, arn
		}
	}
	return lowest, group
}
