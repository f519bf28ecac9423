package fleetsim

import (
	"fmt"
	"strings"
)

// Systems Manager's entries of iamRules: documents, instances and parameters
// as the SSM page of the Service Authorization Reference lists them, and the
// KMS calls SSM makes on the caller's behalf for SecureStrings under a
// customer managed key (the AWS managed alias/aws/ssm needs no identity
// policy grant: its key policy allows use through SSM).

// documentARN is arn:aws:ssm:REGION:ACCOUNT:document/NAME, without the
// account for AWS-owned documents (arn:aws:ssm:REGION::document/AWS-...).
func (s *Sim) documentARN(name string) string {
	if strings.HasPrefix(name, "arn:") {
		return name
	}
	d := s.documents[name]
	if d != nil && d.owner == "Amazon" || d == nil && strings.HasPrefix(name, "AWS-") {
		return fmt.Sprintf("arn:aws:ssm:%s::document/%s", s.opts.Region, name)
	}
	return fmt.Sprintf("arn:aws:ssm:%s:%s:document/%s", s.opts.Region, s.opts.AccountID, name)
}

func documentRule(action string) iamRule {
	return iamRule{build: func(s *Sim, req *apiRequest) (authRequest, []authRequest, bool) {
		var in struct {
			Name string `json:"Name"`
		}
		if decodeBody(req, &in) != nil {
			return authRequest{}, nil, false
		}
		return authRequest{action: action, resources: []authResource{{arn: s.documentARN(in.Name)}}}, nil, true
	}}
}

// iamSendCommand authorizes on the document and on every instance (with the
// instance's tags as ssm:resourceTag/aws:ResourceTag). Commands sent to
// Targets are authorized on instance/* (assumed: the instances are not known
// when IAM decides).
func (s *Sim) iamSendCommand(req *apiRequest) (authRequest, []authRequest, bool) {
	var in sendCommandInput
	if decodeBody(req, &in) != nil {
		return authRequest{}, nil, false
	}
	r := authRequest{action: "ssm:SendCommand", resources: []authResource{{arn: s.documentARN(in.DocumentName)}}}
	for _, id := range in.InstanceIds {
		r.resources = append(r.resources, s.instanceResourceLocked(id, "aws:ResourceTag", "ssm:resourceTag"))
	}
	if len(in.Targets) > 0 {
		r.resources = append(r.resources, authResource{arn: fmt.Sprintf("arn:aws:ec2:%s:%s:instance/*", s.opts.Region, s.opts.AccountID)})
	}
	return r, nil, true
}

func (s *Sim) parameterResourceLocked(name string) authResource {
	res := authResource{arn: s.parameterARN(name)}
	if p := s.parametersLocked()[name]; p != nil {
		res.keys = tagKeys(p.tags, "aws:ResourceTag", "ssm:resourceTag")
	}
	return res
}

// kmsKeyARN names the key a KeyId refers to. fleetsim has no KMS, so an
// alias stays an alias ARN instead of resolving to its key (assumed).
func (s *Sim) kmsKeyARN(keyID string) string {
	switch {
	case strings.HasPrefix(keyID, "arn:"):
		return keyID
	case strings.HasPrefix(keyID, "alias/"):
		return fmt.Sprintf("arn:aws:kms:%s:%s:%s", s.opts.Region, s.opts.AccountID, keyID)
	}
	return fmt.Sprintf("arn:aws:kms:%s:%s:key/%s", s.opts.Region, s.opts.AccountID, keyID)
}

// kmsRequestLocked is the KMS call SSM makes for a SecureString, or nil for
// the AWS managed key.
func (s *Sim) kmsRequestLocked(action, keyID, paramName string) *authRequest {
	if keyID == "" || keyID == defaultParamKeyID || strings.HasSuffix(keyID, ":"+defaultParamKeyID) {
		return nil
	}
	return &authRequest{action: action, resources: []authResource{{arn: s.kmsKeyARN(keyID)}}, keys: map[string][]string{
		"kms:viaservice": {"ssm." + s.opts.Region + ".amazonaws.com"},
		// SSM binds each ciphertext to its parameter.
		"kms:encryptioncontext:parameter_arn": {s.parameterARN(paramName)},
		"kms:calleraccount":                   {s.opts.AccountID},
	}}
}

