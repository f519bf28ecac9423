package fleetsim

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/fxamacker/cbor/v2"
)

const maxBodyBytes = 8 << 20

var queryNamespaces = map[string]string{
	"elasticloadbalancing": "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/",
	"autoscaling":          "http://autoscaling.amazonaws.com/doc/2011-01-01/",
	"sts":                  "https://sts.amazonaws.com/doc/2011-06-15/",
	"monitoring":           "http://monitoring.amazonaws.com/doc/2010-08-01/",
	"ec2":                  "http://ec2.amazonaws.com/doc/2016-11-15/",
}

var versionServices = map[string]string{
	"2015-12-01": "elasticloadbalancing",
	"2011-01-01": "autoscaling",
	"2011-06-15": "sts",
	"2010-08-01": "monitoring",
	"2016-11-15": "ec2",
}

const cborServicePath = "/service/GraniteServiceVersion20100801/operation/"

// ServeHTTP answers AWS API calls for every simulated service on one URL and
// the admin API under /_sim/.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_sim/") || r.URL.Path == "/_sim" {
		s.serveAdmin(w, r)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil || len(body) > maxBodyBytes {
		http.Error(w, "request body too large or unreadable", http.StatusRequestEntityTooLarge)
		return
	}
	req, aerr := s.decodeRequest(r, body)
	wall := time.Now()
	// Latency and the slow fault are simulated time from the arrival: the
	// call is served halfway through and answered at the end (latency.go).
	arrived, latency, slow := s.arrival(req.service, req.action)
	if aerr == nil {
		aerr = s.authenticate(r, body, req)
	}
	if latency > 0 || slow > 0 {
		defer s.released()
		if !s.waitUntil(r.Context(), arrived.Add(slow+latency/2)) {
			return
		}
	}

	s.mu.Lock()
	now := s.advanceLocked()
	req.requestID = s.uuidLocked()
	call := Call{Service: req.service, Action: req.action, Protocol: req.proto.String(), AccessKeyID: req.accessKey,
		SimTime: now, WallTime: wall, Latency: latency + slow}
	req.call = &call
	var out any
	var xml xmlw
	if aerr == nil {
		aerr = s.authorizeLocked(req) // IAM policy, when one is set (iam.go)
	}
	if aerr == nil {
		if !s.faults.takeTokenLocked(req.service, req.action, now) {
			aerr = throttleError(req)
		} else if s.faults.serverErrorLocked(req.action) {
			aerr = serverError(req)
		}
	}
	if aerr == nil {
		out, aerr = s.dispatchLocked(req, &xml)
	}
	if aerr != nil {
		call.ErrorCode = aerr.code
		call.HTTPStatus = aerr.status
	} else {
		call.HTTPStatus = http.StatusOK
	}
	if req.action != "" || aerr != nil {
		s.recorder.recordLocked(call)
	}
	perKiB := s.latency.PerKiB
	s.mu.Unlock()

	if latency == 0 && slow == 0 && perKiB == 0 {
		if aerr != nil {
			writeError(w, req, aerr)
			return
		}
		writeSuccess(w, req, &xml, out)
		return
	}
	held := newHeldResponse()
	if aerr != nil {
		writeError(held, req, aerr)
	} else {
		writeSuccess(held, req, &xml, out)
	}
	done := arrived.Add(slow + latency + Latency{PerKiB: perKiB}.bodyCost(held.body.Len()))
	if !s.waitUntil(r.Context(), done) {
		return
	}
	held.sendTo(w)
}

