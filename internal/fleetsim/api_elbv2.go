package fleetsim

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

type xmlHandler func(*Sim, *apiRequest, *xmlw) *apiError

var elbActions = map[string]xmlHandler{
	"DescribeTargetGroups":          (*Sim).elbDescribeTargetGroups,
	"DescribeTargetGroupAttributes": (*Sim).elbDescribeTargetGroupAttributes,
	"ModifyTargetGroupAttributes":   (*Sim).elbModifyTargetGroupAttributes,
	"DescribeTargetHealth":          (*Sim).elbDescribeTargetHealth,
	"RegisterTargets":               (*Sim).elbRegisterTargets,
	"DeregisterTargets":             (*Sim).elbDeregisterTargets,
	"DescribeLoadBalancers":         (*Sim).elbDescribeLoadBalancers,
	"CreateTargetGroup":             (*Sim).elbCreateTargetGroup,
	"DeleteTargetGroup":             (*Sim).elbDeleteTargetGroup,
}

func tgNotFound(arn string) *apiError {
	if arn == "" {
		return clientErr("TargetGroupNotFound", "One or more target groups not found")
	}
	return clientErr("TargetGroupNotFound", "Target groups '%s' not found", arn)
}

func (s *Sim) lookupTargetGroupLocked(req *apiRequest) (*targetGroup, *apiError) {
	arn := req.get("TargetGroupArn")
	req.call.TargetGroupARN = arn
	if arn == "" {
		return nil, clientErr("ValidationError", "1 validation error detected: Value null at 'targetGroupArn' failed to satisfy constraint: Member must not be null")
	}
	if !strings.HasPrefix(arn, "arn:aws:elasticloadbalancing:") {
		return nil, clientErr("ValidationError", "'%s' is not a valid target group ARN", arn)
	}
	tg := s.tgs[arn]
	if tg == nil {
		return nil, tgNotFound(arn)
	}
	return tg, nil
}

func writeTargetGroup(x *xmlw, tg *targetGroup) {
	x.open("member")
	x.leaf("TargetGroupArn", tg.arn)
	x.leaf("TargetGroupName", tg.name)
	x.leaf("Protocol", tg.protocol)
	x.int("Port", int(tg.port))
	x.leaf("VpcId", tg.vpc)
	x.leaf("HealthCheckProtocol", tg.protocol)
	x.leaf("HealthCheckPort", "traffic-port")
	x.bool("HealthCheckEnabled", true)
	x.int("HealthCheckIntervalSeconds", int(tg.interval/time.Second))
	x.int("HealthCheckTimeoutSeconds", 6)
	x.int("HealthyThresholdCount", tg.healthyThreshold)
	x.int("UnhealthyThresholdCount", tg.unhealthyThreshold)
	if strings.HasPrefix(tg.protocol, "HTTP") {
		x.leaf("HealthCheckPath", "/")
		x.open("Matcher")
		x.leaf("HttpCode", "200")
		x.close("Matcher")
		x.leaf("ProtocolVersion", "HTTP1")
	}
	x.open("LoadBalancerArns")
	for _, lb := range tg.lbARNs {
		x.leaf("member", lb)
	}
	x.close("LoadBalancerArns")
	x.leaf("TargetType", "instance")
	x.leaf("IpAddressType", "ipv4")
	x.close("member")
}

func pageSize(req *apiRequest, name string, def, lo, hi int) (int, *apiError) {
	v := req.get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, clientErr("ValidationError", "1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must have value between %d and %d", v, name, lo, hi)
	}
	return n, nil
}

