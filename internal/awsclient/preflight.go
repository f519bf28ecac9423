package awsclient

import (
	"context"
	"errors"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/rollout"
)

// The plan-time preflight reads what decides whether a rollout can work
// before anything moves: the instances' state, status checks and SSM agent,
// and the documents the steps name. The provider turns the results into
// warnings and errors; these are AWS's facts, not judgements.

// preflightConcurrency bounds the calls in flight at once: a 1,000-instance
// fleet is 10 + 20 reads, which at AWS's 50-200 ms per call would add up
// to seconds one after the other (four rounds at this bound), while the
// bound stays far below the Describe* rate limits.
const preflightConcurrency = maxConcurrentCalls

// InstanceReadiness is what AWS reports about one instance. Empty strings
// mean AWS reported nothing for that field.
type InstanceReadiness struct {
	InstanceID string
	// Exists is false when EC2 does not know the id: it never existed, or
	// was terminated long enough ago to be forgotten (about an hour).
	Exists bool
	// State is EC2's: pending, running, stopping, stopped, shutting-down or
	// terminated.
	State string
	// InstanceStatus and SystemStatus are EC2's status checks: ok, impaired,
	// initializing, insufficient-data, or not-applicable (not running).
	InstanceStatus, SystemStatus string
	// PingStatus is the SSM agent's: Online, ConnectionLost or Inactive;
	// empty when the instance is not a managed node (no agent registered,
	// or terminated).
	PingStatus string
	// AgentChecked is false when the endpoint does not implement
	// DescribeInstanceInformation (an emulator), so PingStatus says nothing.
	AgentChecked bool
}

