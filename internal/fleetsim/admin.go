package fleetsim

import "net/http"

func (s *Sim) serveAdmin(w http.ResponseWriter, r *http.Request) {
	http.NotFound(w, r)
}
