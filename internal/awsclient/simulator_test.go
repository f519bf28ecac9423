package awsclient

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/fleetsim"
)

func TestSimulatorTimeScale_learnsTheScaleOfASimulatorServingEveryService(t *testing.T) {
	sim := fleetsim.New(fleetsim.Options{TimeScale: 0.015, TickInterval: -1})
	srv := httptest.NewServer(sim)
	t.Cleanup(func() { srv.Close(); sim.Close() })

	scale, endpoint, ok := SimulatorTimeScale(context.Background(), allEndpoints(srv.URL))
	if !ok || scale != 0.015 || endpoint != srv.URL {
		t.Fatalf("SimulatorTimeScale = %g, %q, %v; want 0.015 from %s", scale, endpoint, ok, srv.URL)
	}
}

func TestSimulatorTimeScale_neverAppliesWhenAnyRolloutServiceIsNotLocal(t *testing.T) {
	sim := fleetsim.New(fleetsim.Options{TimeScale: 0.01, TickInterval: -1})
	srv := httptest.NewServer(sim)
	t.Cleanup(func() { srv.Close(); sim.Close() })

	missing := allEndpoints(srv.URL)
	delete(missing, "elbv2") // ELBv2 would be real AWS
	remote := allEndpoints(srv.URL)
	remote["ssm"] = "https://ssm.eu-west-1.amazonaws.com"
	// The same simulator under a name that is not loopback: not probed.
	renamed := allEndpoints(strings.Replace(srv.URL, "127.0.0.1", "sim.example.com", 1))
	for name, endpoints := range map[string]map[string]string{
		"no endpoints": nil, "elbv2 not overridden": missing, "ssm on AWS": remote, "not loopback": renamed,
	} {
		if scale, _, ok := SimulatorTimeScale(context.Background(), endpoints); ok {
			t.Errorf("%s: learned scale %g, want none", name, scale)
		}
	}
}

func TestSimulatorTimeScale_ignoresOtherLocalEmulators(t *testing.T) {
	for name, body := range map[string]string{
		"404 like moto": "",
		"no sim_time":   `{"time_scale": 0.01}`,
		"zero scale":    `{"sim_time": "2026-01-01T00:00:00Z", "time_scale": 0}`,
		"not JSON":      "<html>",
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if body == "" {
				http.NotFound(w, r)
				return
			}
			_, _ = w.Write([]byte(body))
		}))
		if scale, _, ok := SimulatorTimeScale(context.Background(), allEndpoints(srv.URL)); ok {
			t.Errorf("%s: learned scale %g, want none", name, scale)
		}
		srv.Close()
	}
}
