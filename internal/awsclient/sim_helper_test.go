package awsclient

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/fleetsim"
	"github.com/rollingdeploy/terraform-provider-rolling/internal/rollout"
)

const (
	simAccessKey = "AKIAAWSCLIENTTEST"
	simSecretKey = "awsclient-test-secret"
)

// instantBackoff keeps SDK retries from sleeping in tests; what is tested
// is that the SDK retries, not how long it waits.
type instantBackoff struct{}

func (instantBackoff) BackoffDelay(int, error) (time.Duration, error) { return time.Millisecond, nil }

// simBackoff backs off in simulated time, as a client of a time-scaled
// simulator must: the simulator's token buckets refill in simulated time,
// and newSim's clock moves only when told to.
type simBackoff struct {
	sim  *fleetsim.Sim
	wait time.Duration
}

func (b simBackoff) BackoffDelay(int, error) (time.Duration, error) {
	b.sim.Advance(b.wait)
	return 0, nil
}

// newSim starts a fleet simulator whose clock moves only with Advance (no
// ticker, enormous time scale), served over real HTTP, and a Client for it
// that signs with a key the simulator knows.
func newSim(t *testing.T, mutate func(*Config)) (*fleetsim.Sim, *Client, string) {
	t.Helper()
	cleanAWSEnv(t)
	sim := fleetsim.New(fleetsim.Options{
		TimeScale: 1e9, TickInterval: -1,
		Credentials: map[string]string{simAccessKey: simSecretKey},
	})
	srv := httptest.NewServer(sim)
	t.Cleanup(func() { srv.Close(); sim.Close() })
	cfg := Config{
		Region: sim.Region(), AccessKey: simAccessKey, SecretKey: simSecretKey,
		Endpoints: allEndpoints(srv.URL), retryBackoff: simBackoff{sim: sim, wait: 2 * time.Millisecond},
	}
	if mutate != nil {
		mutate(&cfg)
	}
	c, err := New(testContext(t), cfg)
	if err != nil {
		t.Fatalf("New against fleetsim: %v", err)
	}
	return sim, c, srv.URL
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// pollUntilTerminal polls Invocations, advancing simulated time between
// polls, until every invocation is terminal.
func pollUntilTerminal(t *testing.T, sim *fleetsim.Sim, runner rollout.CommandRunner, sent map[string]string, step time.Duration) map[string]rollout.Invocation {
	t.Helper()
	for i := 0; i < 200; i++ {
		invs, err := runner.Invocations(testContext(t), sent)
		if err != nil {
			t.Fatalf("Invocations: %v", err)
		}
		if len(invs) != len(sent) {
			t.Fatalf("Invocations returned %d rows for %d instances", len(invs), len(sent))
		}
		done := map[string]rollout.Invocation{}
		for _, inv := range invs {
			if inv.Status.Terminal() {
				done[inv.InstanceID] = inv
			}
		}
		if len(done) == len(sent) {
			return done
		}
		sim.Advance(step)
	}
	t.Fatal("invocations never finished")
	return nil
}

func testServer(t *testing.T, sim *fleetsim.Sim) string {
	t.Helper()
	srv := httptest.NewServer(sim)
	t.Cleanup(func() { srv.Close(); sim.Close() })
	return srv.URL
}
