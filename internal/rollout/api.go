package rollout

import "time"

// Schedule is the plan of a rollout, computed without side effects.
type Schedule struct {
	// OutOfDate are the instances not on the release's version (or left out
	// of service by an earlier run), in the order they will be taken.
	OutOfDate []string
	// Batches in execution order; in window mode this is the order and
	// grouping of departures if every instance took the same time.
	Batches [][]string
	// Zones is, with zone_by_zone, the Availability Zone of each batch
	// (a batch never spans two), parallel to Batches; nil otherwise.
	Zones []string
	// BakeFirst is, with zone_by_zone, the zones a stopped rollout finished
	// before its zone bake was over: that bake is owed before the first
	// batch (zonesOwingABake); nil otherwise.
	BakeFirst []string
	// MaxUnavailable is how many instances may be out of service at once.
	MaxUnavailable int
	// MinInService is the capacity floor in instances.
	MinInService int
	// ExpectedDuration from the target groups' delays and health settings
	// and the steps' expected run times.
	ExpectedDuration time.Duration
	// Surge is each Auto Scaling group's surge (surge_plan.go); empty
	// without max_surge or when nothing is out of date.
	Surge []SurgePlan
	// TakenOver names the groups whose surge, left by an interrupted
	// rollout (the value), this one takes over (surge_adopt.go).
	TakenOver map[string]string
}
