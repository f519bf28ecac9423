package rollout

import (
	"sort"
	"strings"
)

// masked is the replacement for every Spec.Sensitive value.
const masked = "(sensitive value)"

// masker hides sensitive values in everything the engine writes: event
// messages, error texts and stderr tails.
type masker struct{ r *strings.Replacer }

func newMasker(values []string) masker {
	var vs []string
	for _, v := range values {
		if v != "" {
			vs = append(vs, v)
		}
	}
	if len(vs) == 0 {
		return masker{}
	}
	// Longest first, so a secret containing another is masked whole.
	sort.Slice(vs, func(i, j int) bool { return len(vs[i]) > len(vs[j]) })
	pairs := make([]string, 0, 2*len(vs))
	for _, v := range vs {
		pairs = append(pairs, v, masked)
	}
	return masker{r: strings.NewReplacer(pairs...)}
}

func (m masker) String(s string) string {
	if m.r == nil {
		return s
	}
	return m.r.Replace(s)
}

// Err wraps err so that its text is masked while errors.Is/As still see the
// original (ErrThrottled, ErrNotFound).
func (m masker) Err(err error) error {
	if err == nil || m.r == nil {
		return err
	}
	return &maskedError{msg: m.String(err.Error()), err: err}
}

type maskedError struct {
	msg string
	err error
}

func (e *maskedError) Error() string { return e.msg }
func (e *maskedError) Unwrap() error { return e.err }

// tail keeps the last lines of command output for error messages: enough to
// see why a script failed without flooding the Terraform diagnostics.
func tail(s string) string {
	const maxLines, maxChars = 5, 600
	s = strings.TrimRight(s, "\n")
	lines := strings.Split(s, "\n")
	if len(lines) > maxLines {
		lines = lines[len(lines)-maxLines:]
	}
	out := strings.Join(lines, "\n")
	if len(out) > maxChars {
		out = "..." + out[len(out)-maxChars:]
	}
	return out
}
