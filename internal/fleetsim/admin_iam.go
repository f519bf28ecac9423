package fleetsim

import (
	"encoding/json"
	"io"
	"net/http"
)

// serveAdminIAM serves the admin routes of Parameter Store and IAM
// enforcement (listed with the others on serveAdmin).
func (s *Sim) serveAdminIAM(w http.ResponseWriter, r *http.Request, route string) {
	switch route {
	case "GET /_sim/parameters":
		writeJSON(w, http.StatusOK, s.Parameters())
	case "GET /_sim/policy":
		doc := s.Policy()
		if len(doc) == 0 {
			writeJSON(w, http.StatusOK, nil)
			return
		}
		writeJSON(w, http.StatusOK, json.RawMessage(doc))
	case "PUT /_sim/policy":
		doc, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes))
		if err == nil {
			err = s.SetPolicy(doc)
		}
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true, "enforced": len(s.Policy()) > 0})
	}
}
