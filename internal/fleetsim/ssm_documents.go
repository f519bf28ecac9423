package fleetsim

import (
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// SSM Command documents: AWS-RunShellScript (built in, with its real
// parameters) and seeded documents with numbered versions, each declaring
// its parameters. SendCommand and DescribeDocument resolve a document by
// name or ARN and a version by $DEFAULT, $LATEST or number, and SendCommand
// refuses parameters the version does not declare and required ones
// (declared without a default value) that are missing.

type document struct {
	name          string
	versions      []*docVersion // versions[i] is version i+1
	defaultVer    string
	shell         bool // runs `commands` lines with the app convention
	created       time.Time
	owner         string
	documentType  string
	schemaVersion string
}

type docVersion struct {
	number  string
	created time.Time
	// params are the declared parameters; nil accepts any parameter (a
	// DocumentConfig that declares none, kept for older seeds).
	params []docParam
}

type docParam struct {
	Name, Type, Description string
	Default                 *string // nil: required
}

// DocumentParameter declares one parameter of a seeded document.
type DocumentParameter struct {
	Name        string
	Type        string // String (default) or StringList
	Description string
	// DefaultValue makes the parameter optional; nil means SendCommand must
	// give it (DescribeDocument then reports no DefaultValue).
	DefaultValue *string
}

// DocumentConfig seeds an SSM Command document other than AWS-RunShellScript.
// Sending it succeeds after the modelled run time and records its parameters.
type DocumentConfig struct {
	Name     string
	Versions int // number of versions; default 1
	// DefaultVersion is the $DEFAULT version; 0 means the latest.
	DefaultVersion int
	// Parameters is a shorthand: optional String parameters (default ""),
	// declared in every version. Nil with no Declared and no
	// VersionParameters accepts any parameter.
	Parameters []string
	// Declared parameters of every version, after Parameters.
	Declared []DocumentParameter
	// VersionParameters replaces the parameters of the given versions
	// (1-based), for documents whose parameters changed between versions.
	VersionParameters map[int][]DocumentParameter
}

// AddDocument seeds an SSM document (or replaces one of the same name).
func (s *Sim) AddDocument(c DocumentConfig) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.Versions <= 0 {
		c.Versions = 1
	}
	var common []docParam
	if c.Parameters != nil || c.Declared != nil {
		common = []docParam{}
		for _, p := range c.Parameters {
			common = append(common, docParam{Name: p, Type: "String", Default: new(string)})
		}
		common = append(common, declaredParams(c.Declared)...)
	}
	d := &document{name: c.Name, created: s.now, owner: s.opts.AccountID, documentType: "Command", schemaVersion: "2.2"}
	for i := 1; i <= c.Versions; i++ {
		v := &docVersion{number: strconv.Itoa(i), created: s.now, params: common}
		if ps, ok := c.VersionParameters[i]; ok {
			v.params = declaredParams(ps)
		} else if common == nil && len(c.VersionParameters) > 0 {
			v.params = []docParam{}
		}
		d.versions = append(d.versions, v)
	}
	d.defaultVer = d.versions[len(d.versions)-1].number
	if c.DefaultVersion >= 1 && c.DefaultVersion <= c.Versions {
		d.defaultVer = strconv.Itoa(c.DefaultVersion)
	}
	s.documents[c.Name] = d
}

func declaredParams(ps []DocumentParameter) []docParam {
	out := []docParam{}
	for _, p := range ps {
		typ := p.Type
		if typ == "" {
			typ = "String"
		}
		dp := docParam{Name: p.Name, Type: typ, Description: p.Description}
		if p.DefaultValue != nil {
			v := *p.DefaultValue
			dp.Default = &v
		}
		out = append(out, dp)
	}
	return out
}

func strPtr(v string) *string { return &v }

func (s *Sim) addBuiltinDocuments() {
	s.documents["AWS-RunShellScript"] = &document{
		name: "AWS-RunShellScript", defaultVer: "1", shell: true, created: s.now,
		owner: "Amazon", documentType: "Command", schemaVersion: "1.2",
		versions: []*docVersion{{number: "1", created: s.now, params: []docParam{
			{Name: "commands", Type: "StringList", Description: "(Required) Specify a shell script or a command to run."},
			{Name: "workingDirectory", Type: "String", Description: "(Optional) The path to the working directory on your instance.", Default: strPtr("")},
			{Name: "executionTimeout", Type: "String", Description: "(Optional) The time in seconds for a command to complete before it is considered to have failed. Default is 3600 (1 hour). Maximum is 172800 (48 hours).", Default: strPtr("3600")},
		}}},
	}
}