func (s *Sim) decryptRequestsLocked(p *parameter, versions []*paramVersion, reqs []authRequest) []authRequest {
	for _, pv := range versions {
		if pv.typ != ParamSecureString {
			continue
		}
		if k := s.kmsRequestLocked("kms:Decrypt", pv.keyID, p.name); k != nil {
			reqs = append(reqs, *k)
		}
	}
	return reqs
}

// parameterRule authorizes on the named parameters (selectors and ARNs
// resolved to names) or, for GetParametersByPath, on the path; with
// WithDecryption each SecureString read also needs kms:Decrypt.
func parameterRule(action string) iamRule {
	return iamRule{build: func(s *Sim, req *apiRequest) (authRequest, []authRequest, bool) {
		var in struct {
			Name           string   `json:"Name"`
			Names          []string `json:"Names"`
			Path           string   `json:"Path"`
			Recursive      bool     `json:"Recursive"`
			WithDecryption bool     `json:"WithDecryption"`
		}
		if decodeBody(req, &in) != nil {
			return authRequest{}, nil, false
		}
		r := authRequest{action: action}
		var deps []authRequest
		if action == "ssm:GetParametersByPath" {
			path := in.Path
			if path != "/" {
				path = strings.TrimSuffix(path, "/")
			}
			r.resources = []authResource{{arn: s.parameterARN(path)}}
			r.keys = map[string][]string{"ssm:recursive": {fmt.Sprint(in.Recursive)}}
			if in.WithDecryption {
				for _, p := range s.sortedParametersLocked() {
					if underPath(p.name, path, in.Recursive) {
						deps = s.decryptRequestsLocked(p, []*paramVersion{p.latest()}, deps)
					}
				}
			}
			return r, deps, true
		}
		names := in.Names
		if in.Name != "" {
			names = append([]string{in.Name}, names...)
		}
		for _, n := range names {
			ref := s.parseParamRef(n)
			r.resources = append(r.resources, s.parameterResourceLocked(ref.name))
			if !in.WithDecryption {
				continue
			}
			if action == "ssm:GetParameterHistory" {
				if p := s.parametersLocked()[ref.name]; p != nil {
					deps = s.decryptRequestsLocked(p, p.versions, deps)
				}
			} else if p, pv, err := s.resolveParamLocked(ref); err == nil {
				deps = s.decryptRequestsLocked(p, []*paramVersion{pv}, deps)
			}
		}
		return r, deps, true
	}}
}

// iamPutParameter adds the request's tags (aws:RequestTag, aws:TagKeys) and
// ssm:Overwrite, and kms:Encrypt (kms:GenerateDataKey for the advanced tier)
// for a SecureString under a customer managed key.
func (s *Sim) iamPutParameter(req *apiRequest) (authRequest, []authRequest, bool) {
	var in putParameterInput
	if decodeBody(req, &in) != nil {
		return authRequest{}, nil, false
	}
	name := strings.Trim(in.Name, " ")
	var keys []string
	values := map[string]string{}
	for _, t := range in.Tags {
		keys = append(keys, t.Key)
		values[t.Key] = t.Value
	}
	r := authRequest{action: "ssm:PutParameter", resources: []authResource{s.parameterResourceLocked(name)}, keys: requestTagKeys(keys, values)}
	r.keys["ssm:overwrite"] = []string{fmt.Sprint(in.Overwrite)}
	typ, keyID, advanced := in.Type, "", in.Tier == TierAdvanced
	if p := s.parametersLocked()[name]; p != nil {
		prev := p.latest()
		if typ == "" {
			typ = prev.typ
		}
		if prev.typ == ParamSecureString {
			keyID = prev.keyID
		}
		advanced = advanced || prev.tier == TierAdvanced
	}
	if in.KeyId != nil {
		keyID = *in.KeyId
	}
	var deps []authRequest
	if typ == ParamSecureString {
		action := "kms:Encrypt"
		if advanced {
			action = "kms:GenerateDataKey"
		}
		if k := s.kmsRequestLocked(action, keyID, name); k != nil {
			deps = append(deps, *k)
		}
	}
	return r, deps, true
}
