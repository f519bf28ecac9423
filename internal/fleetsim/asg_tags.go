package fleetsim

import (
	"fmt"
	"sort"
	"strings"
)

// Auto Scaling group tags: CreateOrUpdateTags and DeleteTags. A tag is
// defined by the group's name (ResourceId), the resource type (only
// auto-scaling-group), a key, a value and whether it propagates to the
// instances the group launches afterwards (PropagateAtLaunch; instances
// already running keep their tags). Setting a key that exists overwrites it
// without an error; a group holds at most 50 tags; keys are 1-128
// characters, values at most 256, and the aws: prefix is reserved.

// maxGroupTags is Auto Scaling's limit of tags per group.
const maxGroupTags = 50

type groupTag struct {
	group, key, value string
	hasValue          bool
	propagate         bool
}

// groupTagsParam reads Tags.member.N and checks what every tag call needs:
// a key, the only resource type, and a group that exists.
func (s *Sim) groupTagsParam(req *apiRequest) ([]groupTag, *apiError) {
	raw := req.indexedGroups("Tags.member")
	if len(raw) == 0 {
		return nil, clientErr("ValidationError", "1 validation error detected: Value null at 'tags' failed to satisfy constraint: Member must not be null")
	}
	req.call.Params = map[string]string{}
	var tags []groupTag
	var groups, keys []string
	for _, m := range raw {
		t := groupTag{group: m["ResourceId"], key: m["Key"]}
		t.value, t.hasValue = m["Value"]
		t.propagate = m["PropagateAtLaunch"] == "true"
		switch {
		case t.key == "":
			return nil, clientErr("ValidationError", "1 validation error detected: Value null at 'tags.member.key' failed to satisfy constraint: Member must not be null")
		case len([]rune(t.key)) > 128:
			return nil, clientErr("ValidationError", "1 validation error detected: Value at 'tags.member.key' failed to satisfy constraint: Member must have length less than or equal to 128")
		case len([]rune(t.value)) > 256:
			return nil, clientErr("ValidationError", "1 validation error detected: Value at 'tags.member.value' failed to satisfy constraint: Member must have length less than or equal to 256")
		case strings.HasPrefix(strings.ToLower(t.key), "aws:"):
			return nil, clientErr("ValidationError", "Tag keys starting with 'aws:' are reserved for internal use")
		case m["ResourceType"] != "" && m["ResourceType"] != "auto-scaling-group":
			return nil, clientErr("ValidationError", "Invalid resource type: %s. Only auto-scaling-group is supported.", m["ResourceType"])
		}
		if s.asgs[t.group] == nil {
			// The wording AWS uses for a tag on a missing group is unverified.
			return nil, clientErr("ValidationError", "AutoScalingGroup name not found - AutoScalingGroup %s not found", t.group)
		}
		tags = append(tags, t)
		groups = append(groups, t.group)
		keys = append(keys, t.key)
	}
	req.call.Params["ResourceIds"] = strings.Join(dedupeSorted(groups), ",")
	req.call.Params["Keys"] = strings.Join(dedupeSorted(keys), ",")
	return tags, nil
}

func dedupeSorted(values []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range values {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	sort.Strings(out)
	return out
}

func (s *Sim) asgCreateOrUpdateTags(req *apiRequest, _ *xmlw) *apiError {
	tags, err := s.groupTagsParam(req)
	if err != nil {
		return err
	}
	// The limit is checked before anything is written: a refused call
	// changes nothing.
	added := map[string]map[string]bool{}
	for _, t := range tags {
		g := s.asgs[t.group]
		if _, ok := g.tags[t.key]; !ok {
			if added[t.group] == nil {
				added[t.group] = map[string]bool{}
			}
			added[t.group][t.key] = true
		}
	}
	for name, keys := range added {
		if len(s.asgs[name].tags)+len(keys) > maxGroupTags {
			return clientErr("LimitExceeded", "Tags are limited to %d per Auto Scaling group", maxGroupTags)
		}
	}
	for _, t := range tags {
		g := s.asgs[t.group]
		g.tags[t.key] = t.value
		if g.noPropagate == nil {
			g.noPropagate = map[string]bool{}
		}
		if t.propagate {
			delete(g.noPropagate, t.key)
		} else {
			g.noPropagate[t.key] = true
		}
	}
	return nil
}

// asgDeleteTags removes tags by key; a Value, when given, must match.
// Deleting a key the group does not have succeeds (unverified against AWS,
// which documents no error for it).
func (s *Sim) asgDeleteTags(req *apiRequest, _ *xmlw) *apiError {
	tags, err := s.groupTagsParam(req)
	if err != nil {
		return err
	}
	for _, t := range tags {
		g := s.asgs[t.group]
		if v, ok := g.tags[t.key]; ok && (!t.hasValue || v == t.value) {
			delete(g.tags, t.key)
			delete(g.noPropagate, t.key)
		}
	}
	return nil
}

// groupTagsRule authorizes tagging each named group, with the request's tags
// as aws:RequestTag / aws:TagKeys.
func groupTagsRule(action string) iamRule {
	return iamRule{build: func(s *Sim, req *apiRequest) (authRequest, []authRequest, bool) {
		var keys []string
		values := map[string]string{}
		var groups []string
		for _, m := range req.indexedGroups("Tags.member") {
			keys = append(keys, m["Key"])
			if v, ok := m["Value"]; ok {
				values[m["Key"]] = v
			}
			groups = append(groups, m["ResourceId"])
		}
		r := authRequest{action: action, keys: requestTagKeys(keys, values)}
		for _, g := range dedupeSorted(groups) {
			r.resources = append(r.resources, s.groupResourceLocked(g))
		}
		return r, nil, true
	}}
}

// AutoScalingGroupSnapshot is a group as assertions see it.
type AutoScalingGroupSnapshot struct {
	Name                  string
	Min, Max, Desired     int
	Tags                  map[string]string
	Members               []string // not yet terminated, in launch order
	LaunchVersion         string
	SuspendedProcessNames []string
}

// AutoScalingGroup reports one group for assertions.
func (s *Sim) AutoScalingGroup(name string) (AutoScalingGroupSnapshot, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked()
	g := s.asgs[name]
	if g == nil {
		return AutoScalingGroupSnapshot{}, false
	}
	snap := AutoScalingGroupSnapshot{Name: g.name, Min: g.min, Max: g.max, Desired: g.desired, Tags: map[string]string{},
		Members: append([]string(nil), g.members...), LaunchVersion: g.launchVersion, SuspendedProcessNames: sortedKeys(g.suspended)}
	for k, v := range g.tags {
		snap.Tags[k] = v
	}
	return snap, true
}

// ResizeGroup changes a group's min and max size from outside the provider
// (someone editing the group), as UpdateAutoScalingGroup does: a desired
// capacity outside the new bounds moves to the nearer one.
func (f *Faults) ResizeGroup(name string, minSize, maxSize int) error {
	s := f.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked()
	g := s.asgs[name]
	if g == nil || maxSize < minSize {
		return fmt.Errorf("fleetsim: cannot resize group %q to %d..%d", name, minSize, maxSize)
	}
	g.min, g.max = minSize, maxSize
	if d := min(max(g.desired, minSize), maxSize); d != g.desired {
		s.setDesiredLocked(g, d)
	}
	return nil
}
