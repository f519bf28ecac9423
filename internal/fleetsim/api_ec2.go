package fleetsim

import (
	"regexp"
	"sort"
	"strconv"
	"strings"
)

var ec2Actions = map[string]xmlHandler{
	"DescribeInstances":      (*Sim).ec2DescribeInstances,
	"CreateTags":             (*Sim).ec2CreateTags,
	"DeleteTags":             (*Sim).ec2DeleteTags,
	"DescribeTags":           (*Sim).ec2DescribeTags,
	"StopInstances":          (*Sim).ec2StopInstances,
	"StartInstances":         (*Sim).ec2StartInstances,
	"TerminateInstances":     (*Sim).ec2TerminateInstances,
	"DescribeInstanceStatus": (*Sim).ec2DescribeInstanceStatus,
}

var instanceIDPattern = regexp.MustCompile(`^i-[0-9a-f]{8}([0-9a-f]{9})?$`)

type ec2Filter struct {
	name   string
	values []string
}

func ec2Filters(req *apiRequest) ([]ec2Filter, *apiError) {
	var out []ec2Filter
	for _, g := range req.indexedGroups("Filter") {
		f := ec2Filter{name: g["Name"], values: subList(g, "Value")}
		if f.name == "" {
			return nil, clientErr("InvalidParameterValue", "The filter name must be specified")
		}
		out = append(out, f)
	}
	return out, nil
}

