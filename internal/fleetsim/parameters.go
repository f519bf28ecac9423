package fleetsim

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Parameter Store's model: named parameters with up to 100 versions, labels,
// tags and tiers. SecureString values are kept in plaintext here (the model
// must hand them to instances) and as a ciphertext that GetParameter returns
// without WithDecryption; nothing outside this file and api_parameters.go
// sees either, and the recorder and the admin API never do. The wire
// handlers live in api_parameters.go.

// Parameter types and tiers as Parameter Store names them.
const (
	ParamString       = "String"
	ParamStringList   = "StringList"
	ParamSecureString = "SecureString"

	TierStandard           = "Standard"
	TierAdvanced           = "Advanced"
	TierIntelligentTiering = "Intelligent-Tiering"
)

const (
	// defaultParamKeyID is the AWS managed key SecureStrings use when the
	// request names none.
	defaultParamKeyID  = "alias/aws/ssm"
	maxParamVersions   = 100
	maxParamDepth      = 15
	standardValueLimit = 4096 // bytes, standard tier
	advancedValueLimit = 8192 // bytes, advanced tier
	// maxNameWithARN is the limit on the name plus the ARN prefix before it
	// (arn:aws:ssm:REGION:ACCOUNT:parameter/), per PutParameter's reference.
	maxNameWithARN          = 1011
	maxStandardParameters   = 10000
	maxLabelsPerVersion     = 10
	redactedParameterValue  = "HIDDEN_DUE_TO_SECURITY_REASONS"
	reservedParameterPrefix = `Parameter name: can't be prefixed with "aws" or "ssm" (case-insensitive).`
)

type parameter struct {
	name     string
	versions []*paramVersion // oldest first
	tags     map[string]string
}

type paramVersion struct {
	version     int64
	typ         string
	value       string // plaintext, also for SecureString
	cipher      string // SecureString only: what GetParameter returns without decryption
	keyID       string // SecureString only
	description string
	pattern     string
	dataType    string
	tier        string
	modified    time.Time // simulated
	user        string    // the caller's ARN
	labels      []string
}

func (p *parameter) latest() *paramVersion { return p.versions[len(p.versions)-1] }

func (p *parameter) version(v int64) *paramVersion {
	for _, pv := range p.versions {
		if pv.version == v {
			return pv
		}
	}
	return nil
}

func (p *parameter) labelled(label string) *paramVersion {
	for _, pv := range p.versions {
		if containsString(pv.labels, label) {
			return pv
		}
	}
	return nil
}

// displayValue is the Value field of a response: the ciphertext of a
// SecureString unless the caller asked for decryption.
func (pv *paramVersion) displayValue(decrypt bool) string {
	if pv.typ == ParamSecureString && !decrypt {
		return pv.cipher
	}
	return pv.value
}

func (s *Sim) parametersLocked() map[string]*parameter {
	if s.parameters == nil {
		s.parameters = map[string]*parameter{}
	}
	return s.parameters
}

// parameterARN follows the SSM ARN format: the name without its leading
// slash after "parameter/" (arn:aws:ssm:us-east-1:123456789012:parameter/a/b
// for /a/b).
func (s *Sim) parameterARN(name string) string {
	return fmt.Sprintf("arn:aws:ssm:%s:%s:parameter/%s", s.opts.Region, s.opts.AccountID, strings.TrimPrefix(name, "/"))
}

func validParamChars(name string) bool {
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '.', r == '-', r == '/':
		default:
			return false
		}
	}
	return true
}

const paramNameRules = "Parameter name: can't be prefixed with \"aws\" or \"ssm\" (case-insensitive). If formed as a path, it can consist of sub-paths divided by slash symbol; each sub-path can be formed as a mix of letters, numbers and the following 3 symbols .-_"

