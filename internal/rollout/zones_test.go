package rollout

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

// zoned builds healthy instances on v1, named for their zone: zoned("a", 3,
// "b", 2) is a-0 a-1 a-2 b-0 b-1 in zones a and b.
func zoned(args ...any) []Instance {
	tg := "arn:tg/web/1"
	var out []Instance
	for i := 0; i+1 < len(args); i += 2 {
		az, n := args[i].(string), args[i+1].(int)
		for k := 0; k < n; k++ {
			id := fmt.Sprintf("%s-%d", az, k)
			out = append(out, Instance{ID: id, AZ: az, State: "running",
				Targets: map[string][]Target{tg: {{InstanceID: id, Port: 80}}},
				Health:  map[string]TargetHealth{tg: {Target: Target{InstanceID: id, Port: 80}, State: HealthHealthy}},
				Tags:    map[string]string{TagVersion: "v1"}})
		}
	}
	return out
}

func byID(insts []Instance, id string) *Instance {
	for i := range insts {
		if insts[i].ID == id {
			return &insts[i]
		}
	}
	panic("no instance " + id)
}

func TestZoneOrder_begunZoneFirstThenFewestToMoveThenName(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func([]Instance)
		want []string
	}{
		{"fewest to move first, ties by name", func([]Instance) {}, []string{"b", "c", "a"}},
		{"a zone with an instance on the version goes first (a stopped run goes on there)",
			func(in []Instance) { byID(in, "a-0").Tags[TagVersion] = "v2" }, []string{"a", "b", "c"}},
		{"a zone with an instance left out of service goes first",
			func(in []Instance) { byID(in, "c-1").Tags[TagPhase] = PhaseDraining }, []string{"c", "b", "a"}},
		{"a zone with nothing to move is not in the order", func(in []Instance) {
			byID(in, "b-0").Tags[TagVersion] = "v2"
			byID(in, "b-1").Tags[TagVersion] = "v2"
		}, []string{"c", "a"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			insts := zoned("a", 3, "b", 2, "c", 2)
			c.edit(insts)
			if got := zoneOrder(insts, "v2"); !reflect.DeepEqual(got, c.want) {
				t.Fatalf("zoneOrder = %v, want %v", got, c.want)
			}
		})
	}
}

func TestPlanSchedule_zoneByZoneGroupsBatchesByZone(t *testing.T) {
	for _, c := range []struct {
		name  string
		insts []Instance
		st    Strategy
		want  [][]string
		zones []string
	}{
		{"a batch never spans two zones", zoned("a", 3, "b", 3), Strategy{BatchSize: 2},
			[][]string{{"a-0", "a-1"}, {"a-2"}, {"b-0", "b-1"}, {"b-2"}}, []string{"a", "a", "b", "b"}},
		{"smallest zone first", zoned("a", 3, "b", 1, "c", 2), Strategy{BatchSize: 5},
			[][]string{{"b-0"}, {"c-0", "c-1"}, {"a-0", "a-1", "a-2"}}, []string{"b", "c", "a"}},
		{"the canary is the first zone's", zoned("a", 3, "b", 3), Strategy{BatchSize: 3, CanarySize: 1},
			[][]string{{"a-0"}, {"a-1", "a-2"}, {"b-0", "b-1", "b-2"}}, []string{"a", "a", "b"}},
		{"a canary larger than the first zone is that zone", zoned("a", 2, "b", 3), Strategy{BatchSize: 1, CanarySize: 4},
			[][]string{{"a-0", "a-1"}, {"b-0"}, {"b-1"}, {"b-2"}}, []string{"a", "b", "b", "b"}},
		// 6 at 75%: 5 must stay in service over the whole fleet, so one
		// leaves at a time although a zone has three.
		{"the floor is counted over the whole fleet", zoned("a", 3, "b", 3), Strategy{BatchSize: 3, MinHealthyPercent: 75},
			[][]string{{"a-0"}, {"a-1"}, {"a-2"}, {"b-0"}, {"b-1"}, {"b-2"}}, []string{"a", "a", "a", "b", "b", "b"}},
		{"window mode departs within the zone", zoned("a", 3, "b", 2), Strategy{BatchSize: 2, Mode: ModeWindow},
			[][]string{{"b-0", "b-1"}, {"a-0", "a-1"}, {"a-2"}}, []string{"b", "a", "a"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.st.Order = OrderZoneByZone
			plan, err := PlanSchedule(specFor(c.insts, c.st))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(plan.Batches, c.want) || !reflect.DeepEqual(plan.Zones, c.zones) {
				t.Fatalf("batches %v in zones %v, want %v in %v", plan.Batches, plan.Zones, c.want, c.zones)
			}
		})
	}
}

