package fleetsim

import (
	"strconv"
	"strings"
)

// Parameter Store's reads and listings. SecureString values leave only in
// responses, and only decrypted when the caller asks; the recorder keeps
// names and flags, never a response.

type parameterJSON struct {
	Name             string `json:"Name"`
	Type             string `json:"Type"`
	Value            string `json:"Value"`
	Version          int64  `json:"Version"`
	Selector         string `json:"Selector,omitempty"`
	LastModifiedDate *epoch `json:"LastModifiedDate,omitempty"`
	ARN              string `json:"ARN"`
	DataType         string `json:"DataType"`
}

type parameterMetadataJSON struct {
	Name             string   `json:"Name"`
	ARN              string   `json:"ARN"`
	Type             string   `json:"Type"`
	KeyId            string   `json:"KeyId,omitempty"`
	LastModifiedDate *epoch   `json:"LastModifiedDate,omitempty"`
	LastModifiedUser string   `json:"LastModifiedUser"`
	Description      string   `json:"Description,omitempty"`
	AllowedPattern   string   `json:"AllowedPattern,omitempty"`
	Version          int64    `json:"Version"`
	Tier             string   `json:"Tier"`
	Policies         []any    `json:"Policies"`
	DataType         string   `json:"DataType"`
	Value            *string  `json:"Value,omitempty"`  // history only
	Labels           []string `json:"Labels,omitempty"` // history only
}

func (s *Sim) parameterJSON(p *parameter, pv *paramVersion, selector string, decrypt bool) parameterJSON {
	return parameterJSON{Name: p.name, Type: pv.typ, Value: pv.displayValue(decrypt), Version: pv.version, Selector: selector,
		LastModifiedDate: epochPtr(pv.modified), ARN: s.parameterARN(p.name), DataType: pv.dataType}
}

func (s *Sim) parameterMetadataJSON(p *parameter, pv *paramVersion) parameterMetadataJSON {
	return parameterMetadataJSON{Name: p.name, ARN: s.parameterARN(p.name), Type: pv.typ, KeyId: pv.keyID,
		LastModifiedDate: epochPtr(pv.modified), LastModifiedUser: pv.user, Description: pv.description,
		AllowedPattern: pv.pattern, Version: pv.version, Tier: pv.tier, Policies: []any{}, DataType: pv.dataType}
}

func (s *Sim) ssmGetParameter(req *apiRequest) (any, *apiError) {
	var in struct {
		Name           string `json:"Name"`
		WithDecryption bool   `json:"WithDecryption"`
	}
	if err := decodeBody(req, &in); err != nil {
		return nil, err
	}
	req.call.Params = map[string]string{"Name": in.Name, "WithDecryption": strconv.FormatBool(in.WithDecryption)}
	if in.Name == "" {
		return nil, clientErr("ValidationException", "1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null")
	}
	ref := s.parseParamRef(in.Name)
	p, pv, aerr := s.resolveParamLocked(ref)
	if aerr != nil {
		return nil, aerr
	}
	return map[string]any{"Parameter": s.parameterJSON(p, pv, ref.selector, in.WithDecryption)}, nil
}

func (s *Sim) ssmGetParameters(req *apiRequest) (any, *apiError) {
	var in struct {
		Names          []string `json:"Names"`
		WithDecryption bool     `json:"WithDecryption"`
	}
	if err := decodeBody(req, &in); err != nil {
		return nil, err
	}
	req.call.Params = map[string]string{"Names": strings.Join(in.Names, ","), "WithDecryption": strconv.FormatBool(in.WithDecryption)}
	if err := paramNameCount(in.Names); err != nil {
		return nil, err
	}
	found, invalid := []parameterJSON{}, []string{}
	seen := map[string]bool{}
	for _, n := range in.Names {
		if seen[n] {
			continue
		}
		seen[n] = true
		ref := s.parseParamRef(n)
		p, pv, aerr := s.resolveParamLocked(ref)
		if aerr != nil {
			invalid = append(invalid, n)
			continue
		}
		found = append(found, s.parameterJSON(p, pv, ref.selector, in.WithDecryption))
	}
	return map[string]any{"Parameters": found, "InvalidParameters": invalid}, nil
}

type paramStringFilter struct {
	Key    string   `json:"Key"`
	Option string   `json:"Option"`
	Values []string `json:"Values"`
}

