package fleetsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Amazon EventBridge, the part a rollout publishes with: PutEvents (and
// CreateEventBus, so that a user or a test can make a bus with the AWS CLI).
// awsJson1_1, X-Amz-Target AWSEvents.<Op>, signing name "events"
// (botocore data/events/2015-10-07). Every event accepted is kept, in
// order, for tests and for GET /_sim/events; rules and targets are not
// modelled.

var eventsActions = map[string]jsonHandler{
	"PutEvents":      (*Sim).eventsPutEvents,
	"CreateEventBus": (*Sim).eventsCreateEventBus,
}

// defaultEventBus exists in every account and Region.
const defaultEventBus = "default"

// maxPutEventsBytes is the limit on a PutEvents request's entries (256 KB,
// PutEvents API reference; AWS counts each entry's fields, fleetsim the JSON
// sizes of Source, DetailType, Detail and Resources, which is close).
const maxPutEventsBytes = 256 * 1024

// maxKeptEvents bounds the memory a long demo spends on published events;
// the oldest half is dropped first.
const maxKeptEvents = 20000

// PublishedEvent is one event EventBridge accepted.
type PublishedEvent struct {
	ID         string          `json:"id"`
	EventBus   string          `json:"event_bus"` // the bus's name
	Source     string          `json:"source"`
	DetailType string          `json:"detail_type"`
	Detail     json.RawMessage `json:"detail"`
	Resources  []string        `json:"resources"`
	// Time is the entry's Time, or the simulated time of the call.
	Time        time.Time `json:"time"`
	SimTime     time.Time `json:"sim_time"`
	AccessKeyID string    `json:"access_key_id"`
}

// eventBridgeState is created on first use, so a Sim that never sees an
// event pays nothing for it.
type eventBridgeState struct {
	buses     map[string]bool // names; default is implicit
	published []PublishedEvent
	seq       uint64
	// failNext entries fail with failCode (Faults.FailEventEntries).
	failNext int
	failCode string
}

func (s *Sim) eventBridgeLocked() *eventBridgeState {
	if s.eventBridge == nil {
		s.eventBridge = &eventBridgeState{buses: map[string]bool{}}
	}
	return s.eventBridge
}

// EventBusARN is the ARN of the named bus in the simulator's account.
func (s *Sim) EventBusARN(name string) string {
	return fmt.Sprintf("arn:aws:events:%s:%s:event-bus/%s", s.opts.Region, s.opts.AccountID, name)
}

// AddEventBus creates a custom event bus and returns its ARN; adding one that
// exists is a no-op.
func (s *Sim) AddEventBus(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.eventBridgeLocked().buses[name] = true
	return s.EventBusARN(name)
}

// PublishedEvents returns the events accepted on bus ("" = every bus), in
// the order PutEvents accepted them.
func (s *Sim) PublishedEvents(bus string) []PublishedEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []PublishedEvent
	for _, e := range s.eventBridgeLocked().published {
		if bus == "" || e.EventBus == bus {
			out = append(out, e)
		}
	}
	return out
}

// FailEventEntries makes the next n PutEvents entries fail with code (for
// instance ThrottlingException or InternalFailure, which AWS documents as
// retryable, or AccessDeniedException), as AWS reports a partial failure:
// HTTP 200 with FailedEntryCount.
func (f *Faults) FailEventEntries(n int, code string) {
	f.sim.mu.Lock()
	defer f.sim.mu.Unlock()
	st := f.sim.eventBridgeLocked()
	st.failNext, st.failCode = n, code
}

var (
	eventBusARNPattern  = regexp.MustCompile(`^arn:aws[\w-]*:events:[a-z]+-[a-z]+-[\w-]+:[0-9]{12}:event-bus/([.\-_A-Za-z0-9]+)$`)
	eventBusNamePattern = regexp.MustCompile(`^[.\-_A-Za-z0-9]+$`)
)