func (s *Sim) elbDescribeTargetGroups(req *apiRequest, x *xmlw) *apiError {
	arns := req.list("TargetGroupArns.member")
	names := req.list("Names.member")
	lbArn := req.get("LoadBalancerArn")
	size, err := pageSize(req, "PageSize", 400, 1, 400)
	if err != nil {
		return err
	}
	if (len(arns) > 0 && len(names) > 0) || (lbArn != "" && len(arns)+len(names) > 0) {
		return clientErr("ValidationError", "Target group names, target group ARNs, and a load balancer ARN cannot be specified at the same time")
	}
	var list []*targetGroup
	switch {
	case len(arns) > 0:
		for _, arn := range arns {
			tg := s.tgs[arn]
			if tg == nil {
				return tgNotFound(arn)
			}
			list = append(list, tg)
		}
	case len(names) > 0:
		for _, n := range names {
			tg := s.targetGroupByNameLocked(n)
			if tg == nil {
				return clientErr("TargetGroupNotFound", "One or more target groups not found")
			}
			list = append(list, tg)
		}
	default:
		if lbArn != "" && s.lbs[lbArn] == nil {
			return clientErr("LoadBalancerNotFound", "Load balancers '[%s]' not found", lbArn)
		}
		for _, tg := range s.sortedTargetGroupsLocked() {
			if lbArn == "" || containsString(tg.lbARNs, lbArn) {
				list = append(list, tg)
			}
		}
	}
	marker := req.get("Marker")
	if !validToken(marker) {
		return clientErr("ValidationError", "Invalid Marker")
	}
	start, end, next, perr := paginate(len(list), marker, size)
	if perr != nil {
		return perr
	}
	x.open("TargetGroups")
	for _, tg := range list[start:end] {
		writeTargetGroup(x, tg)
	}
	x.close("TargetGroups")
	x.leafIf("NextMarker", next)
	return nil
}

func (s *Sim) elbDescribeTargetGroupAttributes(req *apiRequest, x *xmlw) *apiError {
	tg, err := s.lookupTargetGroupLocked(req)
	if err != nil {
		return err
	}
	x.open("Attributes")
	for _, k := range sortedKeys(tg.attrs) {
		x.open("member")
		x.leaf("Key", k)
		x.leaf("Value", tg.attrs[k])
		x.close("member")
	}
	x.close("Attributes")
	return nil
}

func (s *Sim) elbModifyTargetGroupAttributes(req *apiRequest, x *xmlw) *apiError {
	tg, err := s.lookupTargetGroupLocked(req)
	if err != nil {
		return err
	}
	groups := req.indexedGroups("Attributes.member")
	if len(groups) == 0 {
		return clientErr("ValidationError", "1 validation error detected: Value null at 'attributes' failed to satisfy constraint: Member must not be null")
	}
	changes := map[string]string{}
	for _, g := range groups {
		k, v := g["Key"], g["Value"]
		if _, known := tg.attrs[k]; !known {
			return clientErr("ValidationError", "Target group attribute key '%s' is not recognized", k)
		}
		if k == "deregistration_delay.timeout_seconds" || k == "slow_start.duration_seconds" {
			n, convErr := strconv.Atoi(v)
			if convErr != nil || n < 0 || n > 3600 {
				return clientErr("ValidationError", "'%s' must be an integer between 0 and 3600", k)
			}
		}
		changes[k] = v
	}
	req.call.Params = changes
	for k, v := range changes {
		tg.attrs[k] = v
	}
	x.open("Attributes")
	for _, k := range sortedKeys(tg.attrs) {
		x.open("member")
		x.leaf("Key", k)
		x.leaf("Value", tg.attrs[k])
		x.close("member")
	}
	x.close("Attributes")
	return nil
}

// requestTargets reads Targets.member.N.{Id,Port}; port 0 = not given.
func requestTargets(req *apiRequest) ([]targetKey, *apiError) {
	var out []targetKey
	for _, g := range req.indexedGroups("Targets.member") {
		id := g["Id"]
		if id == "" {
			return nil, clientErr("ValidationError", "Target Id must be specified")
		}
		var port int32
		if p := g["Port"]; p != "" {
			n, err := strconv.Atoi(p)
			if err != nil || n < 1 || n > 65535 {
				return nil, clientErr("ValidationError", "Port '%s' must be between 1 and 65535", p)
			}
			port = int32(n)
		}
		out = append(out, targetKey{id, port})
		req.call.TargetIDs = append(req.call.TargetIDs, id)
	}
	return out, nil
}

func (s *Sim) writeTargetHealth(x *xmlw, key targetKey, state, reason string) {
	x.open("member")
	x.open("Target")
	x.leaf("Id", key.id)
	x.int("Port", int(key.port))
	x.close("Target")
	x.leaf("HealthCheckPort", strconv.Itoa(int(key.port)))
	x.open("TargetHealth")
	x.leaf("State", state)
	if reason != "" {
		x.leaf("Reason", reason)
		desc := reasonDescriptions[reason]
		if reason == ReasonInvalidState {
			desc = "Target is in the stopped state"
			if inst := s.instances[key.id]; inst != nil && inst.state == StateTerminated {
				desc = "Target is in the terminated state"
			}
		}
		x.leaf("Description", desc)
	}
	x.close("TargetHealth")
	x.close("member")
}