// decodeRequest finds service, protocol and action. The SigV4 credential
// scope names the service; the path (rpc-v2-cbor), X-Amz-Target (JSON) and
// the form's Action/Version (query) name the protocol and operation.
func (s *Sim) decodeRequest(r *http.Request, body []byte) (*apiRequest, *apiError) {
	req := &apiRequest{form: url.Values{}}
	if auth, ok := parseAuthorization(r.Header.Get("Authorization")); ok {
		req.service = auth.service
		req.accessKey = auth.accessKey
	}
	switch {
	case strings.HasPrefix(r.URL.Path, cborServicePath) || strings.Contains(r.URL.Path, cborServicePath):
		req.proto = protoCBOR
		req.action = r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
		req.body = body
		if req.service == "" {
			req.service = "monitoring"
		}
		if r.Method != http.MethodPost {
			return req, &apiError{status: http.StatusMethodNotAllowed, code: "UnknownOperationException", message: "rpc-v2-cbor requires POST"}
		}
	case r.Header.Get("X-Amz-Target") != "":
		req.proto = protoJSON
		req.body = body
		prefix, op, _ := strings.Cut(r.Header.Get("X-Amz-Target"), ".")
		req.action = op
		switch prefix {
		case "AmazonSSM":
			req.jsonVersion = "1.1"
			if req.service == "" {
				req.service = "ssm"
			}
		case "GraniteServiceVersion20100801":
			req.jsonVersion = "1.0"
			if req.service == "" {
				req.service = "monitoring"
			}
		case "AWSEvents": // EventBridge (api_events.go)
			req.jsonVersion = "1.1"
			if req.service == "" {
				req.service = "events"
			}
		default:
			req.jsonVersion = "1.1"
			return req, clientErr("UnknownOperationException", "unknown target %q", r.Header.Get("X-Amz-Target"))
		}
	default:
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return req, clientErr("MalformedQueryString", "cannot parse the form body")
		}
		for k, v := range r.URL.Query() {
			if _, ok := form[k]; !ok {
				form[k] = v
			}
		}
		req.form = form
		req.action = form.Get("Action")
		if req.service == "" {
			req.service = versionServices[form.Get("Version")]
		}
		if req.service == "ec2" {
			req.proto = protoEC2
		}
		if req.action == "" {
			return req, clientErr("MissingAction", "Could not find operation for the request: the Action parameter is required")
		}
	}
	switch req.service {
	case "elasticloadbalancing", "autoscaling", "sts", "ec2", "ssm", "monitoring", "events":
	case "":
		return req, clientErr("MissingAuthenticationToken", "Request is missing Authentication Token")
	default:
		return req, clientErr("InvalidAction", "service %q is not simulated", req.service)
	}
	return req, nil
}

type authorization struct {
	accessKey, date, region, service string
	signedHeaders, signature         string
}

// parseAuthorization splits "AWS4-HMAC-SHA256 Credential=AKID/date/region/
// service/aws4_request, SignedHeaders=a;b, Signature=hex".
func parseAuthorization(h string) (authorization, bool) {
	var a authorization
	rest, ok := strings.CutPrefix(h, "AWS4-HMAC-SHA256 ")
	if !ok {
		return a, false
	}
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Credential":
			f := strings.Split(v, "/")
			if len(f) != 5 || f[4] != "aws4_request" || f[0] == "" || f[3] == "" {
				return a, false
			}
			a.accessKey, a.date, a.region, a.service = f[0], f[1], f[2], f[3]
		case "SignedHeaders":
			a.signedHeaders = v
		case "Signature":
			a.signature = v
		}
	}
	if a.accessKey == "" || a.signedHeaders == "" || len(a.signature) != 64 {
		return a, false
	}
	if _, err := hex.DecodeString(a.signature); err != nil {
		return a, false
	}
	return a, true
}

// unsignedActions may be called without credentials, as in AWS.
var unsignedActions = map[string]bool{"AssumeRoleWithWebIdentity": true, "AssumeRoleWithSAML": true}

// authenticate requires a well-formed SigV4 Authorization header; with a
// credential list it refuses unknown access keys and verifies the signature.
// Temporary credentials issued by AssumeRole* are always verified.
func (s *Sim) authenticate(r *http.Request, body []byte, req *apiRequest) *apiError {
	h := r.Header.Get("Authorization")
	if h == "" {
		if req.service == "sts" && unsignedActions[req.action] {
			return nil
		}
		return authError(req, "missing")
	}
	auth, ok := parseAuthorization(h)
	if !ok {
		return authError(req, "incomplete")
	}
	s.mu.Lock()
	temp, isTemp := s.tempCreds[auth.accessKey]
	var secret string
	known := false
	if s.opts.Credentials != nil {
		secret, known = s.opts.Credentials[auth.accessKey]
	}
	s.mu.Unlock()
	if isTemp {
		if r.Header.Get("X-Amz-Security-Token") != temp.token {
			return authError(req, "unknown")
		}
		if time.Now().After(temp.wallExpires) {
			return authError(req, "expired")
		}
		secret, known = temp.secret, true
	} else if s.opts.Credentials != nil && !known {
		return authError(req, "unknown")
	}
	if known && !verifySignature(r, body, auth, secret) {
		return authError(req, "signature")
	}
	return nil
}