// CheckInstances reads the EC2 state, status checks and SSM agent status of
// instanceIDs with batched calls run concurrently (at most
// preflightConcurrency at once): DescribeInstanceStatus with
// IncludeAllInstances, 100 ids a call, and DescribeInstanceInformation
// filtered by InstanceIds, 50 ids a call. Every id gets a row; an id EC2
// does not know has Exists false, not an error.
func (c *Client) CheckInstances(ctx context.Context, instanceIDs []string) (map[string]InstanceReadiness, error) {
	ids := dedupe(instanceIDs)
	out := make(map[string]InstanceReadiness, len(ids))
	for _, id := range ids {
		out[id] = InstanceReadiness{InstanceID: id, AgentChecked: true}
	}
	var mu sync.Mutex
	var tasks []func(context.Context) error
	for _, part := range chunks(ids, maxStatusInstanceIDs) {
		tasks = append(tasks, func(ctx context.Context) error {
			rows, err := c.instanceStatuses(ctx, part)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			for _, st := range rows {
				id := aws.ToString(st.InstanceId)
				r, ok := out[id]
				if !ok {
					continue
				}
				r.Exists = true
				if st.InstanceState != nil {
					r.State = string(st.InstanceState.Name)
				}
				if st.InstanceStatus != nil {
					r.InstanceStatus = string(st.InstanceStatus.Status)
				}
				if st.SystemStatus != nil {
					r.SystemStatus = string(st.SystemStatus.Status)
				}
				out[id] = r
			}
			return nil
		})
	}
	for _, part := range chunks(ids, maxInstanceInformationIDs) {
		tasks = append(tasks, func(ctx context.Context) error {
			pings, err := c.pingStatuses(ctx, part)
			unsupported := err != nil && isNotImplemented(err)
			if err != nil && !unsupported {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			for _, id := range part {
				r := out[id]
				r.PingStatus, r.AgentChecked = pings[id], !unsupported
				out[id] = r
			}
			return nil
		})
	}
	if err := runBounded(ctx, preflightConcurrency, tasks); err != nil {
		return nil, err
	}
	return out, nil
}

// instanceStatuses is one DescribeInstanceStatus of at most 100 ids. EC2
// fails the whole call when one id is unknown, so on NotFound the ids that
// still exist are found with DescribeInstances (filtered by instance-id,
// which omits unknown ids) and asked again; an instance can vanish between
// the two calls, hence the few rounds.
func (c *Client) instanceStatuses(ctx context.Context, ids []string) ([]ec2types.InstanceStatus, error) {
	for round := 0; ; round++ {
		var rows []ec2types.InstanceStatus
		p := ec2.NewDescribeInstanceStatusPaginator(c.ec2, &ec2.DescribeInstanceStatusInput{InstanceIds: ids, IncludeAllInstances: aws.Bool(true)})
		var err error
		for p.HasMorePages() && err == nil {
			var page *ec2.DescribeInstanceStatusOutput
			if page, err = p.NextPage(ctx); err == nil {
				rows = append(rows, page.InstanceStatuses...)
			}
		}
		if err == nil {
			return rows, nil
		}
		err = translate("ec2", "DescribeInstanceStatus", err)
		if !errors.Is(err, rollout.ErrNotFound) || round == 2 {
			return nil, err
		}
		found, derr := c.describeInstances(ctx, []ec2types.Filter{{Name: aws.String("instance-id"), Values: ids}})
		if derr != nil {
			return nil, derr
		}
		ids = ids[:0:0]
		for _, inst := range found {
			ids = append(ids, aws.ToString(inst.InstanceId))
		}
		if len(ids) == 0 {
			return nil, nil
		}
	}
}

// pingStatuses is DescribeInstanceInformation filtered by at most 50
// instance ids: one page of 50 holds them all.
func (c *Client) pingStatuses(ctx context.Context, ids []string) (map[string]string, error) {
	out := map[string]string{}
	p := ssm.NewDescribeInstanceInformationPaginator(c.ssm, &ssm.DescribeInstanceInformationInput{
		Filters:    []ssmtypes.InstanceInformationStringFilter{{Key: aws.String("InstanceIds"), Values: ids}},
		MaxResults: aws.Int32(maxInstanceInformationIDs),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, translate("ssm", "DescribeInstanceInformation", err)
		}
		for _, info := range page.InstanceInformationList {
			out[aws.ToString(info.InstanceId)] = string(info.PingStatus)
		}
	}
	return out, nil
}

// DocumentInfo is what SSM reports about one version of a document.
type DocumentInfo struct {
	// Exists is false when SSM knows no document of that name or ARN;
	// VersionExists is false when it does but not the version asked for.
	// Neither is an error.
	Exists, VersionExists bool
	// Name is the document's name (also when asked by ARN).
	Name string
	// Version is the version number the request resolved to ($DEFAULT,
	// $LATEST or empty resolved), LatestVersion and DefaultVersion the
	// document's.
	Version, LatestVersion, DefaultVersion string
	// Parameters are the version's declared parameters, in its order.
	Parameters []DocumentParameter
}

// DocumentParameter is one declared parameter of a document version.
type DocumentParameter struct {
	Name string
	// Required: declared without a default value, so SendCommand must
	// give it.
	Required bool
}

// CheckDocument describes a document version with DescribeDocument. name
// may be an ARN; version is empty (the default version), $DEFAULT, $LATEST
// or a number.
func (c *Client) CheckDocument(ctx context.Context, name, version string) (DocumentInfo, error) {
	in := &ssm.DescribeDocumentInput{Name: aws.String(name)}
	if version != "" {
		in.DocumentVersion = aws.String(version)
	}
	out, err := c.ssm.DescribeDocument(ctx, in)
	if err != nil {
		switch documentMissing(err) {
		case "document":
			// Some endpoints (moto) answer InvalidDocument for a missing
			// version too; whether the document exists is then asked for
			// without the version.
			if numberedVersion(version) {
				if _, err := c.ssm.DescribeDocument(ctx, &ssm.DescribeDocumentInput{Name: aws.String(name)}); err == nil {
					return DocumentInfo{Exists: true}, nil
				}
			}
			return DocumentInfo{}, nil
		case "version":
			return DocumentInfo{Exists: true}, nil
		}
		return DocumentInfo{}, translate("ssm", "DescribeDocument", err)
	}
	d := out.Document
	if d == nil {
		return DocumentInfo{}, &Error{Service: "ssm", Operation: "DescribeDocument", Message: "the answer has no Document", err: errors.New("empty DescribeDocument answer")}
	}
	info := DocumentInfo{
		Exists: true, VersionExists: true, Name: aws.ToString(d.Name), Version: aws.ToString(d.DocumentVersion),
		LatestVersion: aws.ToString(d.LatestVersion), DefaultVersion: aws.ToString(d.DefaultVersion),
		Parameters: []DocumentParameter{},
	}
	for _, p := range d.Parameters {
		info.Parameters = append(info.Parameters, DocumentParameter{Name: aws.ToString(p.Name), Required: p.DefaultValue == nil})
	}
	return info, nil
}

func numberedVersion(v string) bool { return v != "" && v != "$DEFAULT" && v != "$LATEST" }

// runBounded runs tasks with at most limit in flight. The first error
// cancels the others' context and is returned.
func runBounded(ctx context.Context, limit int, tasks []func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for _, task := range tasks {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := task(ctx); err != nil {
				once.Do(func() { first = err; cancel() })
			}
		}()
	}
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		// The caller's context ended before every task started.
		return context.Cause(ctx)
	}
	return first
}
