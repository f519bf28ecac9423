package fleetsim

import (
	"crypto/sha256"
	"encoding/hex"
)

type documentParameterJSON struct {
	Name         string  `json:"Name"`
	Type         string  `json:"Type"`
	Description  string  `json:"Description"`
	DefaultValue *string `json:"DefaultValue,omitempty"`
}

// ssmDescribeDocument describes one version of a document (name or ARN;
// $DEFAULT when no version is given). A required parameter is one without
// DefaultValue, as in SSM's answer. Version names are not modelled: a
// VersionName matches no version.
func (s *Sim) ssmDescribeDocument(req *apiRequest) (any, *apiError) {
	var in struct {
		Name            string `json:"Name"`
		DocumentVersion string `json:"DocumentVersion"`
		VersionName     string `json:"VersionName"`
	}
	if err := decodeBody(req, &in); err != nil {
		return nil, err
	}
	req.call.Params = map[string]string{"Name": in.Name}
	if in.DocumentVersion != "" {
		req.call.Params["DocumentVersion"] = in.DocumentVersion
	}
	d, v, err := s.documentRequestLocked(in.Name, in.DocumentVersion)
	if err != nil {
		return nil, err
	}
	if in.VersionName != "" {
		return nil, clientErr("InvalidDocumentVersion", "Document %s has no version named %s", d.name, in.VersionName)
	}
	params := []documentParameterJSON{}
	for _, p := range v.params {
		params = append(params, documentParameterJSON{Name: p.Name, Type: p.Type, Description: p.Description, DefaultValue: p.Default})
	}
	sum := sha256.Sum256([]byte(d.name + "/" + v.number))
	return map[string]any{"Document": map[string]any{
		"Name": d.name, "DocumentVersion": v.number, "LatestVersion": d.latest(), "DefaultVersion": d.defaultVer,
		"Status": "Active", "DocumentType": d.documentType, "SchemaVersion": d.schemaVersion, "Owner": d.owner,
		"CreatedDate": epochPtr(v.created), "DocumentFormat": "JSON", "PlatformTypes": []string{"Linux", "MacOS"},
		"Parameters": params, "HashType": "Sha256", "Hash": hex.EncodeToString(sum[:]), "Description": "fleetsim document " + d.name,
		"TargetType": "", "Tags": []any{},
	}}, nil
}