// busNameLocked resolves an entry's EventBusName (name or ARN; empty = the
// default bus) to a bus of this account, or the error AWS answers.
func (s *Sim) busNameLocked(ref string) (string, *apiError) {
	name := ref
	switch {
	case ref == "":
		return defaultEventBus, nil
	case strings.HasPrefix(ref, "arn:"):
		m := eventBusARNPattern.FindStringSubmatch(ref)
		if m == nil {
			return "", clientErr("ValidationException", "1 validation error detected: Value '%s' at 'entries.eventBusName' failed to satisfy constraint: Member must satisfy regular expression pattern", ref)
		}
		if ref != s.EventBusARN(m[1]) {
			// Another account's or Region's bus: fleetsim has none.
			return "", clientErr("ResourceNotFoundException", "Event bus %s does not exist.", m[1])
		}
		name = m[1]
	case !eventBusNamePattern.MatchString(ref) || len(ref) > 256:
		return "", clientErr("ValidationException", "1 validation error detected: Value '%s' at 'entries.eventBusName' failed to satisfy constraint: Member must satisfy regular expression pattern", ref)
	}
	if name != defaultEventBus && !s.eventBridgeLocked().buses[name] {
		// Whole-request error, as moto answers (AWS: unverified).
		return "", clientErr("ResourceNotFoundException", "Event bus %s does not exist.", name)
	}
	return name, nil
}

type putEventsEntry struct {
	Source       string   `json:"Source"`
	DetailType   string   `json:"DetailType"`
	Detail       string   `json:"Detail"`
	EventBusName string   `json:"EventBusName"`
	Resources    []string `json:"Resources"`
	Time         *float64 `json:"Time"` // epoch seconds, as awsJson sends timestamps
	TraceHeader  string   `json:"TraceHeader"`
}

type putEventsInput struct {
	Entries    []putEventsEntry `json:"Entries"`
	EndpointId string           `json:"EndpointId"`
}

type putEventsResultEntry struct {
	EventId      string `json:"EventId,omitempty"`
	ErrorCode    string `json:"ErrorCode,omitempty"`
	ErrorMessage string `json:"ErrorMessage,omitempty"`
}

func (s *Sim) eventsPutEvents(req *apiRequest) (any, *apiError) {
	var in putEventsInput
	if err := decodeBody(req, &in); err != nil {
		return nil, err
	}
	if len(in.Entries) < 1 || len(in.Entries) > 10 {
		return nil, clientErr("ValidationException", "1 validation error detected: Value '[PutEventsRequestEntry]' at 'entries' failed to satisfy constraint: Member must have length less than or equal to 10 and greater than or equal to 1")
	}
	size := 0
	buses := make([]string, len(in.Entries))
	for i, e := range in.Entries {
		size += len(e.Source) + len(e.DetailType) + len(e.Detail)
		for _, r := range e.Resources {
			size += len(r)
		}
		name, err := s.busNameLocked(e.EventBusName)
		if err != nil {
			return nil, err
		}
		buses[i] = name
	}
	if size > maxPutEventsBytes {
		return nil, clientErr("ValidationException", "Total size of the entries in the request is over the limit.")
	}
	st := s.eventBridgeLocked()
	out := struct {
		FailedEntryCount int                    `json:"FailedEntryCount"`
		Entries          []putEventsResultEntry `json:"Entries"`
	}{Entries: []putEventsResultEntry{}}
	for i, e := range in.Entries {
		res := s.putEventLocked(st, req, e, buses[i])
		if res.ErrorCode != "" {
			out.FailedEntryCount++
		}
		out.Entries = append(out.Entries, res)
	}
	return out, nil
}

