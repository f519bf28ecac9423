package awsclient

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"time"
)

// rolloutServices are the endpoint keys a rollout calls. A time scale is only
// learned when every one of them is overridden to this machine: a service
// left to its default endpoint is real AWS, whose waits must never be scaled.
var rolloutServices = []string{"ec2", "elbv2", "ssm", "autoscaling", "cloudwatch"}

// simulatorProbeTimeout bounds the one request to the simulator; a local
// emulator that does not answer it (moto, LocalStack) costs at most this.
const simulatorProbeTimeout = 2 * time.Second

// SimulatorTimeScale asks the fleet simulator (internal/fleetsim) behind the
// endpoint overrides for its time scale (wall seconds per simulated second),
// so that a rollout against a time-scaled simulator waits in the simulator's
// time without ROLLING_TIME_SCALE. It answers only when every service a
// rollout calls is overridden to a loopback URL and that server answers
// GET /_sim/now with both sim_time and a positive time_scale, as only the
// simulator does; otherwise ok is false and the provider runs in real time.
// It returns the endpoint that answered, for the log.
func SimulatorTimeScale(ctx context.Context, endpoints map[string]string) (scale float64, endpoint string, ok bool) {
	seen := map[string]bool{}
	for _, key := range rolloutServices {
		raw := endpoints[key]
		if raw == "" || !isLoopbackURL(raw) {
			return 0, "", false
		}
		seen[raw] = true
	}
	urls := make([]string, 0, len(seen))
	for u := range seen {
		urls = append(urls, u)
	}
	sort.Strings(urls)
	// One simulator serves every service in practice; with several, each
	// must be a simulator of the same scale, or none counts.
	for _, u := range urls {
		s, found := probeSimulator(ctx, u)
		if !found || (ok && s != scale) {
			return 0, "", false
		}
		scale, endpoint, ok = s, u, true
	}
	return scale, endpoint, ok
}

func isLoopbackURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	host := u.Hostname()
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// probeSimulator is GET base/_sim/now, the simulator's unsigned admin route.
func probeSimulator(ctx context.Context, base string) (float64, bool) {
	ctx, cancel := context.WithTimeout(ctx, simulatorProbeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/_sim/now", nil)
	if err != nil {
		return 0, false
	}
	// No proxy and no redirects: the answer must come from the loopback
	// server itself.
	client := &http.Client{
		Transport:     &http.Transport{Proxy: nil},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, false
	}
	var now struct {
		SimTime   *time.Time `json:"sim_time"`
		TimeScale *float64   `json:"time_scale"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&now); err != nil {
		return 0, false
	}
	if now.SimTime == nil || now.TimeScale == nil || !(*now.TimeScale > 0) {
		return 0, false
	}
	return *now.TimeScale, true
}