func TestPlanSchedule_zoneByZoneTakesTheInstancesLeftOutFirstInTheirZone(t *testing.T) {
	insts := zoned("a", 2, "b", 3)
	byID(insts, "b-2").Tags[TagPhase] = PhaseDraining // an earlier run stopped in b
	byID(insts, "b-0").Tags[TagVersion] = "v2"
	plan, err := PlanSchedule(specFor(insts, Strategy{BatchSize: 1, Order: OrderZoneByZone}))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"b-2", "b-1", "a-0", "a-1"}; !reflect.DeepEqual(plan.OutOfDate, want) {
		t.Fatalf("order %v, want %v", plan.OutOfDate, want)
	}
}

// Random fleets: each zone is taken in one run, no batch spans two zones,
// every out-of-date instance is scheduled once and no batch breaches the
// floor counted over the whole fleet.
func TestPlanSchedule_zoneByZoneInvariantsOnRandomFleets(t *testing.T) {
	rng := rand.New(rand.NewPCG(18, 1))
	for round := 0; round < 500; round++ {
		var args []any
		for z := 0; z < 1+rng.IntN(4); z++ {
			args = append(args, string(rune('a'+z)), 1+rng.IntN(6))
		}
		insts := zoned(args...)
		for i := range insts {
			switch rng.IntN(6) {
			case 0:
				insts[i].Tags[TagVersion] = "v2"
			case 1:
				insts[i].Health["arn:tg/web/1"] = TargetHealth{State: HealthUnhealthy}
			}
		}
		st := Strategy{BatchSize: 1 + rng.IntN(4), MinHealthyPercent: rng.IntN(80), CanarySize: rng.IntN(3),
			Order: OrderZoneByZone, Mode: []Mode{ModeBatch, ModeWindow}[rng.IntN(2)]}
		plan, err := PlanSchedule(specFor(insts, st))
		if err != nil {
			continue // an impossible floor; checked elsewhere
		}
		az := map[string]string{}
		inService := map[string]bool{}
		for _, inst := range insts {
			az[inst.ID] = inst.AZ
			inService[inst.ID] = isInService(inst)
		}
		floor := minInService(len(insts), st.MinHealthyPercent)
		done := map[string]bool{}
		seen := map[string]bool{}
		for i, b := range plan.Batches {
			zone := az[b[0]]
			if plan.Zones[i] != zone {
				t.Fatalf("round %d: batch %d in zone %s, Zones says %s", round, i, zone, plan.Zones[i])
			}
			if i > 0 && plan.Zones[i-1] != zone && done[zone] {
				t.Fatalf("round %d: zone %s taken in two runs: %v", round, zone, plan.Zones)
			}
			done[zone] = true
			up := 0
			for _, v := range inService {
				if v {
					up++
				}
			}
			costly := 0
			for _, id := range b {
				if az[id] != zone {
					t.Fatalf("round %d: batch %d spans zones: %v", round, i, b)
				}
				if seen[id] {
					t.Fatalf("round %d: %s scheduled twice", round, id)
				}
				seen[id] = true
				if inService[id] {
					costly++
					up--
				}
			}
			if costly > 0 && up < floor {
				t.Fatalf("round %d: batch %d leaves %d in service, floor %d", round, i, up, floor)
			}
			for _, id := range b {
				inService[id] = true
			}
		}
		for _, inst := range insts {
			if needsUpdate(inst, "v2") != seen[inst.ID] {
				t.Fatalf("round %d: %s out of date %v, scheduled %v", round, inst.ID, needsUpdate(inst, "v2"), seen[inst.ID])
			}
		}
	}
}