// matchValue applies EC2's filter wildcards: * (any run) and ? (one char).
func matchValue(pattern, v string) bool {
	if !strings.ContainsAny(pattern, "*?") {
		return pattern == v
	}
	var re strings.Builder
	re.WriteString("^")
	for _, r := range pattern {
		switch r {
		case '*':
			re.WriteString(".*")
		case '?':
			re.WriteString(".")
		default:
			re.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	re.WriteString("$")
	ok, err := regexp.MatchString(re.String(), v)
	return err == nil && ok
}

func anyMatch(patterns []string, v string) bool {
	for _, p := range patterns {
		if matchValue(p, v) {
			return true
		}
	}
	return false
}

func instanceMatches(inst *instance, filters []ec2Filter) (bool, *apiError) {
	for _, f := range filters {
		var ok bool
		switch {
		case strings.HasPrefix(f.name, "tag:"):
			v, has := inst.tags[strings.TrimPrefix(f.name, "tag:")]
			ok = has && anyMatch(f.values, v)
		case f.name == "tag-key":
			for k := range inst.tags {
				if anyMatch(f.values, k) {
					ok = true
				}
			}
		case f.name == "tag-value":
			for _, v := range inst.tags {
				if anyMatch(f.values, v) {
					ok = true
				}
			}
		case f.name == "instance-state-name":
			ok = anyMatch(f.values, inst.state)
		case f.name == "instance-state-code":
			ok = anyMatch(f.values, strconv.Itoa(stateCodes[inst.state]))
		case f.name == "availability-zone":
			ok = anyMatch(f.values, inst.az)
		case f.name == "instance-id":
			ok = anyMatch(f.values, inst.id)
		case f.name == "private-ip-address":
			ok = anyMatch(f.values, inst.privateIP)
		default:
			return false, clientErr("InvalidParameterValue", "The filter '%s' is invalid", f.name)
		}
		if !ok {
			return false, nil
		}
	}
	return true, nil
}

func (s *Sim) ec2DescribeInstances(req *apiRequest, x *xmlw) *apiError {
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
		var missing []string
		for _, id := range ids {
			if !instanceIDPattern.MatchString(id) {
				return clientErr("InvalidInstanceID.Malformed", "Invalid id: \"%s\"", id)
			}
			inst := s.instances[id]
			if inst == nil || !s.visibleToEC2Locked(inst) {
				missing = append(missing, id)
				continue
			}
			candidates = append(candidates, inst)
		}
		if len(missing) == 1 {
			return clientErr("InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", missing[0])
		} else if len(missing) > 1 {
			return clientErr("InvalidInstanceID.NotFound", "The instance IDs '%s' do not exist", strings.Join(missing, ", "))
		}
		sort.Slice(candidates, func(i, j int) bool { return candidates[i].seq < candidates[j].seq })
	} else {
		candidates = s.sortedInstancesLocked()
	}
	var list []*instance
	for _, inst := range candidates {
		if !s.visibleToEC2Locked(inst) {
			continue
		}
		ok, ferr := instanceMatches(inst, filters)
		if ferr != nil {
			return ferr
		}
		if ok {
			list = append(list, inst)
		}
	}
	token := req.get("NextToken")
	if !validToken(token) {
		return clientErr("InvalidParameterValue", "The specified value for nextToken is invalid")
	}
	start, end, next, perr := paginate(len(list), token, size)
	if perr != nil {
		return perr
	}
	x.open("reservationSet")
	for _, inst := range list[start:end] {
		s.writeReservation(x, inst)
	}
	x.close("reservationSet")
	x.leafIf("nextToken", next)
	return nil
}

func (s *Sim) writeReservation(x *xmlw, inst *instance) {
	x.open("item")
	x.leaf("reservationId", "r-"+inst.id[2:])
	x.leaf("ownerId", s.opts.AccountID)
	x.b.WriteString("<groupSet/>")
	x.open("instancesSet")
	x.open("item")
	x.leaf("instanceId", inst.id)
	x.leaf("imageId", "ami-0abcdef1234567890")
	x.open("instanceState")
	x.int("code", stateCodes[inst.state])
	x.leaf("name", inst.state)
	x.close("instanceState")
	if inst.state == StateRunning {
		x.leaf("privateDnsName", "ip-"+strings.ReplaceAll(inst.privateIP, ".", "-")+"."+s.opts.Region+".compute.internal")
		x.leaf("privateIpAddress", inst.privateIP)
	} else {
		x.b.WriteString("<privateDnsName/>")
	}
	x.leaf("instanceType", "t3.micro")
	x.time("launchTime", inst.launchTime)
	x.open("placement")
	x.leaf("availabilityZone", inst.az)
	x.leaf("tenancy", "default")
	x.close("placement")
	x.open("monitoring")
	x.leaf("state", "disabled")
	x.close("monitoring")
	x.leaf("vpcId", "vpc-0f1e2d3c4b5a69788")
	x.leaf("architecture", "x86_64")
	x.leaf("rootDeviceType", "ebs")
	x.leaf("platformDetails", "Linux/UNIX")
	if len(inst.tags) > 0 {
		x.open("tagSet")
		for _, k := range sortedKeys(inst.tags) {
			x.open("item")
			x.leaf("key", k)
			x.leaf("value", inst.tags[k])
			x.close("item")
		}
		x.close("tagSet")
	}
	x.close("item")
	x.close("instancesSet")
	x.close("item")
}

type tagPair struct {
	key, value string
	hasValue   bool
}

func requestTags(req *apiRequest) []tagPair {
	var out []tagPair
	for _, g := range req.indexedGroups("Tag") {
		v, has := g["Value"]
		out = append(out, tagPair{key: g["Key"], value: v, hasValue: has})
	}
	return out
}

func (s *Sim) tagResourcesLocked(req *apiRequest) ([]*instance, *apiError) {
	ids := req.list("ResourceId")
	req.call.InstanceIDs = ids
	if len(ids) == 0 {
		return nil, clientErr("MissingParameter", "The request must contain the parameter resourceIdSet")
	}
	var out []*instance
	for _, id := range ids {
		if !strings.HasPrefix(id, "i-") {
			return nil, clientErr("InvalidID", "The ID '%s' is not valid", id)
		}
		if !instanceIDPattern.MatchString(id) {
			return nil, clientErr("InvalidInstanceID.Malformed", "Invalid id: \"%s\"", id)
		}
		inst := s.instances[id]
		if inst == nil {
			return nil, clientErr("InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", id)
		}
		out = append(out, inst)
	}
	return out, nil
}

func userTagCount(tags map[string]string) int {
	n := 0
	for k := range tags {
		if !strings.HasPrefix(k, "aws:") {
			n++
		}
	}
	return n
}

func (s *Sim) ec2CreateTags(req *apiRequest, x *xmlw) *apiError {
	insts, err := s.tagResourcesLocked(req)
	if err != nil {
		return err
	}
	tags := requestTags(req)
	if len(tags) == 0 {
		return clientErr("MissingParameter", "The request must contain the parameter tagSet")
	}
	req.call.Params = map[string]string{}
	for _, t := range tags {
		if t.key == "" || len([]rune(t.key)) > 128 || len([]rune(t.value)) > 256 {
			return clientErr("InvalidParameterValue", "Tag key must be 1-128 and value at most 256 characters")
		}
		if strings.HasPrefix(strings.ToLower(t.key), "aws:") {
			return clientErr("InvalidParameterValue", "Tag keys starting with 'aws:' are reserved for internal use")
		}
		req.call.Params[t.key] = t.value
	}
	for _, inst := range insts {
		next := map[string]string{}
		for k, v := range inst.tags {
			next[k] = v
		}
		for _, t := range tags {
			next[t.key] = t.value
		}
		if userTagCount(next) > 50 {
			return clientErr("TagLimitExceeded", "The maximum number of Tags for a resource has been reached.")
		}
	}
	for _, inst := range insts {
		for _, t := range tags {
			inst.tags[t.key] = t.value
		}
	}
	x.leaf("return", "true")
	return nil
}

func (s *Sim) ec2DeleteTags(req *apiRequest, x *xmlw) *apiError {
	insts, err := s.tagResourcesLocked(req)
	if err != nil {
		return err
	}
	tags := requestTags(req)
	for _, t := range tags {
		if strings.HasPrefix(strings.ToLower(t.key), "aws:") {
			return clientErr("InvalidParameterValue", "Tag keys starting with 'aws:' are reserved for internal use")
		}
	}
	for _, inst := range insts {
		if len(tags) == 0 {
			for k := range inst.tags {
				if !strings.HasPrefix(k, "aws:") {
					delete(inst.tags, k)
				}
			}
			continue
		}
		for _, t := range tags {
			if cur, ok := inst.tags[t.key]; ok && (!t.hasValue || cur == t.value) {
				delete(inst.tags, t.key)
			}
		}
	}
	x.leaf("return", "true")
	return nil
}

func (s *Sim) ec2DescribeTags(req *apiRequest, x *xmlw) *apiError {
	filters, err := ec2Filters(req)
	if err != nil {
		return err
	}
	size := 0
	if v := req.get("MaxResults"); v != "" {
		n, convErr := strconv.Atoi(v)
		if convErr != nil || n < 5 || n > 1000 {
			return clientErr("InvalidParameterValue", "Value ( %s ) for parameter maxResults is invalid. Expecting a value between 5 and 1000.", v)
		}
		size = n
	}
	type row struct{ id, key, value string }
	var rows []row
	for _, inst := range s.sortedInstancesLocked() {
		for _, k := range sortedKeys(inst.tags) {
			r := row{inst.id, k, inst.tags[k]}
			keep := true
			for _, f := range filters {
				switch f.name {
				case "resource-id":
					keep = keep && anyMatch(f.values, r.id)
				case "resource-type":
					keep = keep && anyMatch(f.values, "instance")
				case "key", "tag-key":
					keep = keep && anyMatch(f.values, r.key)
				case "value", "tag-value":
					keep = keep && anyMatch(f.values, r.value)
				default:
					if tk, ok := strings.CutPrefix(f.name, "tag:"); ok {
						keep = keep && r.key == tk && anyMatch(f.values, r.value)
					} else {
						return clientErr("InvalidParameterValue", "The filter '%s' is invalid", f.name)
					}
				}
			}
			if keep {
				rows = append(rows, r)
			}
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
	x.open("tagSet")
	for _, r := range rows[start:end] {
		x.open("item")
		x.leaf("resourceId", r.id)
		x.leaf("resourceType", "instance")
		x.leaf("key", r.key)
		x.leaf("value", r.value)
		x.close("item")
	}
	x.close("tagSet")
	x.leafIf("nextToken", next)
	return nil
}