func (s *Sim) elbDescribeTargetHealth(req *apiRequest, x *xmlw) *apiError {
	tg, err := s.lookupTargetGroupLocked(req)
	if err != nil {
		return err
	}
	keys, err := requestTargets(req)
	if err != nil {
		return err
	}
	x.open("TargetHealthDescriptions")
	if len(keys) == 0 {
		for _, t := range sortedTargets(tg) {
			s.writeTargetHealth(x, t.key, t.state, t.reason)
		}
	} else {
		byID := map[string][]*target{} // one pass, so asking for N targets stays O(N)
		for _, t := range sortedTargets(tg) {
			byID[t.key.id] = append(byID[t.key.id], t)
		}
		for _, k := range keys {
			inst := s.instances[k.id]
			if inst == nil {
				x.b.Reset()
				return clientErr("InvalidTarget", "The following targets are not valid instances: '%s'", k.id)
			}
			matched := false
			for _, t := range byID[k.id] {
				if k.port == 0 || k.port == t.key.port {
					matched = true
					s.writeTargetHealth(x, t.key, t.state, t.reason)
				}
			}
			if !matched {
				port := k.port
				if port == 0 {
					port = tg.port
				}
				state, reason := TargetUnused, ReasonNotRegistered
				s.writeTargetHealth(x, targetKey{k.id, port}, state, reason)
			}
		}
	}
	x.close("TargetHealthDescriptions")
	return nil
}

// targetsRequestLocked reads the target group and the non-empty target list
// that RegisterTargets and DeregisterTargets both take.
func (s *Sim) targetsRequestLocked(req *apiRequest) (*targetGroup, []targetKey, *apiError) {
	tg, err := s.lookupTargetGroupLocked(req)
	if err != nil {
		return nil, nil, err
	}
	keys, err := requestTargets(req)
	if err != nil {
		return nil, nil, err
	}
	if len(keys) == 0 {
		return nil, nil, clientErr("ValidationError", "1 validation error detected: Value null at 'targets' failed to satisfy constraint: Member must not be null")
	}
	return tg, keys, nil
}

func (s *Sim) elbRegisterTargets(req *apiRequest, x *xmlw) *apiError {
	tg, keys, err := s.targetsRequestLocked(req)
	if err != nil {
		return err
	}
	var bad []string
	for _, k := range keys {
		inst := s.instances[k.id]
		if inst == nil || inst.state != StateRunning {
			bad = append(bad, "'"+k.id+"'")
		}
	}
	if len(bad) > 0 {
		return clientErr("InvalidTarget", "The following targets are not in a running state and cannot be registered: %s", strings.Join(bad, ", "))
	}
	for _, k := range keys {
		if k.port == 0 {
			k.port = tg.port
		}
		s.registerLocked(tg, k)
	}
	return nil
}

func (s *Sim) elbDeregisterTargets(req *apiRequest, x *xmlw) *apiError {
	tg, keys, err := s.targetsRequestLocked(req)
	if err != nil {
		return err
	}
	var bad []string
	for _, k := range keys {
		if s.instances[k.id] == nil {
			bad = append(bad, "'"+k.id+"'")
		}
	}
	if len(bad) > 0 {
		return clientErr("InvalidTarget", "The following targets are not valid instances: %s", strings.Join(bad, ", "))
	}
	for _, k := range keys {
		if k.port == 0 {
			k.port = tg.port
		}
		s.deregisterLocked(tg, k)
	}
	return nil
}

