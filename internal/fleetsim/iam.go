package fleetsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// IAM enforcement: with a policy set (Options.Policy, Sim.SetPolicy, the
// seed's "policy" or the command's -policy flag), every call is authorized
// against it as AWS authorizes a caller's identity-based policy, before the
// call is served: explicit Deny wins, then Allow, otherwise the implicit
// deny. The policy is every caller's: the static credentials and every
// session AssumeRole issues. Parsing is here, evaluation in iam_eval.go, the
// per-action resources and condition keys in iam_actions.go and the
// protocol-specific AccessDenied errors in iam_deny.go.

// Policy is a parsed IAM identity-based policy document.
type Policy struct {
	statements []statement
	variables  bool // Version 2012-10-17: ${...} policy variables are substituted
}

type statement struct {
	sid         string
	allow       bool
	actions     []string // lower-cased patterns
	notAction   bool     // actions lists NotAction
	resources   []string
	notResource bool
	conditions  []condition
}

// condition is one key under one operator: Condition{"StringEquals":
// {"ec2:ResourceTag/app": ["web", "api"]}} gives one condition with two
// values (ORed); conditions are ANDed.
type condition struct {
	op       string // base operator, e.g. StringLike, StringNotEquals, Null
	set      string // "", "ForAllValues" or "ForAnyValue"
	ifExists bool
	key      string // lower-cased: condition key names are case-insensitive
	values   []string
}

var conditionOperators = map[string]bool{
	"StringEquals": true, "StringNotEquals": true, "StringEqualsIgnoreCase": true, "StringNotEqualsIgnoreCase": true,
	"StringLike": true, "StringNotLike": true,
	"ArnEquals": true, "ArnLike": true, "ArnNotEquals": true, "ArnNotLike": true,
	"NumericEquals": true, "NumericNotEquals": true, "NumericLessThan": true, "NumericLessThanEquals": true,
	"NumericGreaterThan": true, "NumericGreaterThanEquals": true,
	"Bool": true, "Null": true,
}

// ParsePolicy parses an IAM policy document (JSON, Version 2012-10-17 or
// 2008-10-17) and reports every problem at once. Elements AWS does not allow
// in identity-based policies (Principal, NotPrincipal) are refused, as are
// condition operators fleetsim does not evaluate (Date*, IpAddress, Binary),
// so a policy never silently means less than it says.
func ParsePolicy(doc []byte) (*Policy, error) {
	var raw struct {
		Version   string          `json:"Version"`
		ID        string          `json:"Id"`
		Statement json.RawMessage `json:"Statement"`
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("IAM policy: %w", err)
	}
	var errs []string
	p := &Policy{}
	switch raw.Version {
	case "2012-10-17":
		p.variables = true
	case "", "2008-10-17":
	default:
		errs = append(errs, fmt.Sprintf("Version %q is not 2012-10-17 or 2008-10-17", raw.Version))
	}
	var rawStmts []json.RawMessage
	switch trimmed := bytes.TrimSpace(raw.Statement); {
	case len(trimmed) == 0:
		errs = append(errs, "Statement is required")
	case trimmed[0] == '{':
		rawStmts = []json.RawMessage{trimmed}
	default:
		if err := json.Unmarshal(trimmed, &rawStmts); err != nil {
			errs = append(errs, "Statement must be an object or a list of objects")
		}
	}
	for i, rs := range rawStmts {
		st, stErrs := parseStatement(rs)
		for _, e := range stErrs {
			errs = append(errs, fmt.Sprintf("Statement[%d]: %s", i, e))
		}
		p.statements = append(p.statements, st)
	}
	if len(errs) > 0 {
		return nil, errors.New("IAM policy: " + strings.Join(errs, "; "))
	}
	return p, nil
}

func parseStatement(data json.RawMessage) (statement, []string) {
	var rs struct {
		Sid          string                                `json:"Sid"`
		Effect       string                                `json:"Effect"`
		Action       json.RawMessage                       `json:"Action"`
		NotAction    json.RawMessage                       `json:"NotAction"`
		Resource     json.RawMessage                       `json:"Resource"`
		NotResource  json.RawMessage                       `json:"NotResource"`
		Principal    json.RawMessage                       `json:"Principal"`
		NotPrincipal json.RawMessage                       `json:"NotPrincipal"`
		Condition    map[string]map[string]json.RawMessage `json:"Condition"`
	}
	var errs []string
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rs); err != nil {
		return statement{}, []string{err.Error()}
	}
	st := statement{sid: rs.Sid}
	switch rs.Effect {
	case "Allow":
		st.allow = true
	case "Deny":
	default:
		errs = append(errs, fmt.Sprintf("Effect must be Allow or Deny, got %q", rs.Effect))
	}
	if rs.Principal != nil || rs.NotPrincipal != nil {
		errs = append(errs, "an identity-based policy must not specify a Principal")
	}
	var err error
	switch {
	case rs.Action != nil && rs.NotAction != nil:
		errs = append(errs, "Action and NotAction are exclusive")
	case rs.Action != nil:
		st.actions, err = stringList(rs.Action)
	case rs.NotAction != nil:
		st.actions, err = stringList(rs.NotAction)
		st.notAction = true
	default:
		errs = append(errs, "Action or NotAction is required")
	}
	if err != nil {
		errs = append(errs, "Action: "+err.Error())
	}
	for i, a := range st.actions {
		if a != "*" && !strings.Contains(a, ":") {
			errs = append(errs, fmt.Sprintf("action %q is not service:Action", a))
		}
		st.actions[i] = strings.ToLower(a)
	}
	switch {
	case rs.Resource != nil && rs.NotResource != nil:
		errs = append(errs, "Resource and NotResource are exclusive")
	case rs.Resource != nil:
		st.resources, err = stringList(rs.Resource)
	case rs.NotResource != nil:
		st.resources, err = stringList(rs.NotResource)
		st.notResource = true
	default:
		errs = append(errs, "Resource or NotResource is required in an identity-based policy")
	}
	if err != nil {
		errs = append(errs, "Resource: "+err.Error())
	}
	for _, opName := range sortedKeys(rs.Condition) {
		for _, key := range sortedKeys(rs.Condition[opName]) {
			c, cerr := parseCondition(opName, key, rs.Condition[opName][key])
			if cerr != nil {
				errs = append(errs, "Condition: "+cerr.Error())
				continue
			}
			st.conditions = append(st.conditions, c)
		}
	}
	return st, errs
}

