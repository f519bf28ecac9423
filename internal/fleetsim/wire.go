package fleetsim

import (
	"encoding/binary"
	"encoding/xml"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

type protocol int

const (
	protoQuery protocol = iota // awsQuery: ELBv2, Auto Scaling, STS, CloudWatch (CLI)
	protoEC2                   // ec2Query
	protoJSON                  // awsJson1_1 (SSM) and awsJson1_0 (CloudWatch)
	protoCBOR                  // Smithy rpc-v2-cbor (CloudWatch, Go SDK)
)

func (p protocol) String() string {
	switch p {
	case protoEC2:
		return "ec2"
	case protoJSON:
		return "json"
	case protoCBOR:
		return "cbor"
	}
	return "query"
}

// apiRequest is one decoded AWS call.
type apiRequest struct {
	service     string
	action      string
	proto       protocol
	jsonVersion string
	form        url.Values
	body        []byte
	accessKey   string
	requestID   string
	call        *Call
}

// apiError is an AWS error in protocol-neutral form.
type apiError struct {
	status  int
	code    string
	message string
	server  bool
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func clientErr(code, format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: code, message: fmt.Sprintf(format, args...)}
}

func (r *apiRequest) get(name string) string { return r.form.Get(name) }

// indexedGroups collects `prefix.N.rest=value` form fields into one map of
// rest -> value per N, ordered by N. prefix is e.g. "Targets.member" or
// "Filter".
func (r *apiRequest) indexedGroups(prefix string) []map[string]string {
	groups := map[int]map[string]string{}
	p := prefix + "."
	for key, vals := range r.form {
		if !strings.HasPrefix(key, p) || len(vals) == 0 {
			continue
		}
		rest := key[len(p):]
		idxStr, sub, _ := strings.Cut(rest, ".")
		idx, err := strconv.Atoi(idxStr)
		if err != nil || idx < 1 {
			continue
		}
		if groups[idx] == nil {
			groups[idx] = map[string]string{}
		}
		groups[idx][sub] = vals[0]
	}
	idxs := make([]int, 0, len(groups))
	for i := range groups {
		idxs = append(idxs, i)
	}
	sort.Ints(idxs)
	out := make([]map[string]string, 0, len(idxs))
	for _, i := range idxs {
		out = append(out, groups[i])
	}
	return out
}

// list reads a scalar list: `prefix.N` (ec2Query flat lists) or
// `prefix.member.N` (awsQuery) - pass the full prefix.
func (r *apiRequest) list(prefix string) []string {
	var out []string
	for _, g := range r.indexedGroups(prefix) {
		if v, ok := g[""]; ok {
			out = append(out, v)
		}
	}
	return out
}

// subList reads a nested list inside one group map, e.g. "Value" of a
// Filter group ("Value.1", "Value.2", ...).
func subList(g map[string]string, name string) []string {
	type kv struct {
		i int
		v string
	}
	var items []kv
	for k, v := range g {
		rest, ok := strings.CutPrefix(k, name+".")
		if !ok {
			continue
		}
		rest = strings.TrimPrefix(rest, "member.")
		if i, err := strconv.Atoi(rest); err == nil {
			items = append(items, kv{i, v})
		}
	}
	sort.Slice(items, func(a, b int) bool { return items[a].i < items[b].i })
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.v
	}
	return out
}

// xmlw builds XML text; values are escaped, element names are ours.
type xmlw struct{ b strings.Builder }

func (x *xmlw) open(name string)  { x.b.WriteString("<" + name + ">") }
func (x *xmlw) close(name string) { x.b.WriteString("</" + name + ">") }
func (x *xmlw) leaf(name, value string) {
	x.open(name)
	_ = xml.EscapeText(&x.b, []byte(value))
	x.close(name)
}
func (x *xmlw) leafIf(name, value string) {
	if value != "" {
		x.leaf(name, value)
	}
}
func (x *xmlw) int(name string, v int)        { x.leaf(name, strconv.Itoa(v)) }
func (x *xmlw) bool(name string, v bool)      { x.leaf(name, strconv.FormatBool(v)) }
func (x *xmlw) time(name string, t time.Time) { x.leaf(name, xmlTime(t)) }

func xmlTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// epoch is a timestamp that JSON encodes as epoch seconds (awsJson) and CBOR
// as tag 1 + float64 (rpc-v2-cbor), the shapes the SDKs expect.
type epoch time.Time

func (e epoch) MarshalJSON() ([]byte, error) {
	return []byte(strconv.FormatFloat(float64(time.Time(e).UnixMilli())/1000, 'f', 3, 64)), nil
}

func (e epoch) MarshalCBOR() ([]byte, error) {
	b := make([]byte, 10)
	b[0] = 0xc1 // tag 1: epoch-based date/time
	b[1] = 0xfb // float64
	binary.BigEndian.PutUint64(b[2:], math.Float64bits(float64(time.Time(e).UnixMilli())/1000))
	return b, nil
}

func epochPtr(t time.Time) *epoch {
	if t.IsZero() {
		return nil
	}
	e := epoch(t)
	return &e
}

// paginate slices items by an opaque offset token.
func paginate(total int, token string, pageSize int) (start, end int, next string, err *apiError) {
	if token != "" {
		n, convErr := strconv.Atoi(strings.TrimPrefix(token, "fleetsim-"))
		if convErr != nil || n < 0 || n > total || !strings.HasPrefix(token, "fleetsim-") {
			return 0, 0, "", clientErr("InvalidNextToken", "The pagination token %q is not valid.", token)
		}
		start = n
	}
	end = total
	if pageSize > 0 && start+pageSize < total {
		end = start + pageSize
		next = fmt.Sprintf("fleetsim-%d", end)
	}
	return start, end, next, nil
}

func validToken(token string) bool {
	if token == "" {
		return true
	}
	rest, ok := strings.CutPrefix(token, "fleetsim-")
	if !ok {
		return false
	}
	_, err := strconv.Atoi(rest)
	return err == nil
}

func timeOf(e *epoch) time.Time { return time.Time(*e) }
