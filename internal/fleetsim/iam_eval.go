package fleetsim

import (
	"strconv"
	"strings"
)

// Evaluation of an identity-based policy, following the IAM User Guide's
// policy evaluation logic for a single policy: a request is allowed only if
// some Allow statement matches it and no Deny statement does, resource by
// resource (a call touching several resources - SendCommand's document and
// instances - needs all of them allowed).

// authRequest is what one call asks IAM: an action on resources, with the
// request's condition keys; each resource adds its own keys (its tags).
type authRequest struct {
	action    string // service:Action as IAM spells it
	resources []authResource
	keys      map[string][]string // lower-cased key -> values
}

type authResource struct {
	arn  string
	keys map[string][]string
}

// decision is IAM's answer; resource is the first resource not allowed and
// sid the explicitly denying statement.
type decision struct {
	allowed      bool
	explicitDeny bool
	resource     string
	sid          string
	context      map[string][]string
}

func (p *Policy) authorize(r authRequest) decision {
	var firstImplicit *decision
	for _, res := range r.resources {
		ctx := make(map[string][]string, len(r.keys)+len(res.keys))
		for k, v := range r.keys {
			ctx[k] = v
		}
		for k, v := range res.keys {
			ctx[k] = v
		}
		allowed := false
		for _, st := range p.statements {
			if !p.applies(st, r.action, res.arn, ctx) {
				continue
			}
			if !st.allow {
				return decision{explicitDeny: true, resource: res.arn, sid: st.sid, context: ctx}
			}
			allowed = true
		}
		if !allowed && firstImplicit == nil {
			firstImplicit = &decision{resource: res.arn, context: ctx}
		}
	}
	if firstImplicit != nil {
		return *firstImplicit
	}
	return decision{allowed: true}
}

// applies says whether a statement covers the action on the resource with
// its conditions met.
func (p *Policy) applies(st statement, action, arn string, ctx map[string][]string) bool {
	action = strings.ToLower(action)
	matched := false
	for _, pat := range st.actions {
		if wildcardMatch(pat, action) {
			matched = true
			break
		}
	}
	if matched == st.notAction {
		return false
	}
	matched = false
	for _, pat := range st.resources {
		pat, ok := p.substitute(pat, ctx)
		if ok && arnMatch(pat, arn) {
			matched = true
			break
		}
	}
	if matched == st.notResource {
		return false
	}
	for _, c := range st.conditions {
		if !p.conditionHolds(c, ctx) {
			return false
		}
	}
	return true
}

// substitute replaces ${key} policy variables (Version 2012-10-17 only) with
// the request's single value; a variable the request lacks makes the element
// match nothing, as in IAM. ${*}, ${?} and ${$} stand for the characters.
func (p *Policy) substitute(s string, ctx map[string][]string) (string, bool) {
	if !p.variables || !strings.Contains(s, "${") {
		return s, true
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), true
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			b.WriteString(s)
			return b.String(), true
		}
		b.WriteString(s[:i])
		name := s[i+2 : i+j]
		switch name {
		case "*", "?", "$":
			b.WriteString(name)
		default:
			vals := ctx[strings.ToLower(name)]
			if len(vals) != 1 {
				return "", false
			}
			b.WriteString(vals[0])
		}
		s = s[i+j+1:]
	}
}

// wildcardMatch matches * (any run, also empty) and ? (one character).
func wildcardMatch(pattern, s string) bool {
	p, v := 0, 0
	star, mark := -1, 0
	for v < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[v]):
			p++
			v++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, v
			p++
		case star >= 0:
			p = star + 1
			mark++
			v = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// arnMatch compares an ARN with a Resource or ArnLike pattern: each of the
// five colon-delimited fields is matched on its own and the resource part
// (which may itself hold colons, as an Auto Scaling group's does) as a whole;
// a pattern that is not an ARN ("*") matches as a plain wildcard. "*" fields
// match empty ones (AWS-owned SSM documents have no account).
func arnMatch(pattern, arn string) bool {
	if pattern == "*" {
		return true
	}
	pp := strings.SplitN(pattern, ":", 6)
	ap := strings.SplitN(arn, ":", 6)
	if len(pp) < 6 || len(ap) < 6 {
		return wildcardMatch(pattern, arn)
	}
	for i := range pp {
		if !wildcardMatch(pp[i], ap[i]) {
			return false
		}
	}
	return true
}

// negatedOps maps each negated operator to the positive one it inverts.
var negatedOps = map[string]string{
	"StringNotEquals": "StringEquals", "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase", "StringNotLike": "StringLike",
	"ArnNotEquals": "ArnEquals", "ArnNotLike": "ArnLike", "NumericNotEquals": "NumericEquals",
}

// conditionHolds evaluates one condition key. A key missing from the request
// fails positive operators and satisfies negated ones (IAM User Guide,
// condition operators), ...IfExists and ForAllValues (vacuously), but not
// ForAnyValue. Values of one key are ORed; with ForAllValues every request
// value must match one of them, with ForAnyValue at least one.
func (p *Policy) conditionHolds(c condition, ctx map[string][]string) bool {
	got, present := ctx[c.key]
	present = present && len(got) > 0
	if c.op == "Null" {
		for _, v := range c.values {
			if strings.EqualFold(v, "true") != present {
				return true
			}
		}
		return false
	}
	base, negated := negatedOps[c.op]
	if !negated {
		base = c.op
	}
	if !present {
		switch {
		case c.ifExists, c.set == "ForAllValues":
			return true
		case c.set == "ForAnyValue":
			return false
		}
		return negated
	}
	values := make([]string, 0, len(c.values))
	for _, v := range c.values {
		if sv, ok := p.substitute(v, ctx); ok {
			values = append(values, sv)
		}
	}
	one := func(v string) bool {
		m := matchOperator(base, v, values)
		return m != negated
	}
	switch c.set {
	case "ForAllValues":
		for _, v := range got {
			if !one(v) {
				return false
			}
		}
		return true
	case "ForAnyValue":
		for _, v := range got {
			if one(v) {
				return true
			}
		}
		return false
	}
	// A plain operator on a multivalued key: a positive one needs some value
	// to match, a negated one needs none to.
	if negated {
		for _, v := range got {
			if !one(v) {
				return false
			}
		}
		return true
	}
	for _, v := range got {
		if one(v) {
			return true
		}
	}
	return false
}

// matchOperator says whether a request value matches any policy value under a
// positive operator.
func matchOperator(op, got string, values []string) bool {
	for _, want := range values {
		switch op {
		case "StringEquals":
			if got == want {
				return true
			}
		case "StringEqualsIgnoreCase":
			if strings.EqualFold(got, want) {
				return true
			}
		case "StringLike":
			if wildcardMatch(want, got) {
				return true
			}
		case "ArnEquals", "ArnLike":
			if arnMatch(want, got) {
				return true
			}
		case "Bool":
			if strings.EqualFold(got, want) {
				return true
			}
		default: // Numeric*
			g, err1 := strconv.ParseFloat(got, 64)
			w, err2 := strconv.ParseFloat(want, 64)
			if err1 != nil || err2 != nil {
				continue
			}
			if op == "NumericEquals" && g == w || op == "NumericLessThan" && g < w || op == "NumericLessThanEquals" && g <= w ||
				op == "NumericGreaterThan" && g > w || op == "NumericGreaterThanEquals" && g >= w {
				return true
			}
		}
	}
	return false
}
