// Package fleetsim is a local AWS region for tests, the demo and benchmarks:
// an http.Handler that speaks the real wire protocols of ELBv2, EC2, SSM,
// Auto Scaling, CloudWatch and STS over a model of an EC2 fleet behind ELBv2
// target groups, with fault injection and a recorder of every call and of
// in-service capacity over time.
//
// It owns the model (instances, target groups and their health checks,
// draining, SSM command execution, Auto Scaling groups, alarms), its
// simulated clock, the protocol codecs and the admin API under /_sim/. It
// must not import the provider, the rollout engine or awsclient: it stands in
// for AWS and knows nothing of its callers. It does not import the AWS SDK
// either (only its tests do), so the wire formats here are written from the
// protocol definitions, and the tests prove them against the real SDK clients
// and the AWS CLI.
//
// # Faithful to AWS
//
//   - One endpoint for every service; dispatch on the SigV4 credential scope's
//     signing name, falling back to the rpc-v2-cbor path, X-Amz-Target and the
//     query Version field.
//   - Wire protocols: awsQuery XML (ELBv2, Auto Scaling, STS, CloudWatch for
//     the CLI), ec2Query (no Result wrapper, <item> lists, RequestID in errors),
//     awsJson1_1 (SSM), awsJson1_0 and Smithy rpc-v2-cbor (CloudWatch, with the
//     Smithy-Protocol header and the awsQueryCompatible X-Amzn-Query-Error
//     header). Error codes, HTTP statuses and error shapes as AWS sends them.
//   - Throttling with listed codes (Throttling, RequestLimitExceeded,
//     ThrottlingException), never a bare 429, so SDK retryers behave as
//     against AWS. Token buckets refill in simulated time, so a limit means
//     the same at every time scale (clients must back off in simulated time
//     too); sizes follow AWS-FACTS.md.
//   - SigV4: the Authorization header must be present and well formed; with a
//     credential list unknown keys get InvalidClientTokenId / AuthFailure /
//     UnrecognizedClientException, and signatures are verified when the secret
//     is known (also for temporary credentials issued by AssumeRole*).
//   - Target health states and reasons; health checks every interval from
//     registration, healthy/unhealthy after threshold consecutive results;
//     draining for the deregistration delay, then gone (Target.NotRegistered
//     when asked for explicitly); stopped/terminated instances are
//     unused/Target.InvalidState; registration needs a running instance.
//   - EC2 StopInstances, StartInstances, TerminateInstances go through
//     stopping, pending and shutting-down for Timing.Stop, Timing.Launch and
//     Timing.Shutdown, refuse a change from the wrong state with
//     IncorrectInstanceState (the whole call), and repeat harmlessly.
//     Terminated instances stay listed for an hour. DescribeInstanceStatus
//     reports running instances (all with IncludeAllInstances) with system
//     and instance checks: not-applicable unless running, initializing for
//     Timing.StatusChecks after reaching running, then ok, or what
//     Faults.SetStatusChecks forces.
//   - SSM documents resolve by name or ARN and version ($DEFAULT, $LATEST,
//     number); SendCommand refuses undeclared parameters, missing required
//     ones (no default value) and a String given several values
//     (InvalidParameters), unknown documents and versions.
//   - SSM invocation Status vs StatusDetails, ResponseCode -1 until an exit
//     code exists, output caps (24,000 / 8,000; 2,500 per plugin in
//     ListCommandInvocations), MaxConcurrency, MaxErrors, delivery timeout
//     (TimeoutSeconds) and execution timeout (executionTimeout).
//   - Pagination where AWS paginates (opaque tokens), with AWS's page-size
//     ranges.
//
// # Call latency
//
// Options.Latency (latency.go) gives every call a latency in simulated time,
// drawn per call from a lognormal distribution per service, plus a cost per
// KiB of answer; a call is served halfway through it and answered at its
// end. The zero value is off (unit tests); AWSLatency() is on in the
// benchmarks, the demo and the standalone command (-latency). Its figures
// are estimates: medians of 50-80 ms (EC2 80, ELB 60, Auto Scaling 70, SSM
// 55, CloudWatch 50, STS 40), p99s of 150-300 ms, 60 µs per KiB. What they
// rest on, all same-region calls through an SDK:
//
//   - the aws-sdk-go httptrace example's output (aws/aws-sdk-go
//     example/aws/request/httptrace/README.md): one SNS Publish 79.9 ms end
//     to end of which 44.6 ms waiting for the first byte on a new
//     connection, another 101.9 ms on a reused one;
//   - Karpenter's SDK histograms (aws/karpenter-provider-aws issue 5302):
//     an EKS DescribeCluster in the 114-171 ms bucket;
//   - Karpenter's debug log (aws/karpenter-provider-aws issue 1521): an SSM
//     GetParameter and an EC2 DescribeLaunchTemplates answered 42 ms and
//     46 ms after the call before them;
//   - the issue that asked for this model (about 80 ms a call; "real AWS
//     calls take 50-200 ms").
//
// None of them measures ELBv2, Auto Scaling or a p99; the tail and the
// per-service differences are guesses of the same order. The slow fault
// (Faults.SlowResponses) adds simulated time on top.
//
// # AWS-RunShellScript convention
//
// Each line of the commands parameter runs in order, taking a run time drawn
// from Timing (constant or lognormal); the first failing line ends the
// invocation with its exit code:
//
//	app stop              the application stops (health checks start failing)
//	app start             the installed version starts
//	app deploy VERSION    installs VERSION; exit 1 + stderr if Faults.FailDeploy
//	app check             exit 0 iff the app runs and its version is healthy
//	sleep S               takes S simulated seconds
//	exit N                exits N
//	echo TEXT             TEXT to stdout
//	fail MESSAGE          MESSAGE to stderr, exit 1
//	LINE || true          runs LINE and ignores its failure
//	N="$(aws ssm get-parameter --name P --with-decryption --query Parameter.Value --output text)" || exit C; export N
//	                      reads P as the instance profile (SetInstanceProfilePolicy);
//	                      missing or denied: the CLI's error, exit C (instance_parameters.go)
//	anything else         succeeds after the run time
//
// # Simplified
//
//   - Time is simulated: Options.TimeScale wall seconds per simulated second.
//     All modelled durations are simulated; APIs report AWS units. A single
//     event queue, advanced lazily on each call and by a light ticker, drives
//     every transition; there is no goroutine per instance.
//   - One reservation per instance, one VPC, one ALB per name; health checks
//     are the model's predicate (instance running, app started, version not
//     marked never-healthy), not HTTP requests. Target.NotInUse is not
//     modelled.
//   - SSM documents other than AWS-RunShellScript only wait their run time
//     and echo their parameters to stdout; version names are not modelled. Delivery to an offline agent is
//     retried every 5 simulated seconds (Delayed) and ends Undeliverable
//     (Status Failed) after Timing.Undeliverable, or Delivery Timed Out if
//     TimeoutSeconds comes first; AWS's retry schedule is not documented.
//     A command whose failures
//     stay within MaxErrors ends Success/"Incomplete" (the Status AWS uses
//     there is unverified).
//   - Auto Scaling: EnteringStandby lasts until draining ends in every
//     attached target group; ExitStandby is Pending for 2 simulated seconds.
//     Scale-out launches in the AZ with the fewest members; scale-in follows
//     the default termination policy in short (most populated AZ, then
//     instances not on the launch version, then closest to the billing
//     hour, the oldest on a tie instead of at random), and a member the
//     group terminates is Terminating while it drains, then shuts down. A
//     member stopped or terminated through EC2 is noticed after 10 simulated
//     seconds and replaced. The cooldown (DefaultCooldown from the last
//     capacity change) only matters to SetDesiredCapacity with
//     HonorCooldown; no warm pools, lifecycle hooks or instance protection.
//     The Faults' terminate and replace act at once, without draining.
//   - EC2 status checks have one detail (reachability) and no scheduled
//     events; forced results do not change ELB health checks (combine with
//     NeverHealthy).
//   - CloudWatch alarms are only stored states (no metrics).
//   - STS accepts any web identity token of plausible length; temporary
//     credentials report a wall-clock Expiration (so SDK caches refresh) but
//     are not refused after it.
//
// # Parameter Store
//
// PutParameter, GetParameter(s), GetParametersByPath, DeleteParameter(s),
// DescribeParameters, GetParameterHistory and LabelParameterVersion
// (api_parameters*.go) follow the SSM API reference: naming rules (15
// levels, reserved aws/ssm prefixes), versions from 1 (at most 100),
// ParameterAlreadyExists without Overwrite, Tags with Overwrite refused, the
// 4 KB / 8 KB tier limits, SecureString ciphertext unless WithDecryption,
// ARNs without the name's leading slash, LastModifiedUser = the caller's
// ARN, LastModifiedDate on the simulated clock. Parameter policies, shared
// parameters, tag APIs and KMS keys (any KeyId is accepted) are not
// modelled. The recorder keeps PutParameter's value only for String and
// StringList (CloudTrail's HIDDEN_DUE_TO_SECURITY_REASONS for SecureString)
// and never a response; GET /_sim/parameters and Sim.Parameters list names,
// versions, types and tags, never values.
//
// # IAM enforcement
//
// With an IAM policy document (Options.Policy, Sim.SetPolicy at any time,
// the seed's "policy", PUT /_sim/policy or the command's -policy flag) every
// caller - the static credentials and every AssumeRole session - is held to
// it as to an identity-based policy: explicit Deny wins, then Allow, else
// implicit deny. Statements take Action/NotAction and Resource/NotResource
// with * and ? wildcards (action names case-insensitive, ARNs matched field
// by field), policy variables, and Condition with the String*, Arn*,
// Numeric*, Bool and Null operators, ...IfExists and ForAllValues/
// ForAnyValue, over aws:TagKeys, aws:RequestTag/K, aws:ResourceTag/K,
// ec2:ResourceTag/K, autoscaling:ResourceTag/K, ssm:resourceTag/K,
// ssm:Overwrite, ssm:Recursive, aws:PrincipalArn and a few more global keys.
// iamRules (iam_actions*.go) maps every served call to the resource ARNs the
// Service Authorization Reference lists for it ("*" for the Describe/List
// calls); a call it lacks is denied with a message naming the table.
// Denials use each protocol's real error: AccessDenied (HTTP 403, query
// services and CloudWatch), UnauthorizedOperation with an encoded
// authorization message (EC2; base64url JSON here, not encrypted) and
// AccessDeniedException (HTTP 400, SSM; also for the kms:Encrypt/Decrypt
// SSM needs with a customer managed key). GetCallerIdentity and the unsigned
// AssumeRoleWithWebIdentity are never denied; trust policies, resource
// policies, SCPs and permission boundaries are not modelled.
package fleetsim
