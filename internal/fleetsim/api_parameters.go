package fleetsim

import (
	"regexp"
	"strconv"
	"strings"
)

// parameterActions are Parameter Store's operations (awsJson1_1, target
// AmazonSSM.X), shapes and errors per the SSM API reference and the SDK
// models. Reads and listings are in api_parameters_read.go.
var parameterActions = map[string]jsonHandler{
	"PutParameter":          (*Sim).ssmPutParameter,
	"GetParameter":          (*Sim).ssmGetParameter,
	"GetParameters":         (*Sim).ssmGetParameters,
	"GetParametersByPath":   (*Sim).ssmGetParametersByPath,
	"DeleteParameter":       (*Sim).ssmDeleteParameter,
	"DeleteParameters":      (*Sim).ssmDeleteParameters,
	"DescribeParameters":    (*Sim).ssmDescribeParameters,
	"GetParameterHistory":   (*Sim).ssmGetParameterHistory,
	"LabelParameterVersion": (*Sim).ssmLabelParameterVersion,
}

// Merged into ssmActions here, not listed there, so that Run Command's file
// and this one change independently; a name served twice is a bug caught at
// start-up.
func init() {
	for name, h := range parameterActions {
		if ssmActions[name] != nil {
			panic("fleetsim: SSM action " + name + " is registered twice")
		}
		ssmActions[name] = h
	}
}

type ssmTag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

type putParameterInput struct {
	Name           string   `json:"Name"`
	Description    *string  `json:"Description"`
	Value          *string  `json:"Value"`
	Type           string   `json:"Type"`
	KeyId          *string  `json:"KeyId"`
	Overwrite      bool     `json:"Overwrite"`
	AllowedPattern *string  `json:"AllowedPattern"`
	Tags           []ssmTag `json:"Tags"`
	Tier           string   `json:"Tier"`
	Policies       *string  `json:"Policies"`
	DataType       *string  `json:"DataType"`
}

