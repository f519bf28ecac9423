package awsclient

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/rollout"
)

// Rollout leases: one rollout at a time per fleet, held in SSM Parameter
// Store, which every workspace and CI runner of an account can reach.
//
// Parameter Store offers one atomic conditional write, PutParameter without
// Overwrite (ParameterAlreadyExists when the name is taken), and a version
// that each write of a parameter raises by exactly one. There is no
// compare-and-swap and DeleteParameter is unconditional, so the protocol is
// built from those two facts alone:
//
//   - acquire: create the parameter (without Overwrite);
//   - renew: overwrite, naming in the value the write it follows
//     (Follows). Version h+1 back means nobody wrote since our h; any other
//     answer is checked by reading versions h and h+1 (see Renew);
//   - take over a stale lease: overwrite, following the write judged stale.
//     SSM hands out each version once, so of any number of takers exactly
//     the one that gets the stale version + 1 wins; the others wrote values
//     following a write nobody holds any more, which every holder ignores;
//   - release: delete, if the latest version is still our write.
//
// Delete-then-create is never used to take over: two takers could each
// delete the other's fresh lease and both hold version 1.
//
// When a lease is stale is the caller's decision (see the provider's
// deployment_lease.go): this file only reads and writes.

// LeasePath is the Parameter Store path every lease parameter lives under;
// the documented IAM policy scopes the lease actions to it.
const LeasePath = "/rolling/lease"

// maxLeaseValue is the standard tier's value limit (4 KB): leases stay in
// the free tier.
const maxLeaseValue = 4096

// ErrLeaseHeld means another holder has the lease (the create found it, or a
// takeover lost the race).
var ErrLeaseHeld = errors.New("the lease is held")

// ErrLeaseLost means a lease we held was taken over or deleted.
var ErrLeaseLost = errors.New("the lease was lost")

// LeaseValue is what a lease parameter holds, as JSON. Times are the
// writer's clock and only informative: no reader compares them with its own.
type LeaseValue struct {
	RolloutID string `json:"rollout_id"`
	// Origin names where the holding run comes from (an HCP Terraform
	// workspace, or host, working directory and workspace): one
	// Terraform state, which Terraform's state lock keeps to one run at a
	// time.
	Origin string `json:"origin"`
	Run    string `json:"run,omitempty"` // HCP Terraform run id
	Host   string `json:"host,omitempty"`
	PID    int    `json:"pid,omitempty"`
	// Process is random per provider configuration (one Terraform run's
	// provider): a lease with our Origin and another Process was left by an
	// earlier run.
	Process      string   `json:"process"`
	TargetGroups []string `json:"target_groups"`
	// InstanceIDs is the resource's instance_ids, empty when it covers every
	// instance of its target groups; Partial means the list did not fit and
	// was dropped, so readers must assume every instance.
	InstanceIDs []string  `json:"instance_ids,omitempty"`
	Partial     bool      `json:"partial,omitempty"`
	AcquiredAt  time.Time `json:"acquired_at"`
	RenewedAt   time.Time `json:"renewed_at"`
	// TTL is how long the holder may go without renewing; readers judge
	// staleness by it on their own clock.
	TTL string `json:"ttl"`
	// Write is unique per write; Follows is the write this one follows
	// (empty for a create). Writes are named, not numbered, because
	// version numbers start again at 1 when a parameter is deleted and
	// created again.
	Write   string `json:"write"`
	Follows string `json:"follows,omitempty"`
}

// TTLDuration is TTL parsed; 0 when it does not parse.
func (v LeaseValue) TTLDuration() time.Duration {
	d, _ := time.ParseDuration(v.TTL)
	return d
}

// LeaseRecord is one version of a lease parameter as read.
type LeaseRecord struct {
	Name     string
	Version  int64
	Modified time.Time // LastModifiedDate, Parameter Store's clock
	Value    LeaseValue
	// Unreadable is set when the value is not a lease written by this
	// provider (someone else's parameter under the path).
	Unreadable bool
}

// Lease is a lease this process holds. Its methods are not safe for
// concurrent use: one goroutine renews, then releases.
type Lease struct {
	c       *Client
	name    string
	value   LeaseValue
	version int64
	// ours holds every write id we attempted, also those whose answer was
	// lost (a timeout after SSM took the write): none of them is someone
	// else's takeover.
	ours map[string]bool
}

// Name is the lease parameter's name.
func (l *Lease) Name() string { return l.name }

// Version is the version of our last write.
func (l *Lease) Version() int64 { return l.version }

// Value is our last written value.
func (l *Lease) Value() LeaseValue { return l.value }