func (s *Sim) ssmGetParametersByPath(req *apiRequest) (any, *apiError) {
	var in struct {
		Path             string              `json:"Path"`
		Recursive        bool                `json:"Recursive"`
		ParameterFilters []paramStringFilter `json:"ParameterFilters"`
		WithDecryption   bool                `json:"WithDecryption"`
		MaxResults       *int                `json:"MaxResults"`
		NextToken        string              `json:"NextToken"`
	}
	if err := decodeBody(req, &in); err != nil {
		return nil, err
	}
	req.call.Params = map[string]string{"Path": in.Path, "Recursive": strconv.FormatBool(in.Recursive), "WithDecryption": strconv.FormatBool(in.WithDecryption)}
	size, aerr := s.ssmMaxResults(in.MaxResults, 10, 1, 10)
	if aerr != nil {
		return nil, aerr
	}
	path, aerr := validateParamPath(in.Path)
	if aerr != nil {
		return nil, aerr
	}
	match, aerr := parseParamFilters(in.ParameterFilters, true)
	if aerr != nil {
		return nil, aerr
	}
	var list []*parameter
	for _, p := range s.sortedParametersLocked() {
		if underPath(p.name, path, in.Recursive) && match(p, p.latest()) {
			list = append(list, p)
		}
	}
	start, end, next, aerr := paginate(len(list), in.NextToken, size)
	if aerr != nil {
		return nil, aerr
	}
	items := []parameterJSON{}
	for _, p := range list[start:end] {
		items = append(items, s.parameterJSON(p, p.latest(), "", in.WithDecryption))
	}
	out := map[string]any{"Parameters": items}
	if next != "" {
		out["NextToken"] = next
	}
	return out, nil
}

func (s *Sim) ssmDescribeParameters(req *apiRequest) (any, *apiError) {
	var in struct {
		Filters []struct {
			Key    string   `json:"Key"`
			Values []string `json:"Values"`
		} `json:"Filters"`
		ParameterFilters []paramStringFilter `json:"ParameterFilters"`
		MaxResults       *int                `json:"MaxResults"`
		NextToken        string              `json:"NextToken"`
		Shared           bool                `json:"Shared"`
	}
	if err := decodeBody(req, &in); err != nil {
		return nil, err
	}
	size, aerr := s.ssmMaxResults(in.MaxResults, 10, 1, 50)
	if aerr != nil {
		return nil, aerr
	}
	if len(in.Filters) > 0 && len(in.ParameterFilters) > 0 {
		return nil, clientErr("ValidationException", "You can use either Filters or ParameterFilters in a single request.")
	}
	filters := in.ParameterFilters
	for _, f := range in.Filters {
		// The deprecated ParametersFilter: Name matches by prefix, Type and
		// KeyId exactly.
		switch f.Key {
		case "Name":
			filters = append(filters, paramStringFilter{Key: "Name", Option: "BeginsWith", Values: f.Values})
		case "Type", "KeyId":
			filters = append(filters, paramStringFilter{Key: f.Key, Option: "Equals", Values: f.Values})
		default:
			return nil, clientErr("ValidationException", "1 validation error detected: Value '%s' at 'filters.1.member.key' failed to satisfy constraint: Member must satisfy enum value set: [Name, Type, KeyId]", f.Key)
		}
	}
	match, aerr := parseParamFilters(filters, false)
	if aerr != nil {
		return nil, aerr
	}
	var list []*parameter
	for _, p := range s.sortedParametersLocked() {
		if !in.Shared && match(p, p.latest()) {
			list = append(list, p)
		}
	}
	start, end, next, aerr := paginate(len(list), in.NextToken, size)
	if aerr != nil {
		return nil, aerr
	}
	items := []parameterMetadataJSON{}
	for _, p := range list[start:end] {
		items = append(items, s.parameterMetadataJSON(p, p.latest()))
	}
	out := map[string]any{"Parameters": items}
	if next != "" {
		out["NextToken"] = next
	}
	return out, nil
}

func (s *Sim) ssmGetParameterHistory(req *apiRequest) (any, *apiError) {
	var in struct {
		Name           string `json:"Name"`
		WithDecryption bool   `json:"WithDecryption"`
		MaxResults     *int   `json:"MaxResults"`
		NextToken      string `json:"NextToken"`
	}
	if err := decodeBody(req, &in); err != nil {
		return nil, err
	}
	req.call.Params = map[string]string{"Name": in.Name, "WithDecryption": strconv.FormatBool(in.WithDecryption)}
	size, aerr := s.ssmMaxResults(in.MaxResults, 50, 1, 50)
	if aerr != nil {
		return nil, aerr
	}
	p := s.parametersLocked()[s.parseParamRef(in.Name).name]
	if p == nil {
		return nil, &apiError{status: 400, code: "ParameterNotFound"}
	}
	start, end, next, aerr := paginate(len(p.versions), in.NextToken, size)
	if aerr != nil {
		return nil, aerr
	}
	items := []parameterMetadataJSON{}
	for _, pv := range p.versions[start:end] {
		h := s.parameterMetadataJSON(p, pv)
		v := pv.displayValue(in.WithDecryption)
		h.Value = &v
		h.Labels = append([]string{}, pv.labels...)
		items = append(items, h)
	}
	out := map[string]any{"Parameters": items}
	if next != "" {
		out["NextToken"] = next
	}
	return out, nil
}