func (s *Sim) elbDescribeLoadBalancers(req *apiRequest, x *xmlw) *apiError {
	arns := req.list("LoadBalancerArns.member")
	names := req.list("Names.member")
	if len(arns) > 20 {
		return clientErr("ValidationError", "A maximum of 20 load balancers can be specified")
	}
	size, err := pageSize(req, "PageSize", 400, 1, 400)
	if err != nil {
		return err
	}
	var all []*loadBalancer
	for _, k := range sortedKeys(s.lbs) {
		all = append(all, s.lbs[k])
	}
	var list []*loadBalancer
	switch {
	case len(arns) > 0:
		for _, a := range arns {
			lb := s.lbs[a]
			if lb == nil {
				return clientErr("LoadBalancerNotFound", "Load balancers '[%s]' not found", a)
			}
			list = append(list, lb)
		}
	case len(names) > 0:
		for _, n := range names {
			var found *loadBalancer
			for _, lb := range all {
				if lb.name == n {
					found = lb
				}
			}
			if found == nil {
				return clientErr("LoadBalancerNotFound", "Load balancers '[%s]' not found", n)
			}
			list = append(list, found)
		}
	default:
		list = all
	}
	marker := req.get("Marker")
	if !validToken(marker) {
		return clientErr("ValidationError", "Invalid Marker")
	}
	start, end, next, perr := paginate(len(list), marker, size)
	if perr != nil {
		return perr
	}
	x.open("LoadBalancers")
	for _, lb := range list[start:end] {
		x.open("member")
		x.leaf("LoadBalancerArn", lb.arn)
		x.leaf("DNSName", lb.dns)
		x.leaf("CanonicalHostedZoneId", "Z35SXDOTRQ7X7K")
		x.time("CreatedTime", lb.created)
		x.leaf("LoadBalancerName", lb.name)
		x.leaf("Scheme", "internet-facing")
		x.leaf("VpcId", "vpc-0f1e2d3c4b5a69788")
		x.open("State")
		x.leaf("Code", "active")
		x.close("State")
		x.leaf("Type", "application")
		x.open("AvailabilityZones")
		for i, az := range lb.azs {
			x.open("member")
			x.leaf("ZoneName", az)
			x.leaf("SubnetId", fmt.Sprintf("subnet-0%016x", i+1))
			x.close("member")
		}
		x.close("AvailabilityZones")
		x.leaf("IpAddressType", "ipv4")
		x.close("member")
	}
	x.close("LoadBalancers")
	x.leafIf("NextMarker", next)
	return nil
}

func (s *Sim) elbCreateTargetGroup(req *apiRequest, x *xmlw) *apiError {
	name := req.get("Name")
	if name == "" || len(name) > 32 || strings.HasPrefix(name, "-") || strings.HasSuffix(name, "-") {
		return clientErr("ValidationError", "Target group name '%s' can have a maximum of 32 characters, can contain only alphanumeric characters or hyphens, and must not begin or end with a hyphen", name)
	}
	for _, r := range name {
		if r != '-' && (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') {
			return clientErr("ValidationError", "Target group name '%s' can contain only alphanumeric characters or hyphens", name)
		}
	}
	intField := func(field string, def, lo, hi int) (int, *apiError) {
		return pageSize(req, field, def, lo, hi)
	}
	port, err := intField("Port", 80, 1, 65535)
	if err != nil {
		return err
	}
	interval, err := intField("HealthCheckIntervalSeconds", 30, 5, 300)
	if err != nil {
		return err
	}
	healthy, err := intField("HealthyThresholdCount", 5, 2, 10)
	if err != nil {
		return err
	}
	unhealthy, err := intField("UnhealthyThresholdCount", 2, 2, 10)
	if err != nil {
		return err
	}
	protocol := req.get("Protocol")
	if protocol == "" {
		protocol = "HTTP"
	}
	if existing := s.targetGroupByNameLocked(name); existing != nil {
		if existing.port != int32(port) || existing.protocol != protocol {
			return clientErr("DuplicateTargetGroupName", "A target group with the same name '%s' exists, but with different settings", name)
		}
		x.open("TargetGroups")
		writeTargetGroup(x, existing)
		x.close("TargetGroups")
		return nil
	}
	tg := s.addTargetGroupLocked(TargetGroupConfig{
		Name: name, Port: int32(port), Protocol: protocol, HealthCheckInterval: time.Duration(interval) * time.Second,
		HealthyThreshold: healthy, UnhealthyThreshold: unhealthy, LoadBalancer: "-",
	})
	req.call.TargetGroupARN = tg.arn
	x.open("TargetGroups")
	writeTargetGroup(x, tg)
	x.close("TargetGroups")
	return nil
}

func (s *Sim) elbDeleteTargetGroup(req *apiRequest, x *xmlw) *apiError {
	arn := req.get("TargetGroupArn")
	req.call.TargetGroupARN = arn
	if tg := s.tgs[arn]; tg != nil {
		if len(tg.lbARNs) > 0 {
			return clientErr("ResourceInUse", "Target group '%s' is currently in use by a listener or a rule", arn)
		}
		s.deleteTargetGroupLocked(tg)
	}
	return nil
}
