package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/fleetsim"
)

func TestRun_printsEndpointFirstAndServesTheSeededFleetUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-seed", "testdata/demo-seed.json", "-timescale", "0.001"}, pw, io.Discard)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("reading first line: %v", err)
	}
	endpoint, ok := strings.CutPrefix(strings.TrimSpace(line), "endpoint: ")
	if !ok || !strings.HasPrefix(endpoint, "http://127.0.0.1:") {
		t.Fatalf("first line %q", line)
	}
	go io.Copy(io.Discard, pr)
	resp, err := http.Get(endpoint + "/_sim/fleet")
	if err != nil {
		t.Fatal(err)
	}
	var snap fleetsim.FleetSnapshot
	err = json.NewDecoder(resp.Body).Decode(&snap)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Instances) != 8 || len(snap.TargetGroups) != 2 || snap.TimeScale != 0.001 || len(snap.Alarms) != 1 {
		t.Fatalf("snapshot: %d instances, %d target groups, scale %g", len(snap.Instances), len(snap.TargetGroups), snap.TimeScale)
	}
	for _, tg := range snap.TargetGroups {
		if tg.Healthy != 8 {
			t.Fatalf("target group %s healthy = %d", tg.Name, tg.Healthy)
		}
	}
	// An unsigned AWS call is refused (it is not an admin route).
	resp, err = http.Post(endpoint+"/", "application/x-www-form-urlencoded", strings.NewReader("Action=DescribeTargetGroups&Version=2015-12-01"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("unsigned call status %d", resp.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not stop after cancellation")
	}
}

func TestRun_refusesNonLoopbackAddressAndBadSeed(t *testing.T) {
	if err := run(context.Background(), []string{"-addr", "0.0.0.0:0"}, io.Discard, io.Discard); err == nil {
		t.Fatal("non-loopback address accepted")
	}
	if err := run(context.Background(), []string{"-seed", "testdata/missing.json"}, io.Discard, io.Discard); err == nil {
		t.Fatal("missing seed accepted")
	}
}

func TestUsage_listsTheAdminAPIAndEveryFaultKindItNamesIsAccepted(t *testing.T) {
	var out strings.Builder
	if err := run(context.Background(), []string{"-h"}, io.Discard, &out); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h returned %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{
		"-timescale", "GET  /_sim/fleet", "GET  /_sim/now", "GET  /_sim/recorder", "POST /_sim/recorder/reset",
		"POST /_sim/advance", "POST /_sim/faults", "POST /_sim/seed", "ROLLING_TIME_SCALE", "aws --endpoint-url",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage lacks %q:\n%s", want, out.String())
		}
	}
	sim := fleetsim.New(fleetsim.Options{TickInterval: -1})
	defer sim.Close()
	for _, kind := range faultKinds {
		if err := (fleetsim.FaultRequest{Kind: kind}).Apply(sim); err != nil && strings.Contains(err.Error(), "unknown fault kind") {
			t.Errorf("usage lists fault kind %q, which the simulator does not know", kind)
		}
	}
}