func parseCondition(opName, key string, raw json.RawMessage) (condition, error) {
	c := condition{key: strings.ToLower(key)}
	op := opName
	if set, rest, ok := strings.Cut(op, ":"); ok {
		if set != "ForAllValues" && set != "ForAnyValue" {
			return c, fmt.Errorf("unknown set operator %q", set)
		}
		c.set, op = set, rest
	}
	if base, ok := strings.CutSuffix(op, "IfExists"); ok && op != "Null" {
		c.ifExists, op = true, base
	}
	if !conditionOperators[op] {
		return c, fmt.Errorf("operator %q is not evaluated by fleetsim", opName)
	}
	c.op = op
	values, err := stringList(raw)
	if err != nil {
		return c, fmt.Errorf("%s %s: %w", opName, key, err)
	}
	c.values = values
	return c, nil
}

// stringList reads a policy element that may be one value or a list; a
// condition's booleans and numbers are read as their JSON text.
func stringList(raw json.RawMessage) ([]string, error) {
	var one any
	if err := json.Unmarshal(raw, &one); err != nil {
		return nil, err
	}
	items, isList := one.([]any)
	if !isList {
		items = []any{one}
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		switch v := it.(type) {
		case string:
			out = append(out, v)
		case bool, float64:
			out = append(out, fmt.Sprint(v))
		default:
			return nil, fmt.Errorf("values must be strings, got %T", it)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("an empty list matches nothing")
	}
	return out, nil
}

// iamState is the policy in force; the zero value enforces nothing.
type iamState struct {
	doc    []byte
	policy *Policy
	err    error // the configured policy does not parse: every call is denied
}

func loadPolicy(doc []byte) iamState {
	if len(bytes.TrimSpace(doc)) == 0 || string(bytes.TrimSpace(doc)) == "null" {
		return iamState{}
	}
	p, err := ParsePolicy(doc)
	return iamState{doc: append([]byte(nil), doc...), policy: p, err: err}
}

func (st iamState) enforced() bool { return st.policy != nil || st.err != nil }

// SetPolicy replaces the IAM policy every caller is held to; nil or empty
// turns enforcement off. A policy that does not parse is refused and the
// previous one stays.
func (s *Sim) SetPolicy(doc []byte) error {
	st := loadPolicy(doc)
	if st.err != nil {
		return st.err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.iam = st
	return nil
}

// Policy is the IAM policy document in force, nil when none is.
func (s *Sim) Policy() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.iam.doc...)
}

// callerARNLocked is the ARN AWS names a caller by, as GetCallerIdentity
// reports it: the fleetsim user for static keys, the assumed-role session for
// credentials AssumeRole* issued.
func (s *Sim) callerARNLocked(accessKey string) string {
	if t, ok := s.tempCreds[accessKey]; ok {
		return t.arn
	}
	return "arn:aws:iam::" + s.opts.AccountID + ":user/fleetsim"
}

// principalKeysLocked are the global condition keys of the caller.
func (s *Sim) principalKeysLocked(accessKey string) map[string][]string {
	keys := map[string][]string{
		"aws:principalaccount":      {s.opts.AccountID},
		"aws:requestedregion":       {s.opts.Region},
		"aws:securetransport":       {"true"}, // clients reach AWS over TLS; the simulator stands in for that
		"aws:viaawsservice":         {"false"},
		"aws:principalisawsservice": {"false"},
	}
	if t, ok := s.tempCreds[accessKey]; ok {
		// arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION -> the role's ARN.
		role := strings.TrimPrefix(t.arn, "arn:aws:sts::"+s.opts.AccountID+":assumed-role/")
		role, _, _ = strings.Cut(role, "/")
		keys["aws:principalarn"] = []string{"arn:aws:iam::" + s.opts.AccountID + ":role/" + role}
		keys["aws:principaltype"] = []string{"AssumedRole"}
		keys["aws:userid"] = []string{t.userID}
	} else {
		keys["aws:principalarn"] = []string{s.callerARNLocked(accessKey)}
		keys["aws:principaltype"] = []string{"User"}
		keys["aws:username"] = []string{"fleetsim"}
	}
	return keys
}

// sortedConditionKeys lists a context's keys in order, for stable messages.
func sortedConditionKeys(ctx map[string][]string) []string {
	keys := make([]string, 0, len(ctx))
	for k := range ctx {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
