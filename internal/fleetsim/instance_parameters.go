package fleetsim

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// An instance reading Parameter Store from a command, the way a script on a
// real instance does with the AWS CLI and its instance profile's
// credentials:
//
//	NAME="$(aws ssm get-parameter --name P --with-decryption --query Parameter.Value --output text)" || exit N; export NAME
//
// resolves P from the simulator's Parameter Store as the instance's own
// caller (the role InstanceProfileRole, session = the instance id), held to
// the policy SetInstanceProfilePolicy set (none = allowed). A missing or
// denied parameter writes the AWS CLI's error to stderr and fails the line
// with N (254, the CLI's exit code for a service error, without "|| exit N").
// The other spelling, export NAME="$(...)", is a trap on a real shell and
// here too: export's own status (0) hides the failure, the line succeeds and
// NAME is empty. The value lands in the invocation's environment, which
// nothing outputs; InvocationEnv gives its digest. Later lines do not expand
// variables. The read is recorded like any call (CloudTrail records the
// instance's GetParameter): name and flags, never the value.

// InstanceProfileRole is the role the simulated instances' credentials come
// from; InstanceProfileAccessKeyID marks their calls in the recorder.
const (
	InstanceProfileRole        = "fleetsim-instance"
	InstanceProfileAccessKeyID = "ASIAFLEETSIMINSTANCE"
)

// cliServiceErrorExit is the AWS CLI v2 exit status for an error the service
// returned.
const cliServiceErrorExit = 254

var parameterReadLine = regexp.MustCompile(`^(export\s+)?([A-Za-z_][A-Za-z0-9_]*)="\$\(aws ssm get-parameter\s+([^)]*)\)"` +
	`(?:\s*\|\|\s*exit\s+([0-9]+))?(?:\s*;\s*export\s+([A-Za-z_][A-Za-z0-9_]*))?\s*;?$`)