// validateParamName applies the naming rules of PutParameter's reference:
// surrounding spaces are removed, inner spaces and characters outside
// a-zA-Z0-9_.-/ are refused, a hierarchy starts with "/" and has at most 15
// levels, "aws"/"ssm" prefixes are reserved (a path under /aws is AWS's own:
// AccessDeniedException), and name plus ARN prefix fit in 1,011 characters.
// It returns the name as stored.
func (s *Sim) validateParamName(raw string) (string, *apiError) {
	name := strings.Trim(raw, " ")
	if name == "" {
		return "", clientErr("ValidationException", "1 validation error detected: Value '%s' at 'name' failed to satisfy constraint: Member must have length greater than or equal to 1", raw)
	}
	if len(name) > 2048 {
		return "", clientErr("ValidationException", "1 validation error detected: Value at 'name' failed to satisfy constraint: Member must have length less than or equal to 2048")
	}
	bare := strings.TrimPrefix(name, "/")
	lower := strings.ToLower(bare)
	if strings.HasPrefix(lower, "aws") || strings.HasPrefix(lower, "ssm") {
		if strings.HasPrefix(strings.ToLower(name), "/aws/") {
			return "", clientErr("AccessDeniedException", "No access to reserved parameter name: %s.", name)
		}
		if strings.Contains(name, "/") {
			return "", clientErr("ValidationException", "%s", paramNameRules)
		}
		return "", clientErr("ValidationException", "%s", reservedParameterPrefix)
	}
	if strings.Contains(name, " ") || !validParamChars(name) {
		return "", clientErr("ValidationException", "%s", paramNameRules)
	}
	if strings.Contains(name, "/") && (!strings.HasPrefix(name, "/") || strings.Contains(name, "//") || strings.HasSuffix(name, "/")) {
		return "", clientErr("ValidationException", "Parameter name must be a fully qualified name: a hierarchy starts with a forward slash (/) and has no empty levels (%s)", name)
	}
	if strings.Count(bare, "/")+1 > maxParamDepth {
		return "", clientErr("HierarchyLevelLimitExceededException", "A hierarchy can have a maximum of 15 levels. For more information, see Requirements and constraints for parameter names in the AWS Systems Manager User Guide.")
	}
	if n := len(s.parameterARN(name)); n > maxNameWithARN {
		return "", clientErr("ValidationException", "Parameter name %s is too long: with its ARN prefix it has %d characters, at most %d are allowed", name, n, maxNameWithARN)
	}
	return name, nil
}

// validateParamPath checks a GetParametersByPath / Path-filter hierarchy and
// returns it without a trailing slash ("/" stays "/").
func validateParamPath(path string) (string, *apiError) {
	if !strings.HasPrefix(path, "/") || strings.Contains(path, "//") || strings.Contains(path, " ") || !validParamChars(path) {
		return "", clientErr("ValidationException", "The parameter doesn't meet the parameter name requirements. The parameter name must begin with a forward slash \"/\". It can't be prefixed with \"aws\" or \"ssm\" (case-insensitive). It must use only letters, numbers, or the following symbols: . (period), - (hyphen), _ (underscore). Special characters are not allowed. All sub-paths, if specified, must use the forward slash symbol \"/\". Valid example: /get/parameters2-/by1./path0_.")
	}
	if path != "/" {
		path = strings.TrimSuffix(path, "/")
	}
	if strings.Count(path, "/") > maxParamDepth {
		return "", clientErr("HierarchyLevelLimitExceededException", "A hierarchy can have a maximum of 15 levels. For more information, see Requirements and constraints for parameter names in the AWS Systems Manager User Guide.")
	}
	return path, nil
}

// underPath says whether name lies under path: directly (one level) or, with
// recursive, at any depth. Names without a leading slash are in no
// hierarchy.
func underPath(name, path string, recursive bool) bool {
	prefix := path
	if path != "/" {
		prefix += "/"
	}
	rest, ok := strings.CutPrefix(name, prefix)
	if !ok || rest == "" {
		return false
	}
	return recursive || !strings.Contains(rest, "/")
}

// paramRef is a parameter reference as Get* calls accept it: a name or ARN,
// optionally followed by ":VERSION" or ":LABEL".
type paramRef struct {
	name     string
	selector string // "" or ":5" / ":prod", echoed back as Selector
	version  int64
	label    string
}

func (s *Sim) parseParamRef(ref string) paramRef {
	prefix := fmt.Sprintf("arn:aws:ssm:%s:%s:parameter/", s.opts.Region, s.opts.AccountID)
	var r paramRef
	rest := ref
	fromARN := false
	if after, ok := strings.CutPrefix(ref, prefix); ok {
		rest, fromARN = after, true
	}
	if i := strings.IndexByte(rest, ':'); i >= 0 {
		r.selector = rest[i:]
		sel := rest[i+1:]
		rest = rest[:i]
		var v int64
		if _, err := fmt.Sscanf(sel, "%d", &v); err == nil && fmt.Sprint(v) == sel {
			r.version = v
		} else {
			r.label = sel
		}
	}
	r.name = rest
	if fromARN {
		// The ARN drops the leading slash; /a/b and a are both spelled
		// parameter/a/b and parameter/a, so prefer the hierarchical name.
		if _, ok := s.parametersLocked()["/"+rest]; ok || strings.Contains(rest, "/") {
			r.name = "/" + rest
		}
	}
	return r
}