// parseParamFilters turns ParameterStringFilters into one predicate, with the
// keys and options each operation accepts: DescribeParameters takes Name
// (Equals, BeginsWith, Contains), Path (OneLevel, Recursive), Type, KeyId,
// Tier, DataType and tag:KEY; GetParametersByPath takes Type, KeyId and Label
// (Equals only).
func parseParamFilters(fs []paramStringFilter, byPath bool) (func(*parameter, *paramVersion) bool, *apiError) {
	valid := "[Path, Name, Type, KeyId, Tier, DataType, tag]"
	if byPath {
		valid = "[Type, KeyId, Label]"
	}
	var preds []func(*parameter, *paramVersion) bool
	seen := map[string]bool{}
	for _, f := range fs {
		key := f.Key
		isTag := strings.HasPrefix(key, "tag:") && len(key) > 4
		allowed := isTag && !byPath
		switch key {
		case "Type", "KeyId":
			allowed = true
		case "Name", "Path", "Tier", "DataType":
			allowed = !byPath
		case "Label":
			allowed = byPath
		}
		if !allowed {
			return nil, clientErr("InvalidFilterKey", "The following filter key is not valid: %s. Valid filter keys include: %s.", key, valid)
		}
		if seen[key] {
			return nil, clientErr("InvalidFilterKey", "The following filter is duplicated in the request: %s. A request can contain only one occurrence of a specific filter.", key)
		}
		seen[key] = true
		if len(f.Values) == 0 && !isTag {
			return nil, clientErr("InvalidFilterValue", "The following filter values are missing : null for filter key %s.", key)
		}
		opt := f.Option
		switch {
		case key == "Path":
			if opt == "" {
				opt = "OneLevel"
			}
			if opt != "OneLevel" && opt != "Recursive" {
				return nil, clientErr("InvalidFilterOption", "The following filter option is not valid: %s. Valid options include: [Recursive, OneLevel].", opt)
			}
		case opt == "":
			opt = "Equals"
		case key == "Label" && opt != "Equals":
			return nil, clientErr("InvalidFilterOption", "The following filter option is not valid: %s. Valid options include: [Equals].", opt)
		case opt == "Contains" && key == "Name", opt == "Equals", opt == "BeginsWith":
		default:
			return nil, clientErr("InvalidFilterOption", "The following filter option is not valid: %s. Valid options include: [BeginsWith, Equals].", opt)
		}
		pred, aerr := paramFilterPredicate(key, opt, f.Values)
		if aerr != nil {
			return nil, aerr
		}
		preds = append(preds, pred)
	}
	return func(p *parameter, pv *paramVersion) bool {
		for _, pred := range preds {
			if !pred(p, pv) {
				return false
			}
		}
		return true
	}, nil
}

func paramFilterPredicate(key, opt string, values []string) (func(*parameter, *paramVersion) bool, *apiError) {
	matchAny := func(got string, values []string) bool {
		for _, v := range values {
			if opt == "Equals" && got == v || opt == "BeginsWith" && strings.HasPrefix(got, v) || opt == "Contains" && strings.Contains(got, v) {
				return true
			}
		}
		return false
	}
	switch {
	case key == "Path":
		var paths []string
		for _, v := range values {
			p, aerr := validateParamPath(v)
			if aerr != nil {
				return nil, aerr
			}
			paths = append(paths, p)
		}
		return func(p *parameter, _ *paramVersion) bool {
			for _, path := range paths {
				if underPath(p.name, path, opt == "Recursive") {
					return true
				}
			}
			return false
		}, nil
	case key == "Name":
		// Names compare as if they all had a leading slash, except with
		// Contains, so "/a" and "a" both find /a.
		norm := func(n string) string { return "/" + strings.TrimPrefix(n, "/") }
		if opt != "Contains" {
			values = append([]string(nil), values...)
			for i := range values {
				values[i] = norm(values[i])
			}
		}
		return func(p *parameter, _ *paramVersion) bool {
			if opt == "Contains" {
				return matchAny(p.name, values)
			}
			return matchAny(norm(p.name), values)
		}, nil
	case strings.HasPrefix(key, "tag:"):
		tag := key[4:]
		return func(p *parameter, _ *paramVersion) bool {
			v, ok := p.tags[tag]
			return ok && (len(values) == 0 || matchAny(v, values))
		}, nil
	case key == "Label":
		return func(p *parameter, _ *paramVersion) bool {
			for _, pv := range p.versions {
				for _, l := range pv.labels {
					if matchAny(l, values) {
						return true
					}
				}
			}
			return false
		}, nil
	}
	field := map[string]func(*paramVersion) string{
		"Type":     func(pv *paramVersion) string { return pv.typ },
		"KeyId":    func(pv *paramVersion) string { return pv.keyID },
		"Tier":     func(pv *paramVersion) string { return pv.tier },
		"DataType": func(pv *paramVersion) string { return pv.dataType },
	}[key]
	return func(_ *parameter, pv *paramVersion) bool { return matchAny(field(pv), values) }, nil
}