// SetInstanceProfilePolicy holds the instances' own calls to an IAM policy
// document (the instance profile role's policy); nil or empty allows them.
// A policy that does not parse is refused and the previous one stays.
func (s *Sim) SetInstanceProfilePolicy(doc []byte) error {
	st := loadPolicy(doc)
	if st.err != nil {
		return st.err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.instanceIAM = st
	return nil
}

// InvocationEnv is the environment a command's lines set on an instance, as
// "sha256:HEX" digests of the values: enough for a test to check what an
// instance received without the simulator handing secrets out.
func (s *Sim) InvocationEnv(commandID, instanceID string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked()
	c := s.commands[commandID]
	if c == nil || c.byInstance[instanceID] == nil {
		return nil
	}
	out := map[string]string{}
	for k, v := range c.byInstance[instanceID].env {
		sum := sha256.Sum256([]byte(v))
		out[k] = "sha256:" + hex.EncodeToString(sum[:])
	}
	return out
}

// parameterLineLocked runs a Parameter Store read line; ok=false when line is
// not one.
func (s *Sim) parameterLineLocked(inv *invocation, inst *instance, line string) (code int, ok bool) {
	m := parameterReadLine.FindStringSubmatch(line)
	if m == nil {
		return 0, false
	}
	exported, name, args := m[1] != "", m[2], cliArgs(m[3])
	value, cliErr := s.instanceGetParameterLocked(inst, args)
	if cliErr != "" {
		appendCapped(&inv.stderr, "\n"+cliErr+"\n", maxStderr)
		value = ""
	}
	if inv.env == nil {
		inv.env = map[string]string{}
	}
	inv.env[name] = value
	switch {
	case cliErr == "" || exported:
		return 0, true
	case m[4] != "":
		n, _ := strconv.Atoi(m[4])
		return n & 0xff, true
	}
	return cliServiceErrorExit, true
}

// cliArgs splits an AWS CLI argument string on blanks, honouring single and
// double quotes, into option -> value ("" for a flag).
func cliArgs(s string) map[string]string {
	var words []string
	var cur strings.Builder
	quote, inWord := byte(0), false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case quote != 0 && ch == quote:
			quote = 0
		case quote != 0:
			cur.WriteByte(ch)
		case ch == '\'' || ch == '"':
			quote, inWord = ch, true
		case ch == ' ' || ch == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(ch)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	out := map[string]string{}
	for i := 0; i < len(words); i++ {
		opt := words[i]
		if !strings.HasPrefix(opt, "--") {
			continue
		}
		if i+1 < len(words) && !strings.HasPrefix(words[i+1], "--") {
			out[opt] = words[i+1]
			i++
		} else {
			out[opt] = ""
		}
	}
	return out
}

// instanceGetParameterLocked is GetParameter as the instance's CLI makes it:
// the printed value, or the CLI's error text.
func (s *Sim) instanceGetParameterLocked(inst *instance, args map[string]string) (string, string) {
	_, decrypt := args["--with-decryption"]
	ref := s.parseParamRef(args["--name"])
	call := Call{Service: "ssm", Action: "GetParameter", Protocol: protoJSON.String(), AccessKeyID: InstanceProfileAccessKeyID,
		InstanceIDs: []string{inst.id}, Params: map[string]string{"Name": args["--name"], "WithDecryption": strconv.FormatBool(decrypt)},
		SimTime: s.now, WallTime: time.Now(), HTTPStatus: http.StatusOK}
	fail := func(code, message string) (string, string) {
		call.ErrorCode, call.HTTPStatus = code, http.StatusBadRequest
		s.recorder.recordLocked(call)
		return "", "An error occurred (" + code + ") when calling the GetParameter operation: " + message
	}
	if r := args["--region"]; r != "" && r != s.opts.Region {
		// Another region's Parameter Store, which holds nothing here.
		return fail("ParameterNotFound", "")
	}
	if denied := s.instanceDeniedLocked(inst, ref.name, decrypt); denied != "" {
		return fail("AccessDeniedException", denied)
	}
	p, pv, aerr := s.resolveParamLocked(ref)
	if aerr != nil {
		return fail(aerr.code, aerr.message)
	}
	s.recorder.recordLocked(call)
	value := pv.displayValue(decrypt)
	if args["--query"] != "Parameter.Value" {
		doc, _ := json.Marshal(map[string]any{"Parameter": s.parameterJSON(p, pv, ref.selector, decrypt)})
		return string(doc), ""
	}
	if args["--output"] != "text" {
		q, _ := json.Marshal(value)
		return string(q), ""
	}
	return value, ""
}

// instanceDeniedLocked authorizes the read (and, decrypting under a customer
// managed key, the kms:Decrypt SSM makes for it) against the instance
// profile's policy; "" = allowed.
func (s *Sim) instanceDeniedLocked(inst *instance, name string, decrypt bool) string {
	if !s.instanceIAM.enforced() {
		return ""
	}
	reqs := []authRequest{{action: "ssm:GetParameter", resources: []authResource{s.parameterResourceLocked(name)}}}
	if decrypt {
		if p, pv, err := s.resolveParamLocked(paramRef{name: name}); err == nil {
			reqs = s.decryptRequestsLocked(p, []*paramVersion{pv}, reqs)
		}
	}
	role := "arn:aws:iam::" + s.opts.AccountID + ":role/" + InstanceProfileRole
	caller := "arn:aws:sts::" + s.opts.AccountID + ":assumed-role/" + InstanceProfileRole + "/" + inst.id
	principal := map[string][]string{
		"aws:principalaccount":  {s.opts.AccountID},
		"aws:principalarn":      {role},
		"aws:principaltype":     {"AssumedRole"},
		"aws:requestedregion":   {s.opts.Region},
		"aws:securetransport":   {"true"},
		"aws:userid":            {"AROAFLEETSIMINSTANCE:" + inst.id},
		"ec2:sourceinstancearn": {"arn:aws:ec2:" + s.opts.Region + ":" + s.opts.AccountID + ":instance/" + inst.id},
	}
	for i, r := range reqs {
		keys := map[string][]string{}
		for k, v := range principal {
			keys[k] = v
		}
		for k, v := range r.keys {
			keys[k] = v
		}
		r.keys = keys
		if d := s.instanceIAM.policy.authorize(r); !d.allowed {
			msg := denialMessage(caller, r.action, d)
			if i > 0 {
				msg += " (Service: AWSKMS; Status Code: 400; Error Code: AccessDeniedException)"
			}
			return msg
		}
	}
	return ""
}
