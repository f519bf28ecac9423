package fleetsim

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
)

// iamPrefix is the IAM service prefix of a signing name.
func iamPrefix(service string) string {
	if service == "monitoring" {
		return "cloudwatch"
	}
	return service
}

// authorizeLocked holds a decoded, authenticated call to the policy in force
// before it is served (and before throttling, which AWS applies to calls it
// accepted). A nil error means go on.
func (s *Sim) authorizeLocked(req *apiRequest) *apiError {
	if !s.iam.enforced() || req.action == "" {
		return nil
	}
	rule, known := iamRules[req.service][req.action]
	if known && rule.skip {
		return nil
	}
	caller := s.callerARNLocked(req.accessKey)
	action := iamPrefix(req.service) + ":" + req.action
	if s.iam.err != nil {
		return accessDeniedError(req, fmt.Sprintf("User: %s is not authorized to perform: %s because the simulator's IAM policy does not parse, so fleetsim denies every call (%v)", caller, action, s.iam.err), "")
	}
	if !known {
		return accessDeniedError(req, fmt.Sprintf("User: %s is not authorized to perform: %s because fleetsim has no IAM authorization rule for it (add one to iamRules in internal/fleetsim/iam_actions.go)", caller, action), "")
	}
	main, deps, ok := rule.build(s, req)
	if !ok {
		return nil
	}
	principal := s.principalKeysLocked(req.accessKey)
	for i, r := range append([]authRequest{main}, deps...) {
		if len(r.resources) == 0 {
			r.resources = []authResource{{arn: "*"}}
		}
		keys := make(map[string][]string, len(principal)+len(r.keys))
		for k, v := range principal {
			keys[k] = v
		}
		for k, v := range r.keys {
			keys[k] = v
		}
		r.keys = keys
		d := s.iam.policy.authorize(r)
		if d.allowed {
			continue
		}
		msg := denialMessage(caller, r.action, d)
		if i > 0 {
			// A dependent call (KMS for a SecureString) fails inside the
			// service, which passes KMS's answer on.
			msg += " (Service: AWSKMS; Status Code: 400; Error Code: AccessDeniedException)"
		}
		encoded := ""
		if req.proto == protoEC2 && d.resource != "*" {
			encoded = encodedAuthorizationMessage(caller, r.action, d)
		}
		return accessDeniedError(req, msg, encoded)
	}
	return nil
}

// denialMessage is the message AWS gives a denied call ("User: ARN is not
// authorized to perform: ACTION on resource: ARN because no identity-based
// policy allows the ACTION action"); calls on "*" name no resource.
func denialMessage(caller, action string, d decision) string {
	on := ""
	if d.resource != "*" && d.resource != "" {
		on = " on resource: " + d.resource
	}
	if d.explicitDeny {
		return fmt.Sprintf("User: %s is not authorized to perform: %s%s with an explicit deny in an identity-based policy", caller, action, on)
	}
	return fmt.Sprintf("User: %s is not authorized to perform: %s%s because no identity-based policy allows the %s action", caller, action, on, action)
}

// accessDeniedError shapes a denial per protocol, as each service answers:
// EC2 UnauthorizedOperation (HTTP 403) with the encoded authorization
// message; SSM's JSON AccessDeniedException (HTTP 400); AccessDenied (HTTP
// 403) for the query services (ELBv2, Auto Scaling, STS) and CloudWatch,
// whose JSON and CBOR errors carry it in the query-compatible header too.
func accessDeniedError(req *apiRequest, message, encoded string) *apiError {
	switch {
	case req.proto == protoEC2:
		msg := "You are not authorized to perform this operation. " + message
		if encoded != "" {
			msg += ". Encoded authorization failure message: " + encoded
		}
		return &apiError{status: http.StatusForbidden, code: "UnauthorizedOperation", message: msg}
	case req.service == "ssm", req.service == "events":
		return &apiError{status: http.StatusBadRequest, code: "AccessDeniedException", message: message}
	}
	return &apiError{status: http.StatusForbidden, code: "AccessDenied", message: message}
}

// encodedAuthorizationMessage mirrors the shape sts:DecodeAuthorizationMessage
// returns (allowed, explicitDeny, matchedStatements, context). AWS encrypts
// it; fleetsim only base64url-encodes the JSON so a test can read it.
func encodedAuthorizationMessage(caller, action string, d decision) string {
	type value struct {
		Value string `json:"value"`
	}
	type cond struct {
		Key    string `json:"key"`
		Values struct {
			Items []value `json:"items"`
		} `json:"values"`
	}
	var msg struct {
		Allowed           bool `json:"allowed"`
		ExplicitDeny      bool `json:"explicitDeny"`
		MatchedStatements struct {
			Items []map[string]string `json:"items"`
		} `json:"matchedStatements"`
		Context struct {
			Principal  map[string]string `json:"principal"`
			Action     string            `json:"action"`
			Resource   string            `json:"resource"`
			Conditions struct {
				Items []cond `json:"items"`
			} `json:"conditions"`
		} `json:"context"`
	}
	msg.ExplicitDeny = d.explicitDeny
	msg.MatchedStatements.Items = []map[string]string{}
	if d.explicitDeny {
		msg.MatchedStatements.Items = append(msg.MatchedStatements.Items, map[string]string{"statementId": d.sid, "effect": "DENY"})
	}
	msg.Context.Principal = map[string]string{"arn": caller}
	msg.Context.Action = action
	msg.Context.Resource = d.resource
	msg.Context.Conditions.Items = []cond{}
	for _, k := range sortedConditionKeys(d.context) {
		c := cond{Key: k}
		for _, v := range d.context[k] {
			c.Values.Items = append(c.Values.Items, value{v})
		}
		msg.Context.Conditions.Items = append(msg.Context.Conditions.Items, c)
	}
	b, _ := json.Marshal(msg)
	return base64.RawURLEncoding.EncodeToString(b)
}