// resolveLocked finds the version a reference names: the latest, a version
// number or a label.
func (s *Sim) resolveParamLocked(r paramRef) (*parameter, *paramVersion, *apiError) {
	p := s.parametersLocked()[r.name]
	if p == nil {
		return nil, nil, &apiError{status: 400, code: "ParameterNotFound"}
	}
	switch {
	case r.version > 0:
		if pv := p.version(r.version); pv != nil {
			return p, pv, nil
		}
		return nil, nil, clientErr("ParameterVersionNotFound", "Systems Manager could not find version %d of %s. Verify the version and try again.", r.version, r.name)
	case r.label != "":
		if pv := p.labelled(r.label); pv != nil {
			return p, pv, nil
		}
		return nil, nil, &apiError{status: 400, code: "ParameterNotFound"}
	}
	return p, p.latest(), nil
}

// encryptLocked makes a ciphertext that looks like a KMS blob (base64 of a
// versioned header, a key digest, a nonce and the masked bytes): what
// GetParameter returns for a SecureString without WithDecryption. It hides
// the plaintext from casual reads; it is not cryptography and needs none.
func (s *Sim) encryptLocked(keyID, plaintext string) string {
	key := sha256.Sum256([]byte("fleetsim-kms:" + keyID))
	nonce := make([]byte, 12)
	for i := range nonce {
		nonce[i] = byte(s.rng.IntN(256))
	}
	out := append([]byte{0x01, 0x02, 0x02, 0x00, 0x78}, key[:16]...)
	out = append(out, nonce...)
	var block [sha256.Size]byte
	for i := 0; i < len(plaintext); i++ {
		if i%sha256.Size == 0 {
			var ctr [8]byte
			binary.BigEndian.PutUint64(ctr[:], uint64(i/sha256.Size))
			block = sha256.Sum256(append(append(key[:], nonce...), ctr[:]...))
		}
		out = append(out, plaintext[i]^block[i%sha256.Size])
	}
	return base64.StdEncoding.EncodeToString(out)
}

// ParameterSummary is a parameter as tests and the admin API see it: never
// its value.
type ParameterSummary struct {
	Name             string            `json:"name"`
	ARN              string            `json:"arn"`
	Type             string            `json:"type"`
	Version          int64             `json:"version"`
	Tier             string            `json:"tier"`
	KeyID            string            `json:"key_id,omitempty"`
	LastModified     time.Time         `json:"last_modified"` // simulated
	LastModifiedUser string            `json:"last_modified_user"`
	Labels           map[string]int64  `json:"labels,omitempty"` // label -> version
	Tags             map[string]string `json:"tags,omitempty"`
}

// Parameters lists the parameters in Parameter Store by name (GET
// /_sim/parameters), so tests can assert that nothing was left behind.
func (s *Sim) Parameters() []ParameterSummary {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked()
	params := s.parametersLocked()
	out := make([]ParameterSummary, 0, len(params))
	for _, name := range sortedKeys(params) {
		p := params[name]
		pv := p.latest()
		sum := ParameterSummary{Name: name, ARN: s.parameterARN(name), Type: pv.typ, Version: pv.version, Tier: pv.tier,
			KeyID: pv.keyID, LastModified: pv.modified, LastModifiedUser: pv.user}
		for _, v := range p.versions {
			for _, l := range v.labels {
				if sum.Labels == nil {
					sum.Labels = map[string]int64{}
				}
				sum.Labels[l] = v.version
			}
		}
		if len(p.tags) > 0 {
			sum.Tags = map[string]string{}
			for k, v := range p.tags {
				sum.Tags[k] = v
			}
		}
		out = append(out, sum)
	}
	return out
}

func (s *Sim) sortedParametersLocked() []*parameter {
	params := s.parametersLocked()
	out := make([]*parameter, 0, len(params))
	for _, p := range params {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func (s *Sim) standardParameterCountLocked() int {
	n := 0
	for _, p := range s.parametersLocked() {
		if p.latest().tier == TierStandard {
			n++
		}
	}
	return n
}
