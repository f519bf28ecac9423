package fleetsim

import (
	"strconv"
	"strings"
	"time"
)

// EC2 status checks: the system check (AWS's side of the host) and the
// instance check (reachability of the instance itself). Only running
// instances are checked; for the others both are not-applicable. After an
// instance reaches running both are initializing for Timing.StatusChecks,
// then ok, unless Faults.SetStatusChecks forces a result.
const (
	StatusOK               = "ok"
	StatusImpaired         = "impaired"
	StatusInitializing     = "initializing"
	StatusInsufficientData = "insufficient-data"
	StatusNotApplicable    = "not-applicable"
)

// maxStatusIDs is DescribeInstanceStatus's documented cap on InstanceIds.
const maxStatusIDs = 100

type checkResult struct {
	status, reachability string
	impairedSince        time.Time
}

// statusOverride is a forced status check result ("" = modelled).
type statusOverride struct {
	instance, system string
	since            time.Time
}

// reachability is the one detail (name "reachability") of a check summary.
var reachability = map[string]string{
	StatusOK: "passed", StatusImpaired: "failed", StatusInitializing: "initializing", StatusInsufficientData: "insufficient-data",
}

func (s *Sim) statusChecksLocked(inst *instance) (instanceCheck, systemCheck checkResult) {
	if inst.state != StateRunning {
		na := checkResult{status: StatusNotApplicable}
		return na, na
	}
	modelled := StatusOK
	if !inst.runningSince.IsZero() && s.now.Before(inst.runningSince.Add(s.timing.StatusChecks)) {
		modelled = StatusInitializing
	}
	o := s.faults.statusChecks[inst.id]
	result := func(forced string) checkResult {
		st := modelled
		if forced != "" {
			st = forced
		}
		r := checkResult{status: st, reachability: reachability[st]}
		if st == StatusImpaired {
			// AWS: when the check failed, or the launch for an instance
			// impaired from the start.
			r.impairedSince = o.since
			if r.impairedSince.Before(inst.runningSince) {
				r.impairedSince = inst.runningSince
			}
		}
		return r
	}
	return result(o.instance), result(o.system)
}

func writeCheck(x *xmlw, name string, c checkResult) {
	x.open(name)
	x.leaf("status", c.status)
	if c.reachability != "" {
		x.open("details")
		x.open("item")
		x.leaf("name", "reachability")
		x.leaf("status", c.reachability)
		if !c.impairedSince.IsZero() {
			x.time("impairedSince", c.impairedSince)
		}
		x.close("item")
		x.close("details")
	}
	x.close(name)
}

// statusMatches applies DescribeInstanceStatus's filters. No scheduled
// events are modelled, so event.* filters match nothing.
func statusMatches(inst *instance, ic, sc checkResult, filters []ec2Filter) (bool, *apiError) {
	for _, f := range filters {
		var v string
		switch f.name {
		case "availability-zone":
			v = inst.az
		case "instance-state-name":
			v = inst.state
		case "instance-state-code":
			v = strconv.Itoa(stateCodes[inst.state])
		case "instance-status.status":
			v = ic.status
		case "instance-status.reachability":
			v = ic.reachability
		case "system-status.status":
			v = sc.status
		case "system-status.reachability":
			v = sc.reachability
		default:
			if strings.HasPrefix(f.name, "event.") {
				return false, nil
			}
			return false, clientErr("InvalidParameterValue", "The filter '%s' is invalid", f.name)
		}
		if v == "" || !anyMatch(f.values, v) {
			return false, nil
		}
	}
	return true, nil
}

// ec2DescribeInstanceStatus lists running instances (every visible one with
// IncludeAllInstances) with their state and status checks.
func (s *Sim) ec2DescribeInstanceStatus(req *apiRequest, x *xmlw) *apiError {
	ids := req.list("InstanceId")
	req.call.InstanceIDs = ids
	filters, err := ec2Filters(req)
	if err != nil {
		return err
	}
	size := 0
	if v := req.get("MaxResults"); v != "" {
		if len(ids) > 0 {
			return clientErr("InvalidParameterCombination", "The parameter instancesSet cannot be used with the parameter maxResults")
		}
		n, convErr := strconv.Atoi(v)
		if convErr != nil || n < 5 || n > 1000 {
			return clientErr("InvalidParameterValue", "Value ( %s ) for parameter maxResults is invalid. Expecting a value between 5 and 1000.", v)
		}
		size = n
	}
	var candidates []*instance
	if len(ids) > 0 {
		if candidates, err = s.lookupInstancesLocked(req, maxStatusIDs); err != nil {
			return err
		}
	} else {
		candidates = s.sortedInstancesLocked()
	}
	includeAll := req.get("IncludeAllInstances") == "true"
	type row struct {
		inst   *instance
		ic, sc checkResult
	}
	var rows []row
	for _, inst := range candidates {
		if !s.visibleToEC2Locked(inst) || !includeAll && inst.state != StateRunning {
			continue
		}
		ic, sc := s.statusChecksLocked(inst)
		ok, ferr := statusMatches(inst, ic, sc, filters)
		if ferr != nil {
			return ferr
		}
		if ok {
			rows = append(rows, row{inst, ic, sc})
		}
	}
	token := req.get("NextToken")
	if !validToken(token) {
		return clientErr("InvalidParameterValue", "The specified value for nextToken is invalid")
	}
	start, end, next, perr := paginate(len(rows), token, size)
	if perr != nil {
		return perr
	}
	if req.get("DryRun") == "true" {
		return dryRunError()
	}
	x.open("instanceStatusSet")
	for _, r := range rows[start:end] {
		x.open("item")
		x.leaf("instanceId", r.inst.id)
		x.leaf("availabilityZone", r.inst.az)
		writeInstanceState(x, "instanceState", r.inst.state)
		writeCheck(x, "systemStatus", r.sc)
		writeCheck(x, "instanceStatus", r.ic)
		x.close("item")
	}
	x.close("instanceStatusSet")
	x.leafIf("nextToken", next)
	return nil
}
