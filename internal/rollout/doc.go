// Package rollout is the rolling-deployment engine: the schedule (pure batch and
// capacity arithmetic, AZ ordering, expected duration), the per-instance state
// machine (leave, steps, rejoin, bake), the failure policy, rollback,
// cancellation and resume.
//
// It owns no I/O of its own. It talks to the world only through the small
// interfaces in ports.go, which internal/awsclient implements with the AWS SDK
// and unit tests implement with fakes. It must not import Terraform packages
// or the AWS SDK, and it never calls time.Now or time.Sleep: every wait goes
// through the injected Clock and selects on ctx.Done().
package rollout
