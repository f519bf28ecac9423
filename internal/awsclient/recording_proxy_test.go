package awsclient

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// seenRequest is what the recording proxy saw of one request.
type seenRequest struct {
	Action      string
	AccessKeyID string
	UserAgent   string
	Form        url.Values // query-protocol parameters
}

// recordingProxy stands in front of an AWS emulator (any http.Handler) and
// records who signed each request, so credential tests can assert which
// access key id reached the service. Key ids in reject are answered with
// STS's InvalidClientTokenId, as AWS does for unknown keys.
type recordingProxy struct {
	next   http.Handler
	reject map[string]bool

	mu   sync.Mutex
	seen []seenRequest
}

func newRecordingProxy(t *testing.T, next http.Handler) (*recordingProxy, string) {
	p := &recordingProxy{next: next, reject: map[string]bool{}}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return p, srv.URL
}

func (p *recordingProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	form, _ := url.ParseQuery(string(body))
	action := form.Get("Action")
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		action = target[strings.LastIndexByte(target, '.')+1:]
	}
	key := accessKeyID(r.Header.Get("Authorization"))
	p.mu.Lock()
	p.seen = append(p.seen, seenRequest{Action: action, AccessKeyID: key, UserAgent: r.Header.Get("User-Agent"), Form: form})
	rejected := p.reject[key]
	p.mu.Unlock()
	if rejected {
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>`+
			`<Code>InvalidClientTokenId</Code><Message>The security token included in the request is invalid.</Message></Error>`+
			`<RequestId>1</RequestId></ErrorResponse>`)
		return
	}
	p.next.ServeHTTP(w, r)
}

// accessKeyID reads the key id from a SigV4 Authorization header:
// "AWS4-HMAC-SHA256 Credential=AKID/date/region/service/aws4_request, ...".
func accessKeyID(auth string) string {
	_, rest, ok := strings.Cut(auth, "Credential=")
	if !ok {
		return ""
	}
	key, _, _ := strings.Cut(rest, "/")
	return key
}

func (p *recordingProxy) requests(action string) []seenRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []seenRequest
	for _, s := range p.seen {
		if s.Action == action {
			out = append(out, s)
		}
	}
	return out
}

// lastKey is the access key id of the last request for action.
func (p *recordingProxy) lastKey(t *testing.T, action string) string {
	t.Helper()
	rs := p.requests(action)
	if len(rs) == 0 {
		t.Fatalf("no %s request reached the service", action)
	}
	return rs[len(rs)-1].AccessKeyID
}

// upstream forwards to a running HTTP endpoint (moto_server).
func upstream(t *testing.T, base string) http.Handler {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out := r.Clone(r.Context())
		out.RequestURI = ""
		out.URL.Scheme, out.URL.Host = u.Scheme, u.Host
		out.Host = u.Host
		resp, err := http.DefaultTransport.RoundTrip(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, vs := range resp.Header {
			for _, v := range vs {
				w.Header().Add(k, v)
			}
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	})
}