// LeaseName is the parameter name of a lease key (letters, digits, _.-).
func LeaseName(key string) string { return LeasePath + "/" + key }

// CreateLease acquires the lease if nobody holds it: PutParameter without
// Overwrite. It returns an error wrapping ErrLeaseHeld when the name exists.
func (c *Client) CreateLease(ctx context.Context, name string, v LeaseValue) (*Lease, error) {
	v.Follows, v.Write = "", newWriteID()
	version, err := c.putLease(ctx, name, v, false)
	if errorCode(err) == "ParameterAlreadyExists" {
		// The SDK may have retried a create that SSM had taken: then the
		// parameter is our own write.
		now, readErr := c.readLease(ctx, name, 0)
		if readErr != nil || now.Value.Write != v.Write {
			return nil, fmt.Errorf("%s: %w", name, ErrLeaseHeld)
		}
		version, err = now.Version, nil
	}
	if err != nil {
		return nil, err
	}
	return &Lease{c: c, name: name, value: v, version: version, ours: map[string]bool{v.Write: true}}, nil
}

// TakeOverLease replaces a lease the caller judged stale, as read in stale.
// Only the taker whose write gets version stale.Version+1 wins; any other
// outcome is an error wrapping ErrLeaseHeld (somebody else wrote first: the
// holder renewed, or another taker won).
func (c *Client) TakeOverLease(ctx context.Context, stale LeaseRecord, v LeaseValue) (*Lease, error) {
	v.Follows, v.Write = stale.Value.Write, newWriteID()
	version, err := c.putLease(ctx, stale.Name, v, true)
	if err != nil {
		return nil, err
	}
	if version != stale.Version+1 {
		return nil, fmt.Errorf("%s: version %d was written before our takeover: %w", stale.Name, stale.Version+1, ErrLeaseHeld)
	}
	// Version numbers start again at 1 after a delete: make sure the
	// version we followed is still the one judged stale.
	prev, err := c.readLease(ctx, stale.Name, stale.Version)
	if err != nil && !errors.Is(err, rollout.ErrNotFound) {
		return nil, err
	}
	if err != nil || prev.Value.Write != stale.Value.Write {
		return nil, fmt.Errorf("%s was deleted and created again during the takeover: %w", stale.Name, ErrLeaseHeld)
	}
	return &Lease{c: c, name: stale.Name, value: v, version: version, ours: map[string]bool{v.Write: true}}, nil
}

// Renew overwrites the lease with renewedAt and checks that nobody took it
// meanwhile. It returns an error wrapping ErrLeaseLost, with the lease as it
// now reads when that is known, if someone did; any other error leaves the
// question open (the caller retries).
func (l *Lease) Renew(ctx context.Context, renewedAt time.Time) error {
	next := l.value
	next.RenewedAt, next.Follows, next.Write = renewedAt, l.value.Write, newWriteID()
	h := l.version
	l.ours[next.Write] = true
	version, err := l.c.putLease(ctx, l.name, next, true)
	if err != nil {
		return err
	}
	l.value, l.version = next, version
	switch {
	case version == 1:
		// Our overwrite created it anew: someone had deleted it.
		return l.lost(ctx, "the parameter was deleted")
	case version <= h:
		return l.lost(ctx, "the parameter was deleted and created again")
	}
	// Our version h must still be ours: after a delete and a create the
	// numbers start again, and h+1 alone proves nothing.
	mine, err := l.c.readLease(ctx, l.name, h)
	switch {
	case errors.Is(err, rollout.ErrNotFound):
		return l.lost(ctx, "the parameter was deleted")
	case err != nil:
		return err
	case !l.ours[mine.Value.Write]:
		return l.lost(ctx, "the parameter was deleted and created again")
	}
	if version == h+1 {
		return nil
	}
	// Someone wrote between h and our renewal. Only a write of h+1 that
	// follows our write h is a takeover; anything else is a loser's write
	// (a takeover of a version we renewed since, or a former holder's
	// renewal), ignored.
	after, err := l.c.readLease(ctx, l.name, h+1)
	if err != nil {
		return err
	}
	if after.Value.Follows == mine.Value.Write && !l.ours[after.Value.Write] {
		return l.lost(ctx, fmt.Sprintf("version %d took it over", h+1))
	}
	return nil
}

func (l *Lease) lost(ctx context.Context, why string) error {
	now, err := l.c.readLease(ctx, l.name, 0)
	if err == nil {
		return &LeaseLostError{Name: l.name, Why: why, Now: &now}
	}
	return &LeaseLostError{Name: l.name, Why: why}
}

// LeaseLostError says why a held lease was lost and, when known, who has it.
type LeaseLostError struct {
	Name string
	Why  string
	Now  *LeaseRecord
}

