package fleetsim

import (
	"net/http"
	"strings"
)

// maxStateChangeIDs is how many ids one Start/Stop/TerminateInstances call
// takes (TerminateInstances documents 1,000; the others follow it).
const maxStateChangeIDs = 1000

// dryRunError is EC2's answer to a DryRun request that would have succeeded.
func dryRunError() *apiError {
	return &apiError{status: http.StatusPreconditionFailed, code: "DryRunOperation", message: "Request would have succeeded, but DryRun flag is set."}
}

// lookupInstancesLocked resolves the InstanceId.N list of an EC2 request the
// way EC2 does: a malformed id fails the call first, then every id EC2 does
// not know (or no longer lists) is named in one NotFound error. Duplicates
// are kept once, in request order.
func (s *Sim) lookupInstancesLocked(req *apiRequest, limit int) ([]*instance, *apiError) {
	ids := req.list("InstanceId")
	req.call.InstanceIDs = ids
	if len(ids) == 0 {
		return nil, clientErr("MissingParameter", "The request must contain the parameter InstanceId")
	}
	if len(ids) > limit {
		return nil, clientErr("InvalidParameterValue", "The maximum number of instance IDs that can be specified is %d", limit)
	}
	var missing []string
	var out []*instance
	seen := map[string]bool{}
	for _, id := range ids {
		if !instanceIDPattern.MatchString(id) {
			return nil, clientErr("InvalidInstanceID.Malformed", "Invalid id: \"%s\"", id)
		}
	}
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		inst := s.instances[id]
		if inst == nil || !s.visibleToEC2Locked(inst) {
			missing = append(missing, id)
			continue
		}
		out = append(out, inst)
	}
	switch {
	case len(missing) == 1:
		return nil, clientErr("InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", missing[0])
	case len(missing) > 1:
		return nil, clientErr("InvalidInstanceID.NotFound", "The instance IDs '%s' do not exist", strings.Join(missing, ", "))
	}
	return out, nil
}

type stateChange struct {
	inst     *instance
	previous string
	change   bool
}

// changeStatesLocked is the shared shape of the three state-changing calls:
// every instance must accept the change (else nothing changes, as in EC2),
// then each is changed and reported with its previous and current state.
func (s *Sim) changeStatesLocked(req *apiRequest, x *xmlw, accepts func(*instance) (change bool, ok bool), apply func(*instance)) *apiError {
	insts, err := s.lookupInstancesLocked(req, maxStateChangeIDs)
	if err != nil {
		return err
	}
	var changes []stateChange
	for _, inst := range insts {
		change, ok := accepts(inst)
		if !ok {
			return incorrectStateError(req.action, inst)
		}
		changes = append(changes, stateChange{inst: inst, previous: inst.state, change: change})
	}
	if req.get("DryRun") == "true" {
		return dryRunError()
	}
	x.open("instancesSet")
	for _, c := range changes {
		if c.change {
			apply(c.inst)
		}
		x.open("item")
		x.leaf("instanceId", c.inst.id)
		writeInstanceState(x, "currentState", c.inst.state)
		writeInstanceState(x, "previousState", c.previous)
		x.close("item")
	}
	x.close("instancesSet")
	return nil
}

func writeInstanceState(x *xmlw, name, state string) {
	x.open(name)
	x.int("code", stateCodes[state])
	x.leaf("name", state)
	x.close(name)
}

// ec2StopInstances stops running instances. Stopping one that is already
// stopping or stopped changes nothing and succeeds, as in EC2.
func (s *Sim) ec2StopInstances(req *apiRequest, x *xmlw) *apiError {
	return s.changeStatesLocked(req, x, func(inst *instance) (bool, bool) {
		switch inst.state {
		case StateRunning:
			return true, true
		case StateStopping, StateStopped:
			return false, true
		}
		return false, false
	}, s.stopInstanceLocked)
}

// ec2StartInstances starts stopped instances; starting a pending or running
// one succeeds without change. A stopping instance must finish stopping
// first.
func (s *Sim) ec2StartInstances(req *apiRequest, x *xmlw) *apiError {
	return s.changeStatesLocked(req, x, func(inst *instance) (bool, bool) {
		switch inst.state {
		case StateStopped:
			return true, true
		case StatePending, StateRunning:
			return false, true
		}
		return false, false
	}, s.startInstanceLocked)
}

// ec2TerminateInstances terminates instances in any state; terminating one
// that is already shutting down or terminated succeeds without change.
func (s *Sim) ec2TerminateInstances(req *apiRequest, x *xmlw) *apiError {
	return s.changeStatesLocked(req, x, func(inst *instance) (bool, bool) {
		switch inst.state {
		case StateShuttingDown, StateTerminated:
			return false, true
		}
		return true, true
	}, s.terminateInstanceLocked)
}