var (
	keyIDPattern     = regexp.MustCompile(`^[a-zA-Z0-9:/_-]+$`)
	paramDataTypes   = map[string]bool{"text": true, "aws:ec2:image": true, "aws:ssm:integration": true}
	paramTypes       = map[string]bool{ParamString: true, ParamStringList: true, ParamSecureString: true}
	paramTiers       = map[string]bool{TierStandard: true, TierAdvanced: true, TierIntelligentTiering: true}
	paramLabelFormat = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,100}$`)
)

func (s *Sim) ssmPutParameter(req *apiRequest) (any, *apiError) {
	var in putParameterInput
	if err := decodeBody(req, &in); err != nil {
		return nil, err
	}
	// The value is recorded only once the type is known not to be
	// SecureString (CloudTrail's placeholder otherwise).
	req.call.Params = map[string]string{"Name": in.Name, "Overwrite": strconv.FormatBool(in.Overwrite), "Value": redactedParameterValue}
	if in.Overwrite && len(in.Tags) > 0 {
		return nil, clientErr("ValidationException", "Invalid request: tags and overwrite can't be used together. To create a parameter with tags, please remove overwrite flag. To update tags for an existing parameter, please use AddTagsToResource or RemoveTagsFromResource.")
	}
	name, aerr := s.validateParamName(in.Name)
	if aerr != nil {
		return nil, aerr
	}
	if in.Value == nil {
		return nil, clientErr("ValidationException", "1 validation error detected: Value null at 'value' failed to satisfy constraint: Member must not be null")
	}
	value := *in.Value
	if value == "" {
		return nil, clientErr("ValidationException", "1 validation error detected: Value '' at 'value' failed to satisfy constraint: Member must have length greater than or equal to 1.")
	}
	if in.Type != "" && !paramTypes[in.Type] {
		return nil, clientErr("ValidationException", "1 validation error detected: Value '%s' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [SecureString, StringList, String]", in.Type)
	}
	if in.Tier != "" && !paramTiers[in.Tier] {
		return nil, clientErr("ValidationException", "1 validation error detected: Value '%s' at 'tier' failed to satisfy constraint: Member must satisfy enum value set: [Standard, Advanced, Intelligent-Tiering]", in.Tier)
	}
	if in.Policies != nil {
		return nil, clientErr("ValidationException", "fleetsim does not model parameter policies (Expiration, ExpirationNotification, NoChangeNotification)")
	}
	existing := s.parametersLocked()[name]
	if existing != nil && !in.Overwrite {
		return nil, clientErr("ParameterAlreadyExists", "The parameter already exists. To overwrite this value, set the overwrite option in the request to true.")
	}
	var prev *paramVersion
	if existing != nil {
		prev = existing.latest()
	}
	typ := in.Type
	if typ == "" {
		if prev == nil {
			return nil, clientErr("ValidationException", "A parameter type is required when you create a parameter.")
		}
		typ = prev.typ
	}
	req.call.Params["Type"] = typ
	if typ != ParamSecureString {
		req.call.Params["Value"] = value
	}
	pv := &paramVersion{typ: typ, value: value, dataType: "text", modified: s.now, user: s.callerARNLocked(req.accessKey)}
	if prev != nil {
		pv.description, pv.pattern, pv.dataType = prev.description, prev.pattern, prev.dataType
	}
	if in.Description != nil {
		if len(*in.Description) > 1024 {
			return nil, clientErr("ValidationException", "1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 1024")
		}
		pv.description = *in.Description
	}
	if aerr := s.paramKeyID(in, prev, pv); aerr != nil {
		return nil, aerr
	}
	if in.DataType != nil {
		pv.dataType = *in.DataType
	}
	if !paramDataTypes[pv.dataType] {
		return nil, clientErr("ValidationException", "The following data type is not supported: %s (Data type names are all lowercase.)", pv.dataType)
	}
	if aerr := paramTier(in.Tier, prev, pv); aerr != nil {
		return nil, aerr
	}
	if in.AllowedPattern != nil {
		pv.pattern = *in.AllowedPattern
	}
	if pv.pattern != "" {
		re, err := regexp.Compile(pv.pattern)
		if err != nil {
			return nil, clientErr("InvalidAllowedPatternException", "The allowed pattern %s is not a valid regular expression: %v", pv.pattern, err)
		}
		if !re.MatchString(value) {
			// The value is not echoed: it may be a secret.
			return nil, clientErr("ParameterPatternMismatchException", "Parameter value failed to satisfy constraint specified in the parameter allowed pattern %s", pv.pattern)
		}
	}
	tags, aerr := validateParamTags(in.Tags)
	if aerr != nil {
		return nil, aerr
	}
	if existing == nil {
		if pv.tier == TierStandard && s.standardParameterCountLocked() >= maxStandardParameters {
			return nil, clientErr("ParameterLimitExceeded", "You have exceeded the number of parameters for this AWS account. Delete one or more parameters and try again.")
		}
		existing = &parameter{name: name, tags: tags}
		s.parametersLocked()[name] = existing
	} else if len(existing.versions) >= maxParamVersions {
		oldest := existing.versions[0]
		if len(oldest.labels) > 0 {
			return nil, clientErr("ParameterMaxVersionLimitExceeded", "You attempted to create a new version of %s by calling the PutParameter API with the overwrite flag. Version %d, the oldest version, can't be deleted because it has a label associated with it. Move the label to another version of the parameter, and try again.", name, oldest.version)
		}
		existing.versions = append(existing.versions[:0], existing.versions[1:]...)
	}
	pv.version = 1
	if prev != nil {
		pv.version = prev.version + 1
	}
	if typ == ParamSecureString {
		pv.cipher = s.encryptLocked(pv.keyID, value)
	}
	existing.versions = append(existing.versions, pv)
	req.call.Params["Version"] = strconv.FormatInt(pv.version, 10)
	return map[string]any{"Version": pv.version, "Tier": pv.tier}, nil
}

// paramKeyID settles the KMS key: SecureString only, the request's key, else
// the previous version's, else the AWS managed alias/aws/ssm.
func (s *Sim) paramKeyID(in putParameterInput, prev, pv *paramVersion) *apiError {
	if pv.typ != ParamSecureString {
		if in.KeyId != nil {
			return clientErr("ValidationException", "KeyId is supported only for SecureString parameters, not for type %s.", pv.typ)
		}
		return nil
	}
	switch {
	case in.KeyId != nil:
		if !keyIDPattern.MatchString(*in.KeyId) || len(*in.KeyId) > 256 {
			return clientErr("ValidationException", "1 validation error detected: Value '%s' at 'keyId' failed to satisfy constraint: Member must satisfy regular expression pattern: ^([a-zA-Z0-9:/_-]+)$", *in.KeyId)
		}
		pv.keyID = *in.KeyId
	case prev != nil && prev.typ == ParamSecureString:
		pv.keyID = prev.keyID
	default:
		pv.keyID = defaultParamKeyID
	}
	return nil
}

// paramTier applies the tier rules: Intelligent-Tiering picks Advanced only
// for values over 4 KB, an advanced parameter never goes back to standard,
// and each tier caps the value size (4 KB / 8 KB).
func paramTier(asked string, prev, pv *paramVersion) *apiError {
	wasAdvanced := prev != nil && prev.tier == TierAdvanced
	switch asked {
	case TierAdvanced:
		pv.tier = TierAdvanced
	case TierIntelligentTiering:
		pv.tier = TierStandard
		if wasAdvanced || len(pv.value) > standardValueLimit {
			pv.tier = TierAdvanced
		}
	case TierStandard:
		if wasAdvanced {
			return clientErr("ValidationException", "This parameter uses the advanced-parameter tier. You can't downgrade a parameter from the advanced-parameter tier to the standard-parameter tier. If necessary, you can delete the advanced parameter and recreate it as a standard parameter.")
		}
		pv.tier = TierStandard
	default:
		pv.tier = TierStandard
		if wasAdvanced {
			pv.tier = TierAdvanced
		}
	}
	if pv.tier == TierStandard && len(pv.value) > standardValueLimit {
		return clientErr("ValidationException", "Standard tier parameters support a maximum parameter value of 4096 characters. To create a larger parameter value, upgrade the parameter to use the advanced-parameter tier. For more information, see https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-advanced-parameters.html")
	}
	if len(pv.value) > advancedValueLimit {
		return clientErr("ValidationException", "Advanced tier parameters support a maximum parameter value of 8192 characters. For more information, see https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-advanced-parameters.html")
	}
	return nil
}

func validateParamTags(in []ssmTag) (map[string]string, *apiError) {
	if len(in) > 50 {
		return nil, clientErr("TooManyTagsError", "The Tags parameter has %d tags; at most 50 are allowed.", len(in))
	}
	tags := map[string]string{}
	for _, t := range in {
		if t.Key == "" || len([]rune(t.Key)) > 128 || len([]rune(t.Value)) > 256 {
			return nil, clientErr("ValidationException", "1 validation error detected: a tag key must have 1-128 and a value at most 256 characters")
		}
		if strings.HasPrefix(strings.ToLower(t.Key), "aws:") {
			return nil, clientErr("InvalidParameterValue", "Tag keys starting with 'aws:' are reserved for internal use")
		}
		tags[t.Key] = t.Value
	}
	return tags, nil
}

func (s *Sim) ssmDeleteParameter(req *apiRequest) (any, *apiError) {
	var in struct {
		Name string `json:"Name"`
	}
	if err := decodeBody(req, &in); err != nil {
		return nil, err
	}
	req.call.Params = map[string]string{"Name": in.Name}
	if s.parametersLocked()[in.Name] == nil {
		return nil, &apiError{status: 400, code: "ParameterNotFound"}
	}
	delete(s.parametersLocked(), in.Name)
	return struct{}{}, nil
}

func (s *Sim) ssmDeleteParameters(req *apiRequest) (any, *apiError) {
	var in struct {
		Names []string `json:"Names"`
	}
	if err := decodeBody(req, &in); err != nil {
		return nil, err
	}
	req.call.Params = map[string]string{"Names": strings.Join(in.Names, ",")}
	if err := paramNameCount(in.Names); err != nil {
		return nil, err
	}
	deleted, invalid := []string{}, []string{}
	for _, n := range in.Names {
		if s.parametersLocked()[n] != nil {
			delete(s.parametersLocked(), n)
			deleted = append(deleted, n)
		} else if !containsString(deleted, n) && !containsString(invalid, n) {
			invalid = append(invalid, n)
		}
	}
	return map[string]any{"DeletedParameters": deleted, "InvalidParameters": invalid}, nil
}

func paramNameCount(names []string) *apiError {
	if len(names) == 0 {
		return clientErr("ValidationException", "1 validation error detected: Value '[]' at 'names' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	if len(names) > 10 {
		return clientErr("ValidationException", "1 validation error detected: Value '[%s]' at 'names' failed to satisfy constraint: Member must have length less than or equal to 10", strings.Join(names, ", "))
	}
	return nil
}

func (s *Sim) ssmLabelParameterVersion(req *apiRequest) (any, *apiError) {
	var in struct {
		Name             string   `json:"Name"`
		ParameterVersion *int64   `json:"ParameterVersion"`
		Labels           []string `json:"Labels"`
	}
	if err := decodeBody(req, &in); err != nil {
		return nil, err
	}
	req.call.Params = map[string]string{"Name": in.Name, "Labels": strings.Join(in.Labels, ",")}
	if len(in.Labels) == 0 || len(in.Labels) > maxLabelsPerVersion {
		return nil, clientErr("ValidationException", "1 validation error detected: Value at 'labels' failed to satisfy constraint: Member must have length between 1 and 10")
	}
	p := s.parametersLocked()[in.Name]
	if p == nil {
		return nil, clientErr("ParameterNotFound", "Parameter %s not found.", in.Name)
	}
	target := p.latest()
	if in.ParameterVersion != nil {
		if target = p.version(*in.ParameterVersion); target == nil {
			return nil, clientErr("ParameterVersionNotFound", "Systems Manager could not find version %d of %s. Verify the version and try again.", *in.ParameterVersion, in.Name)
		}
	}
	// Labels can't start with a digit or aws/ssm and use a-zA-Z0-9_.- only;
	// bad ones are reported, not applied.
	invalid := []string{}
	var valid []string
	for _, l := range in.Labels {
		lower := strings.ToLower(l)
		if !paramLabelFormat.MatchString(l) || (l[0] >= '0' && l[0] <= '9') || strings.HasPrefix(lower, "aws") || strings.HasPrefix(lower, "ssm") {
			invalid = append(invalid, l)
		} else if !containsString(valid, l) {
			valid = append(valid, l)
		}
	}
	added := 0
	for _, l := range valid {
		if !containsString(target.labels, l) {
			added++
		}
	}
	if len(target.labels)+added > maxLabelsPerVersion {
		return nil, clientErr("ParameterVersionLabelLimitExceeded", "A parameter version can have maximum 10 labels.Move one or more labels to another version and try again.")
	}
	for _, l := range valid {
		// A label names one version: moving it takes it off the others.
		for _, pv := range p.versions {
			if pv != target {
				pv.labels = removeString(pv.labels, l)
			}
		}
		if !containsString(target.labels, l) {
			target.labels = append(target.labels, l)
		}
	}
	return map[string]any{"InvalidLabels": invalid, "ParameterVersion": target.version}, nil
}

func removeString(list []string, v string) []string {
	out := list[:0]
	for _, x := range list {
		if x != v {
			out = append(out, x)
		}
	}
	return out
}