func (e *LeaseLostError) Error() string { return e.Name + ": " + e.Why }

func (e *LeaseLostError) Unwrap() error { return ErrLeaseLost }

// Release deletes the lease if its latest version is still our write. A
// lease already gone, or someone else's now, is left alone and not an error:
// there is nothing of ours to release. Between the read and the delete a
// takeover could only come from a reader that saw no renewal for a whole
// TTL, which a holder that renews until it releases never gives.
func (l *Lease) Release(ctx context.Context) error {
	return l.c.DeleteLeaseIfUnchanged(ctx, LeaseRecord{Name: l.name, Version: l.version, Value: l.value})
}

// DeleteLeaseIfUnchanged deletes a lease whose latest version is still rec
// (same version, same write): how a holder releases, and how a stale lease
// is cleared. It is not an error when the lease is gone or has changed.
func (c *Client) DeleteLeaseIfUnchanged(ctx context.Context, rec LeaseRecord) error {
	now, err := c.readLease(ctx, rec.Name, 0)
	if errors.Is(err, rollout.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if now.Version != rec.Version || now.Value.Write != rec.Value.Write {
		return nil
	}
	_, err = c.ssm.DeleteParameter(ctx, &ssm.DeleteParameterInput{Name: aws.String(rec.Name)})
	if errorCode(err) == "ParameterNotFound" {
		return nil
	}
	return translate("ssm", "DeleteParameter", err)
}

// ReadLease reads a lease's latest version; an error wrapping
// rollout.ErrNotFound when nobody holds it.
func (c *Client) ReadLease(ctx context.Context, name string) (LeaseRecord, error) {
	return c.readLease(ctx, name, 0)
}

// ListLeases reads every lease under LeasePath (GetParametersByPath, which
// IAM can scope to the path, ten a page).
func (c *Client) ListLeases(ctx context.Context) ([]LeaseRecord, error) {
	var out []LeaseRecord
	p := ssm.NewGetParametersByPathPaginator(c.ssm, &ssm.GetParametersByPathInput{
		Path: aws.String(LeasePath), Recursive: aws.Bool(false), MaxResults: aws.Int32(10),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return out, translate("ssm", "GetParametersByPath", err)
		}
		for _, prm := range page.Parameters {
			out = append(out, leaseRecord(prm))
		}
	}
	return out, nil
}

// readLease reads one version (0 = the latest) with a selector name:version.
func (c *Client) readLease(ctx context.Context, name string, version int64) (LeaseRecord, error) {
	ref := name
	if version > 0 {
		ref += ":" + strconv.FormatInt(version, 10)
	}
	out, err := c.ssm.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(ref)})
	if err != nil {
		switch errorCode(err) {
		case "ParameterNotFound", "ParameterVersionNotFound":
			return LeaseRecord{}, fmt.Errorf("%s: %w", translate("ssm", "GetParameter", err), rollout.ErrNotFound)
		}
		return LeaseRecord{}, translate("ssm", "GetParameter", err)
	}
	if out.Parameter == nil {
		return LeaseRecord{}, fmt.Errorf("ssm GetParameter %s: no parameter in the answer", ref)
	}
	return leaseRecord(*out.Parameter), nil
}

func (c *Client) putLease(ctx context.Context, name string, v LeaseValue, overwrite bool) (int64, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return 0, err
	}
	if len(raw) > maxLeaseValue {
		return 0, fmt.Errorf("ssm PutParameter %s: the lease value has %d bytes; a standard-tier parameter holds at most %d", name, len(raw), maxLeaseValue)
	}
	out, err := c.ssm.PutParameter(ctx, &ssm.PutParameterInput{
		Name:        aws.String(name),
		Value:       aws.String(string(raw)),
		Type:        ssmtypes.ParameterTypeString,
		Tier:        ssmtypes.ParameterTierStandard,
		Overwrite:   aws.Bool(overwrite),
		Description: aws.String("rolling_deployment lease: one rollout at a time on these instances. Delete only if its holder is gone."),
	})
	if err != nil {
		return 0, translate("ssm", "PutParameter", err)
	}
	return out.Version, nil
}

func leaseRecord(p ssmtypes.Parameter) LeaseRecord {
	rec := LeaseRecord{Name: aws.ToString(p.Name), Version: p.Version, Modified: aws.ToTime(p.LastModifiedDate)}
	if err := json.Unmarshal([]byte(aws.ToString(p.Value)), &rec.Value); err != nil || rec.Value.Write == "" {
		rec.Unreadable = true
	}
	return rec
}

func newWriteID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