func TestPlanSchedule_zoneByZoneExpectedDurationHasABakeBetweenZones(t *testing.T) {
	// Each instance: drain 30s + step 60s (timeout 1m, nothing recorded:
	// min(1m, 30s) = 30s) ... see specFor: 30s + 30s + health 3 x 10s = 90s.
	for _, c := range []struct {
		name string
		st   Strategy
		want time.Duration
	}{
		// zone a (2): 2 batches of 1; zone b (2): 2 batches; pauses 10s
		// inside a zone, the 5m bake (longer) between them: 4 x 90s + 10s +
		// 300s + 10s.
		{"batch mode", Strategy{BatchSize: 1, PauseBetweenBatches: 10 * time.Second, ZoneBakeTime: 5 * time.Minute},
			4*90*time.Second + 20*time.Second + 5*time.Minute},
		// A pause longer than the bake is kept at the zone's end.
		{"batch mode, pause longer than the bake", Strategy{BatchSize: 1, PauseBetweenBatches: 2 * time.Minute, ZoneBakeTime: time.Minute},
			4*90*time.Second + 3*2*time.Minute},
		// 2 at once: each zone one round of 90s, the bake between them.
		{"window mode", Strategy{BatchSize: 2, Mode: ModeWindow, ZoneBakeTime: time.Minute},
			2*90*time.Second + time.Minute},
		// The canary (1) of zone a, its 20s pause, a's other instance,
		// the bake, zone b's two at once.
		{"window mode with a canary", Strategy{BatchSize: 2, Mode: ModeWindow, CanarySize: 1, CanaryPause: 20 * time.Second, ZoneBakeTime: time.Minute},
			90*time.Second + 20*time.Second + 90*time.Second + time.Minute + 90*time.Second},
		// The canary is all of zone a: its pause and the bake run together.
		{"window mode with a canary the size of the first zone", Strategy{BatchSize: 2, Mode: ModeWindow, CanarySize: 2,
			CanaryPause: 20 * time.Second, ZoneBakeTime: time.Minute}, 2*90*time.Second + time.Minute},
		{"no bake", Strategy{BatchSize: 2}, 2 * 90 * time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.st.Order = OrderZoneByZone
			plan, err := PlanSchedule(specFor(zoned("a", 2, "b", 2), c.st))
			if err != nil {
				t.Fatal(err)
			}
			if plan.ExpectedDuration != c.want {
				t.Fatalf("expected duration %s, want %s (batches %v)", plan.ExpectedDuration, c.want, plan.Batches)
			}
		})
	}
}

func TestValidate_zoneByZoneNeedsEveryZoneAndZoneBakeTimeNeedsZoneByZone(t *testing.T) {
	insts := zoned("a", 2, "b", 1)
	byID(insts, "a-1").AZ = ""
	s := specFor(insts, Strategy{BatchSize: 1, Order: OrderZoneByZone})
	err := s.Validate()
	if err == nil || !strings.Contains(err.Error(), `order = "zone_by_zone" needs each instance's Availability Zone, and EC2 did not report it for a-1`) {
		t.Fatalf("err %v", err)
	}
	// Up to date, it does not move: its zone does not matter.
	byID(insts, "a-1").Tags[TagVersion] = "v2"
	if err := s.Validate(); err != nil {
		t.Fatalf("err %v", err)
	}

	s = specFor(zoned("a", 2), Strategy{BatchSize: 1, ZoneBakeTime: time.Minute})
	if err := s.Validate(); err == nil || !strings.Contains(err.Error(), `zone_bake_time needs order = "zone_by_zone"`) {
		t.Fatalf("err %v", err)
	}
	s.Strategy.Order, s.Strategy.ZoneBakeTime = OrderZoneByZone, -time.Second
	if err := s.Validate(); err == nil || !strings.Contains(err.Error(), "zone_bake_time must not be negative") {
		t.Fatalf("err %v", err)
	}
}