func verifySignature(r *http.Request, body []byte, a authorization, secret string) bool {
	amzDate := r.Header.Get("X-Amz-Date")
	if amzDate == "" || !strings.HasPrefix(amzDate, a.date) {
		return false
	}
	var ch strings.Builder
	for _, name := range strings.Split(a.signedHeaders, ";") {
		var v string
		switch name {
		case "host":
			v = r.Host
		case "content-length":
			v = r.Header.Get("Content-Length")
			if v == "" {
				v = strconv.FormatInt(r.ContentLength, 10)
			}
		default:
			vals := r.Header.Values(name)
			for i := range vals {
				vals[i] = strings.Join(strings.Fields(vals[i]), " ")
			}
			v = strings.Join(vals, ",")
		}
		ch.WriteString(name + ":" + v + "\n")
	}
	payload := r.Header.Get("X-Amz-Content-Sha256")
	if payload == "" {
		sum := sha256.Sum256(body)
		payload = hex.EncodeToString(sum[:])
	}
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	canonical := strings.Join([]string{r.Method, path, canonicalQuery(r.URL.RawQuery), ch.String(), a.signedHeaders, payload}, "\n")
	sum := sha256.Sum256([]byte(canonical))
	scope := strings.Join([]string{a.date, a.region, a.service, "aws4_request"}, "/")
	toSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
	key := []byte("AWS4" + secret)
	for _, part := range []string{a.date, a.region, a.service, "aws4_request"} {
		key = hmacSHA256(key, part)
	}
	want := hex.EncodeToString(hmacSHA256(key, toSign))
	return hmac.Equal([]byte(want), []byte(a.signature))
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

func canonicalQuery(raw string) string {
	if raw == "" {
		return ""
	}
	vals, err := url.ParseQuery(raw)
	if err != nil {
		return raw
	}
	var parts []string
	for k, vs := range vals {
		for _, v := range vs {
			parts = append(parts, sigEscape(k)+"="+sigEscape(v))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, "&")
}

func sigEscape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

// authError maps an authentication failure to each protocol's real code.
func authError(req *apiRequest, kind string) *apiError {
	switch req.proto {
	case protoEC2:
		if kind == "missing" {
			return &apiError{status: http.StatusUnauthorized, code: "MissingAuthenticationToken", message: "Request is missing Authentication Token"}
		}
		return &apiError{status: http.StatusUnauthorized, code: "AuthFailure", message: "AWS was not able to validate the provided access credentials"}
	case protoJSON, protoCBOR:
		switch kind {
		case "missing":
			return &apiError{status: http.StatusBadRequest, code: "MissingAuthenticationTokenException", message: "Request is missing Authentication Token"}
		case "incomplete":
			return &apiError{status: http.StatusBadRequest, code: "IncompleteSignatureException", message: "Authorization header requires Credential, SignedHeaders and Signature"}
		case "signature":
			return &apiError{status: http.StatusBadRequest, code: "InvalidSignatureException", message: "The request signature we calculated does not match the signature you provided."}
		}
		if kind == "expired" {
			return &apiError{status: http.StatusBadRequest, code: "ExpiredTokenException", message: "The security token included in the request is expired"}
		}
		return &apiError{status: http.StatusBadRequest, code: "UnrecognizedClientException", message: "The security token included in the request is invalid."}
	}
	switch kind {
	case "missing":
		return &apiError{status: http.StatusForbidden, code: "MissingAuthenticationToken", message: "Request is missing Authentication Token"}
	case "incomplete":
		return &apiError{status: http.StatusBadRequest, code: "IncompleteSignature", message: "Authorization header requires Credential, SignedHeaders and Signature"}
	case "signature":
		return &apiError{status: http.StatusForbidden, code: "SignatureDoesNotMatch", message: "The request signature we calculated does not match the signature you provided."}
	case "expired":
		return &apiError{status: http.StatusForbidden, code: "ExpiredToken", message: "The security token included in the request is expired"}
	}
	return &apiError{status: http.StatusForbidden, code: "InvalidClientTokenId", message: "The security token included in the request is invalid."}
}

// throttleError uses codes the SDK retryers list as throttles (never a bare
// 429, which the Go SDK does not retry).
func throttleError(req *apiRequest) *apiError {
	switch req.service {
	case "ec2":
		return &apiError{status: http.StatusServiceUnavailable, code: "RequestLimitExceeded", message: "Request limit exceeded."}
	case "ssm", "events":
		return &apiError{status: http.StatusBadRequest, code: "ThrottlingException", message: "Rate exceeded"}
	case "monitoring":
		if req.proto == protoQuery {
			return &apiError{status: http.StatusBadRequest, code: "Throttling", message: "Rate exceeded"}
		}
		return &apiError{status: http.StatusBadRequest, code: "ThrottlingException", message: "Rate exceeded"}
	}
	return &apiError{status: http.StatusBadRequest, code: "Throttling", message: "Rate exceeded"}
}

func serverError(req *apiRequest) *apiError {
	switch req.service {
	case "ec2":
		return &apiError{status: http.StatusInternalServerError, code: "InternalError", message: "An internal error has occurred", server: true}
	case "ssm":
		return &apiError{status: http.StatusInternalServerError, code: "InternalServerError", message: "An internal error has occurred", server: true}
	case "events": // the only error PutEvents' model lists
		return &apiError{status: http.StatusInternalServerError, code: "InternalException", message: "An internal error has occurred", server: true}
	case "monitoring":
		return &apiError{status: http.StatusInternalServerError, code: "InternalServiceFault", message: "Internal service error", server: true}
	}
	return &apiError{status: http.StatusServiceUnavailable, code: "ServiceUnavailable", message: "Service is unavailable. Please try again later.", server: true}
}

func (s *Sim) dispatchLocked(req *apiRequest, x *xmlw) (any, *apiError) {
	formService := req.proto == protoQuery || req.proto == protoEC2
	switch {
	case (req.service == "ssm" || req.service == "events") && req.proto != protoJSON,
		req.service != "ssm" && req.service != "events" && req.service != "monitoring" && !formService:
		return nil, clientErr("UnknownOperationException", "%s does not speak this protocol", req.service)
	}
	switch req.service {
	case "elasticloadbalancing":
		if h := elbActions[req.action]; h != nil {
			return nil, h(s, req, x)
		}
	case "ec2":
		if h := ec2Actions[req.action]; h != nil {
			return nil, h(s, req, x)
		}
	case "autoscaling":
		if h := asgActions[req.action]; h != nil {
			return nil, h(s, req, x)
		}
	case "sts":
		if h := stsActions[req.action]; h != nil {
			return nil, h(s, req, x)
		}
	case "ssm":
		if h := ssmActions[req.action]; h != nil {
			return h(s, req)
		}
	case "events":
		if h := eventsActions[req.action]; h != nil {
			return h(s, req)
		}
	case "monitoring":
		return s.cloudWatchLocked(req, x)
	}
	if req.proto == protoEC2 {
		return nil, clientErr("InvalidAction", "The action %s is not valid for this web service.", req.action)
	}
	if req.proto == protoQuery {
		return nil, clientErr("InvalidAction", "Could not find operation %s for version %s", req.action, req.get("Version"))
	}
	return nil, clientErr("UnknownOperationException", "Unknown operation %s", req.action)
}

func writeError(w http.ResponseWriter, req *apiRequest, e *apiError) {
	rid := req.requestID
	if rid == "" {
		rid = "00000000-0000-4000-8000-000000000000"
	}
	switch req.proto {
	case protoEC2:
		var x xmlw
		x.b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>`)
		x.open("Response")
		x.open("Errors")
		x.open("Error")
		x.leaf("Code", e.code)
		x.leaf("Message", e.message)
		x.close("Error")
		x.close("Errors")
		x.leaf("RequestID", rid)
		x.close("Response")
		w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
		w.WriteHeader(e.status)
		io.WriteString(w, x.b.String())
	case protoJSON:
		w.Header().Set("Content-Type", "application/x-amz-json-"+req.jsonVersion)
		w.Header().Set("X-Amzn-ErrorType", e.code)
		w.Header().Set("X-Amzn-RequestId", rid)
		if req.service == "monitoring" {
			w.Header().Set("X-Amzn-Query-Error", queryErrorHeader(e))
		}
		w.WriteHeader(e.status)
		b, _ := json.Marshal(map[string]string{"__type": e.code, "message": e.message})
		w.Write(b)
	case protoCBOR:
		w.Header().Set("Content-Type", "application/cbor")
		w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
		w.Header().Set("X-Amzn-RequestId", rid)
		w.Header().Set("X-Amzn-Query-Error", queryErrorHeader(e))
		w.WriteHeader(e.status)
		b, _ := cbor.Marshal(map[string]string{"__type": e.code, "message": e.message})
		w.Write(b)
	default:
		var x xmlw
		x.b.WriteString(`<ErrorResponse xmlns="` + queryNamespaces[req.service] + `">`)
		x.open("Error")
		if e.server {
			x.leaf("Type", "Receiver")
		} else {
			x.leaf("Type", "Sender")
		}
		x.leaf("Code", e.code)
		x.leaf("Message", e.message)
		x.close("Error")
		x.leaf("RequestId", rid)
		x.close("ErrorResponse")
		w.Header().Set("Content-Type", "text/xml")
		w.Header().Set("X-Amzn-RequestId", rid)
		w.WriteHeader(e.status)
		io.WriteString(w, x.b.String())
	}
}

// queryErrorHeader is the awsQueryCompatible error header CloudWatch sends
// with JSON/CBOR errors ("Code;Sender").
func queryErrorHeader(e *apiError) string {
	if e.server {
		return e.code + ";Receiver"
	}
	return e.code + ";Sender"
}

func writeSuccess(w http.ResponseWriter, req *apiRequest, x *xmlw, out any) {
	switch req.proto {
	case protoEC2:
		var buf bytes.Buffer
		buf.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
		buf.WriteString(`<` + req.action + `Response xmlns="` + queryNamespaces["ec2"] + `">`)
		buf.WriteString("<requestId>" + req.requestID + "</requestId>")
		buf.WriteString(x.b.String())
		buf.WriteString(`</` + req.action + `Response>`)
		w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
		w.Write(buf.Bytes())
	case protoJSON:
		if out == nil {
			out = struct{}{}
		}
		b, err := json.Marshal(out)
		if err != nil {
			writeError(w, req, &apiError{status: 500, code: "InternalFailure", message: err.Error(), server: true})
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-"+req.jsonVersion)
		w.Header().Set("X-Amzn-RequestId", req.requestID)
		w.Write(b)
	case protoCBOR:
		if out == nil {
			out = struct{}{}
		}
		b, err := cborEncMode.Marshal(out)
		if err != nil {
			writeError(w, req, &apiError{status: 500, code: "InternalFailure", message: err.Error(), server: true})
			return
		}
		w.Header().Set("Content-Type", "application/cbor")
		w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
		w.Header().Set("X-Amzn-RequestId", req.requestID)
		w.Write(b)
	default:
		var buf bytes.Buffer
		buf.WriteString(`<` + req.action + `Response xmlns="` + queryNamespaces[req.service] + `">`)
		buf.WriteString(`<` + req.action + `Result>`)
		buf.WriteString(x.b.String())
		buf.WriteString(`</` + req.action + `Result>`)
		buf.WriteString(`<ResponseMetadata><RequestId>` + req.requestID + `</RequestId></ResponseMetadata>`)
		buf.WriteString(`</` + req.action + `Response>`)
		w.Header().Set("Content-Type", "text/xml")
		w.Header().Set("X-Amzn-RequestId", req.requestID)
		w.Write(buf.Bytes())
	}
}

var cborEncMode = func() cbor.EncMode {
	m, err := cbor.EncOptions{Time: cbor.TimeUnixDynamic, TimeTag: cbor.EncTagRequired}.EncMode()
	if err != nil {
		panic(err) // static options; cannot fail
	}
	return m
}()

// decodeJSONOrCBOR decodes a JSON or CBOR request body into v (struct fields
// carry json tags; the CBOR decoder honours them too).
func decodeBody(req *apiRequest, v any) *apiError {
	if len(bytes.TrimSpace(req.body)) == 0 {
		return nil
	}
	var err error
	if req.proto == protoCBOR {
		err = cbor.Unmarshal(req.body, v)
	} else {
		err = json.Unmarshal(req.body, v)
	}
	if err != nil {
		return clientErr("SerializationException", "could not decode the request body: %v", err)
	}
	return nil
}
