package fleetview

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"net/http"
	"time"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/fleetsim"
)

//go:embed page.html
var page []byte

// initialSlot is where servePage puts the current Fleet, so the first paint
// shows the fleet without waiting for the event stream, which on a loaded
// machine took long enough to leave an empty "connecting…" page.
var initialSlot = []byte(`<script id="initial" type="application/json">null</script>`)

// heartbeat is the longest /events stays silent, so proxies and the browser
// keep the stream open while nothing changes.
const heartbeat = 5 * time.Second

// Handler serves the live page of sim: / (the page), /events (server-sent
// events, one JSON Fleet per change) and /fleet.json (the current Fleet).
func Handler(sim *fleetsim.Sim, opts Options) http.Handler {
	return NewTracker(sim, opts).Handler()
}

// Handler serves the tracker's page; see the package-level Handler.
func (t *Tracker) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", t.servePage)
	mux.HandleFunc("GET /fleet.json", t.serveJSON)
	mux.HandleFunc("GET /events", t.serveEvents)
	return mux
}

func (t *Tracker) servePage(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	// The page must work offline: forbid every external fetch, so a stray
	// reference fails in the test browser rather than in a newcomer's.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; img-src data:")
	w.Write(withInitialFleet(page, t.View()))
}

// withInitialFleet fills the page's initial slot with f. json.Marshal
// escapes <, > and &, so no value can close the script element.
func withInitialFleet(doc []byte, f Fleet) []byte {
	body, err := json.Marshal(f)
	if err != nil {
		return doc // the page then waits for the stream
	}
	slot := bytes.Replace(initialSlot, []byte(">null<"), append(append([]byte(">"), body...), '<'), 1)
	return bytes.Replace(doc, initialSlot, slot, 1)
}

func (t *Tracker) serveJSON(w http.ResponseWriter, _ *http.Request) {
	body, err := json.Marshal(t.View())
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(body)
}

func (t *Tracker) serveEvents(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write([]byte("retry: 1000\n\n")); err != nil {
		return
	}
	flusher.Flush()

	tick := time.NewTicker(t.opts.Interval)
	defer tick.Stop()
	var last []byte
	var sent time.Time
	for {
		body, err := json.Marshal(t.View())
		if err != nil {
			return
		}
		if !bytes.Equal(body, last) || time.Since(sent) >= heartbeat {
			var frame bytes.Buffer
			frame.WriteString("data: ")
			frame.Write(body)
			frame.WriteString("\n\n")
			if _, err := w.Write(frame.Bytes()); err != nil {
				return
			}
			flusher.Flush()
			last, sent = body, time.Now()
		}
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
		}
	}
}
