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
//
// Where things are, in the order a rollout goes through them:
//
//	engine.go    Run, the engine and group types, newEngine
//	run.go       the loop: iterate, cancellation, alarms, the Result
//	decide.go    what leaves next, as data (decide), and applying it; the capacity floor
//	stages.go    the stages of a group and their dispatch, the phase tags
//	leave.go     1 leave: tag, standby / deregister, wait drained
//	steps.go     2 steps: send each step, poll it, learn how long it takes
//	join.go      3 join and health: register / exit standby, wait healthy
//	bake.go      4 bake: stay healthy for bake_time
//	finish.go    5 finish: the version tag, the batch's end and pause
//	timing.go    when each stage looks again: every poll interval and bound
//	window.go    fragments (window mode, batch mode at its own pace): split, wait for siblings or the batch, coalesce
//	zonegate.go  zone_by_zone: departures from one zone, the zone bake between zones
//	failure.go   what happens to an instance that fails, rollback, cancellation
//	observe.go   reading target health and lifecycle states for a stage
//	fanout.go    the port calls of a pass made at once, the engine's mutex
//	standby.go   how many of an Auto Scaling group's members may enter standby
//	readiness.go the readiness check of instances about to leave
//	targets_tag.go, mask.go   the rolling:targets tag; masking sensitive values
//	schedule.go, duration.go  pure batch and capacity arithmetic, expected duration
//	zones.go     zone_by_zone's pure part: zone order, zone runs, its checks and duration
//	api.go, spec.go, validate.go, ports.go, result.go, errors.go  the API
//
// "Where is the decision of when to poll a step again?" timing.go
// (stepPolls.next, stepPollEvery). "What happens to a window fragment that
// finishes early?" window.go (waitForSiblings, coalesce).
//
// How Run is built:
//
//   - One select loop. Each iteration advances every group of instances
//     whose wait is over, then asks decide (no side effects) what may leave
//     next, applies that decision, and waits on the clock for the earliest
//     wake-up or on the context. The I/O fans out (fanout.go): the reads of
//     every group due at a moment are made at once before their stages run
//     (one health read per target group, one invocation listing, one
//     lifecycle read), the stages of those groups then run at once, a
//     stage's calls to several target groups and Auto Scaling groups go at
//     once, and a departure that can go leaves alongside the polls, never
//     after them. The engine's own logic still runs one piece at a time (a
//     mutex held by the logic, released by every port call), and decisions
//     only between passes, so the capacity accounting sees a state nothing
//     else changes, and a fake clock replays a rollout (see simulate in
//     world_test.go).
//   - A group is a set of instances that move through the stages together
//     (leave, drain, each step, join, health, bake, finish) so every API call
//     covers all of them. In window mode members that finish a step early
//     split off into their own group and go on; a fragment waits briefly for
//     the others of its step and, bounded, for the rest of its departure
//     before rejoining, and groups due at the same point are merged
//     (waitForSiblings, coalesce), so a departure rejoins, bakes and frees
//     its slots together and the next departure is one group again. Batch
//     mode splits the same way during its steps unless lockstep, and a
//     fragment past its last step waits for the whole batch (waitForBatch):
//     the batch rejoins together.
//   - The capacity floor is enforced at one place, takeNext: an instance that
//     is in service may leave only while the in-service count stays at or
//     above ceil(N x min_healthy_percent). Before any departure the fleet's
//     health is re-read (one DescribeTargetHealth per target group).
//   - Waits are set to when the outcome is expected, not to a short fixed
//     timer: the deregistration delay, healthy_threshold x interval, and for
//     steps a high percentile of the per-instance durations observed earlier
//     in the rollout (SSM's own request and finish times when reported; the
//     first time, polls start at 2 s and spread out). Polls then follow at
//     a modest interval.
//   - Tags are written when an instance leaves (rolling:phase=draining, the
//     rollout id, its registrations), when it is done (rolling:version, and
//     the out-of-service tags removed), and on an instance left out of
//     service, the phase it stopped in: no write per step.
//   - Transient API errors are retried where giving up would leave a
//     healthy instance out (registration, reading health, final tags); a
//     departure needs a fresh read of fleet health, or nothing leaves.
//   - What happens to a failed instance is a pure decision (failureAction):
//     drop it (gone: terminated, as Auto Scaling or EC2 says), leave it alone
//     (never left), restore it (it may be healthy: leaving failed, or a step
//     was undeliverable), keep it registered (its health cannot be read, so
//     the load balancer's own checks decide), roll it back, or leave it out
//     of service, tagged and reported.
//   - A target group deleted mid-rollout is dropped (no failure of its
//     instances, which rejoin the groups that remain) and scheduling stops.
//   - On cancellation, groups waiting out draining or a bake are put back at
//     once; running steps get the grace period.
//
// The safety properties (capacity never below the floor, no instance updated
// twice, every instance ends updated, rolled back or reported, nothing healthy
// left deregistered, every tagged instance reported out of service) are checked
// by property tests on a fake world's own record (property_test.go).
package rollout
