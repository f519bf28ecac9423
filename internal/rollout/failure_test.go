package rollout

import (
	"errors"
	"strings"
	"testing"
)

func TestFailureAction_decisionTable(t *testing.T) {
	for _, c := range []struct {
		name        string
		k           kind
		f           failure
		canRollback bool
		cancelled   bool
		want        action
	}{
		{"gone beats everything", kindDeploy, failure{gone: true, restore: true}, true, false, actDrop},
		{"never left: nothing to undo", kindDeploy, failure{untouched: true}, true, false, actUntouched},
		{"failed to leave: rejoin if healthy", kindDeploy, failure{restore: true}, true, false, actRestore},
		{"failed step, rollback on", kindDeploy, failure{phase: PhaseStep}, true, false, actRollback},
		{"failed step, rollback off", kindDeploy, failure{phase: PhaseStep}, false, false, actLeaveOut},
		{"failed step while cancelling: no new work", kindDeploy, failure{phase: PhaseStep}, true, true, actLeaveOut},
		{"failed rollback stays out", kindRollback, failure{phase: PhaseStep}, true, false, actLeaveOut},
		{"failed restore stays out", kindRestore, failure{phase: PhaseJoining}, true, false, actLeaveOut},
	} {
		if got := failureAction(c.k, c.f, c.canRollback, c.cancelled); got != c.want {
			t.Errorf("%s: got %d, want %d", c.name, got, c.want)
		}
	}
}

func TestRunError_listsEveryInstanceErrorAndUnwrapsThem(t *testing.T) {
	a := &InstanceError{Batch: 1, InstanceID: "i-a", Phase: PhaseStep, Step: "deploy", ExitCode: 2, Status: "Failed",
		StderrTail: "line1\nline2", LeftOutOfService: true}
	b := &InstanceError{Batch: 2, InstanceID: "i-b", Phase: PhaseJoining, ExitCode: -1, Err: errors.New("not healthy")}
	err := &RunError{Status: StatusFailed, StopReason: "2 instances failed", Updated: 3, OutOfService: []string{"i-a"}, Errs: []error{a, b}}
	msg := err.Error()
	for _, want := range []string{"rollout failed (2 instances failed): 3 updated", "left out of service (tagged rolling:phase): i-a",
		`batch 1, i-a, phase step (step "deploy"): SSM command Failed, exit code 2`, "  stderr: line1\n  line2",
		"batch 2, i-b, phase joining: not healthy"} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
	var ierr *InstanceError
	if !errors.As(err, &ierr) || ierr != a {
		t.Fatal("errors.As does not find the instance errors")
	}
}

func TestMasker_hidesSecretsButKeepsErrorIdentity(t *testing.T) {
	m := newMasker([]string{"abc", "abcdef", ""})
	if got := m.String("x abcdef y abc"); got != "x "+masked+" y "+masked {
		t.Fatalf("masked %q", got)
	}
	err := m.Err(errors.Join(ErrThrottled, errors.New("token abcdef")))
	if strings.Contains(err.Error(), "abc") || !errors.Is(err, ErrThrottled) {
		t.Fatalf("masked error %q, is throttled %v", err, errors.Is(err, ErrThrottled))
	}
	if got := tail("1\n2\n3\n4\n5\n6\n7\n"); got != "3\n4\n5\n6\n7" {
		t.Fatalf("tail %q", got)
	}
}
