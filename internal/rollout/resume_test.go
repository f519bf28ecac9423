package rollout

import (
	"testing"
	"time"
)

// leaveOut simulates an earlier run that crashed with the instance out of
// service: tagged, deregistered everywhere (draining long over).
func (w *world) leaveOut(id, phase, version string, appHealthy bool) {
	inst := w.insts[id]
	regs := map[string][]Target{}
	for _, arn := range w.tgARN {
		for _, p := range inst.home[arn] {
			t := Target{InstanceID: id, Port: p}
			regs[arn] = append(regs[arn], t)
			w.tgs[arn].regs[t].deregisteredAt = epoch.Add(-time.Hour)
		}
	}
	if inst.asg != "" {
		inst.lifecycle = "Standby"
	}
	inst.tags[TagPhase] = phase
	inst.tags[TagRollout] = "ro-crashed"
	inst.tags[TagTargets] = EncodeTargets(regs)
	inst.tags[TagVersion] = version
	inst.version = version
	inst.appUp, inst.broken = appHealthy, !appHealthy
}

func TestRun_resumeRejoinsAHealthyInstanceLeftOutOnTheNewVersion(t *testing.T) {
	w := newWorld(fleetOpts{n: 3, tgs: 2})
	w.leaveOut("i-0001", PhaseBaking, "v2", true)
	s := baseSpec(w)
	res, _, err := simulate(t, w, s, 0)
	mustSucceed(t, w, s, res, err)
	if o := statusOf(res, "i-0001"); o.Status != InstanceRecovered {
		t.Fatalf("outcome %+v", o)
	}
	if w.installs["i-0001"]["v2"] != 0 {
		t.Fatal("recovered instance was redeployed")
	}
	if res.Count(InstanceUpdated) != 2 {
		t.Fatalf("updated %d", res.Count(InstanceUpdated))
	}
}

func TestRun_resumeRejoinsAHealthyInstanceOnTheOldVersionThenUpdatesIt(t *testing.T) {
	w := newWorld(fleetOpts{n: 2, asgEvery: 1})
	w.leaveOut("i-0000", "step:deploy", "v1", true)
	s := baseSpec(w)
	res, _, err := simulate(t, w, s, 0)
	mustSucceed(t, w, s, res, err)
	if o := statusOf(res, "i-0000"); o.Status != InstanceUpdated || w.countCalls("ExitStandby") < 2 {
		t.Fatalf("outcome %+v, calls %v", o, w.calls)
	}
}

func TestRun_resumeRedeploysAnInstanceThatCannotRejoinFirstAndAtNoCapacityCost(t *testing.T) {
	// Two instances at 50%: one may be out. The broken one is already out,
	// so it is deployed first; then the healthy one.
	w := newWorld(fleetOpts{n: 2})
	w.leaveOut("i-0001", "step:deploy", "v1", false)
	s := baseSpec(w)
	res, _, err := simulate(t, w, s, 0)
	mustSucceed(t, w, s, res, err)
	if res.Batches[0][0] != "i-0001" || res.Count(InstanceUpdated) != 2 {
		t.Fatalf("batches %v, instances %+v", res.Batches, res.Instances)
	}
}

func TestRun_resumeOnlyTouchesWhatIsNotDone(t *testing.T) {
	w := newWorld(fleetOpts{n: 4, onVersion: map[int]string{0: "v2", 1: "v2"}})
	s := baseSpec(w)
	res, _, err := simulate(t, w, s, 0)
	mustSucceed(t, w, s, res, err)
	if res.Count(InstanceUpToDate) != 2 || res.Count(InstanceUpdated) != 2 || len(w.installs) != 2 {
		t.Fatalf("instances %+v, installs %v", res.Instances, w.installs)
	}
}

func TestRun_resumeLeavesAnInstanceOutWhenItCannotBeRecoveredOrRedeployed(t *testing.T) {
	w := newWorld(fleetOpts{n: 3})
	w.leaveOut("i-0002", "step:deploy", "v1", false)
	w.failStep["i-0002"] = "deploy"
	s := baseSpec(w)
	s.Previous = nil
	res, _, err := simulate(t, w, s, 0)
	checkInvariants(t, w, s, res, err)
	if o := statusOf(res, "i-0002"); err == nil || o.Status != InstanceFailed || !o.OutOfService {
		t.Fatalf("outcome %+v, err %v", o, err)
	}
}

func (w *world) leftOutIDs() []string {
	var ids []string
	for _, id := range w.ids {
		if w.insts[id].tags[TagPhase] != "" {
			ids = append(ids, id)
		}
	}
	return ids
}
