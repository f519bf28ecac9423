package provider

import (
	"strings"
	"sync"
	"time"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/rollout"
)

// fleetCacheTTL bounds how old a refreshed fleet may be when the plan uses
// it: Terraform plans a resource right after refreshing it.
const fleetCacheTTL = 10 * time.Second

// fleetCache keeps the last fleet read per target group set, for one use.
// A rollout never uses it: apply always reads AWS afresh.
type fleetCache struct {
	mu      sync.Mutex
	entries map[string]cachedFleet
}

type cachedFleet struct {
	fleet rollout.Fleet
	at    time.Time
}

func fleetKey(targetGroupARNs, instanceIDs []string) string {
	return strings.Join(targetGroupARNs, ",") + "|" + strings.Join(instanceIDs, ",")
}

func (c *fleetCache) put(key string, f rollout.Fleet) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[string]cachedFleet{}
	}
	c.entries[key] = cachedFleet{fleet: f, at: time.Now()}
}

// take returns the fleet stored under key if it is fresh, and forgets it.
func (c *fleetCache) take(key string) (rollout.Fleet, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	delete(c.entries, key)
	if !ok || time.Since(e.at) > fleetCacheTTL {
		return rollout.Fleet{}, false
	}
	return e.fleet, true
}