// putEventLocked checks one entry as PutEvents does (PutEventsResultEntry's
// error codes) and keeps it when accepted.
func (s *Sim) putEventLocked(st *eventBridgeState, req *apiRequest, e putEventsEntry, bus string) putEventsResultEntry {
	missing := func(field string) putEventsResultEntry {
		return putEventsResultEntry{ErrorCode: "InvalidArgument", ErrorMessage: "Parameter " + field + " is not valid. Reason: " + field + " is a required argument."}
	}
	switch {
	case e.Source == "":
		return missing("Source")
	case e.DetailType == "":
		return missing("DetailType")
	case e.Detail == "":
		return missing("Detail")
	case len(e.DetailType) > 128:
		return putEventsResultEntry{ErrorCode: "InvalidArgument", ErrorMessage: "Parameter DetailType is not valid. Reason: DetailType is longer than 128 characters."}
	}
	var detail map[string]any
	if json.Unmarshal([]byte(e.Detail), &detail) != nil {
		// A JSON value that is not an object is refused too.
		return putEventsResultEntry{ErrorCode: "MalformedDetail", ErrorMessage: "Detail is malformed."}
	}
	if st.failNext > 0 {
		st.failNext--
		return putEventsResultEntry{ErrorCode: st.failCode, ErrorMessage: "fleetsim: injected failure (Faults.FailEventEntries)"}
	}
	st.seq++
	id := fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", uint32(st.seq), uint16(st.seq>>32), 0, 0, st.seq)
	at := s.now
	if e.Time != nil {
		at = time.Unix(0, int64(*e.Time*1e9))
	}
	var compact bytes.Buffer
	_ = json.Compact(&compact, []byte(e.Detail))
	if len(st.published) >= maxKeptEvents {
		st.published = append(st.published[:0], st.published[len(st.published)/2:]...)
	}
	st.published = append(st.published, PublishedEvent{
		ID: id, EventBus: bus, Source: e.Source, DetailType: e.DetailType, Detail: json.RawMessage(compact.Bytes()),
		Resources: append([]string{}, e.Resources...), Time: at.UTC(), SimTime: s.now.UTC(), AccessKeyID: req.accessKey,
	})
	return putEventsResultEntry{EventId: id}
}

func (s *Sim) eventsCreateEventBus(req *apiRequest) (any, *apiError) {
	var in struct {
		Name string `json:"Name"`
	}
	if err := decodeBody(req, &in); err != nil {
		return nil, err
	}
	if !eventBusNamePattern.MatchString(in.Name) || len(in.Name) > 256 {
		return nil, clientErr("ValidationException", "1 validation error detected: Value '%s' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: [/\\.\\-_A-Za-z0-9]+", in.Name)
	}
	st := s.eventBridgeLocked()
	if in.Name == defaultEventBus || st.buses[in.Name] {
		return nil, clientErr("ResourceAlreadyExistsException", "Event bus %s already exists.", in.Name)
	}
	st.buses[in.Name] = true
	return map[string]string{"EventBusArn": s.EventBusARN(in.Name)}, nil
}

// iamPutEvents authorizes events:PutEvents on each entry's bus. AWS also
// offers events:source and events:detail-type; they are set when every entry
// shares one value (how AWS evaluates a request whose entries differ is
// not modelled: assumed).
func (s *Sim) iamPutEvents(req *apiRequest) (authRequest, []authRequest, bool) {
	var in putEventsInput
	if decodeBody(req, &in) != nil {
		return authRequest{}, nil, false
	}
	r := authRequest{action: "events:PutEvents", keys: map[string][]string{}}
	seen := map[string]bool{}
	sources, types := map[string]bool{}, map[string]bool{}
	for _, e := range in.Entries {
		name := e.EventBusName
		if m := eventBusARNPattern.FindStringSubmatch(name); m != nil {
			name = m[1]
		}
		if name == "" {
			name = defaultEventBus
		}
		if arn := s.EventBusARN(name); !seen[arn] {
			seen[arn] = true
			r.resources = append(r.resources, authResource{arn: arn})
		}
		sources[e.Source], types[e.DetailType] = true, true
	}
	sort.Slice(r.resources, func(i, j int) bool { return r.resources[i].arn < r.resources[j].arn })
	for key, values := range map[string]map[string]bool{"events:source": sources, "events:detail-type": types} {
		if len(values) == 1 {
			for v := range values {
				r.keys[key] = []string{v}
			}
		}
	}
	return r, nil, true
}

func (s *Sim) iamCreateEventBus(req *apiRequest) (authRequest, []authRequest, bool) {
	var in struct {
		Name string `json:"Name"`
	}
	if decodeBody(req, &in) != nil {
		return authRequest{}, nil, false
	}
	return authRequest{action: "events:CreateEventBus", resources: []authResource{{arn: s.EventBusARN(in.Name)}}}, nil, true
}

// serveAdminEvents answers GET /_sim/events (?bus=NAME).
func (s *Sim) serveAdminEvents(w http.ResponseWriter, r *http.Request) {
	events := s.PublishedEvents(r.URL.Query().Get("bus"))
	if events == nil {
		events = []PublishedEvent{}
	}
	writeJSON(w, http.StatusOK, events)
}