var documentARNPattern = regexp.MustCompile(`^[a-zA-Z0-9_\-.:/]{3,128}$`)

// lookupDocumentLocked finds a document by name or by ARN
// (arn:aws:ssm:REGION:ACCOUNT:document/NAME; AWS-owned documents have an
// empty account). An ARN of another region or account names no document here.
func (s *Sim) lookupDocumentLocked(nameOrARN string) *document {
	name := nameOrARN
	if strings.HasPrefix(nameOrARN, "arn:") {
		parts := strings.SplitN(nameOrARN, ":", 6)
		if len(parts) != 6 || parts[2] != "ssm" || parts[3] != s.opts.Region || !strings.HasPrefix(parts[5], "document/") {
			return nil
		}
		name = strings.TrimPrefix(parts[5], "document/")
		d := s.documents[name]
		if d == nil || parts[4] != "" && parts[4] != d.owner || parts[4] == "" && d.owner != "Amazon" {
			return nil
		}
		return d
	}
	return s.documents[name]
}

var documentVersionPattern = regexp.MustCompile(`^([$]LATEST|[$]DEFAULT|[1-9][0-9]*)$`)

// resolveVersion maps "", "$DEFAULT", "$LATEST" or a number to a version.
func (d *document) resolveVersion(v string) (*docVersion, bool) {
	switch v {
	case "", "$DEFAULT":
		v = d.defaultVer
	case "$LATEST":
		return d.versions[len(d.versions)-1], true
	}
	for _, dv := range d.versions {
		if dv.number == v {
			return dv, true
		}
	}
	return nil, false
}

func (d *document) latest() string { return d.versions[len(d.versions)-1].number }

// documentRequestLocked resolves the document and version a request names,
// with SSM's errors (the same for SendCommand and DescribeDocument).
func (s *Sim) documentRequestLocked(name, version string) (*document, *docVersion, *apiError) {
	if name == "" {
		return nil, nil, clientErr("ValidationException", "1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null")
	}
	if !documentARNPattern.MatchString(name) {
		return nil, nil, clientErr("ValidationException", "1 validation error detected: Value '%s' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9_\\-.:/]{3,128}$", name)
	}
	if version != "" && !documentVersionPattern.MatchString(version) {
		return nil, nil, clientErr("ValidationException", "1 validation error detected: Value '%s' at 'documentVersion' failed to satisfy constraint: Member must satisfy regular expression pattern: ([$]LATEST|[$]DEFAULT|^[1-9][0-9]*$)", version)
	}
	d := s.lookupDocumentLocked(name)
	if d == nil {
		return nil, nil, clientErr("InvalidDocument", "Document with name %s does not exist.", name)
	}
	v, ok := d.resolveVersion(version)
	if !ok {
		return nil, nil, clientErr("InvalidDocumentVersion", "Document %s does not have version %s", d.name, version)
	}
	return d, v, nil
}

// checkParameters refuses what SSM refuses before anything runs: parameters
// the version does not declare, a String parameter given several values, and
// required parameters left out (all problems named at once).
func (d *document) checkParameters(v *docVersion, given map[string][]string) *apiError {
	if v.params == nil {
		return nil
	}
	declared := map[string]docParam{}
	for _, p := range v.params {
		declared[p.Name] = p
	}
	var unknown, multi, missing []string
	for name, values := range given {
		p, ok := declared[name]
		switch {
		case !ok:
			unknown = append(unknown, name)
		case p.Type == "String" && len(values) > 1:
			multi = append(multi, name)
		}
	}
	for _, p := range v.params {
		if _, ok := given[p.Name]; !ok && p.Default == nil {
			missing = append(missing, p.Name)
		}
	}
	sort.Strings(unknown)
	sort.Strings(multi)
	var problems []string
	if len(unknown) > 0 {
		problems = append(problems, "document "+d.name+" does not support parameters: "+strings.Join(unknown, ", "))
	}
	if len(multi) > 0 {
		problems = append(problems, "parameters of type String take one value: "+strings.Join(multi, ", "))
	}
	if len(missing) > 0 {
		problems = append(problems, "missing required parameters: "+strings.Join(missing, ", "))
	}
	if len(problems) > 0 {
		return clientErr("InvalidParameters", "%s", strings.Join(problems, "; "))
	}
	return nil
}
