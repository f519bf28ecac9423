package fleetsim

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

const (
	testAccessKey = "AKIDFLEETSIMTEST"
	testSecretKey = "fleetsim-test-secret"
)

// noBackoff keeps SDK retries instant so retry tests do not sleep.
type noBackoff struct{}

func (noBackoff) BackoffDelay(int, error) (time.Duration, error) { return 0, nil }

// simBackoff backs off in simulated time: it moves a frozen simulator's
// clock by wait and lets the SDK retry at once.
type simBackoff struct {
	sim  *Sim
	wait time.Duration
}

func (b simBackoff) BackoffDelay(int, error) (time.Duration, error) {
	b.sim.Advance(b.wait)
	return 0, nil
}

// newFrozenSim returns a simulator whose clock only moves with Advance
// (huge TimeScale, no ticker), served over real HTTP, and an SDK config for it.
func newFrozenSim(t *testing.T, opts Options) (*Sim, aws.Config, string) {
	t.Helper()
	if opts.TimeScale == 0 {
		opts.TimeScale = 1e9
	}
	if opts.TickInterval == 0 {
		opts.TickInterval = -1
	}
	if opts.Credentials == nil {
		opts.Credentials = map[string]string{testAccessKey: testSecretKey}
	}
	s := New(opts)
	srv := httptest.NewServer(s)
	t.Cleanup(func() { srv.Close(); s.Close() })
	return s, sdkConfig(srv.URL, s.Region(), testAccessKey, testSecretKey, 3), srv.URL
}

func sdkConfig(url, region, akid, secret string, attempts int) aws.Config {
	return aws.Config{
		Region:       region,
		Credentials:  credentials.NewStaticCredentialsProvider(akid, secret, ""),
		BaseEndpoint: aws.String(url),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = attempts
				o.Backoff = noBackoff{}
			})
		},
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func newBenchServer(b *testing.B, s *Sim) string {
	srv := httptest.NewServer(s)
	b.Cleanup(srv.Close)
	return srv.URL
}
