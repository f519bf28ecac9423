package clock

import "time"

// Clock is the interface every clock here satisfies; it is the same method
// set as rollout.Clock, repeated so this package imports nothing of ours.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

// Real returns the wall clock.
func Real() Clock { return realClock{} }

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// scaledClock runs simulated time 1/scale times as fast as wall time: with
// scale 0.01 one wall second is 100 simulated seconds. It matches the fleet
// simulator's Options.TimeScale so that both agree on how long a deregistration
// delay or a health check interval lasts.
type scaledClock struct {
	scale     float64
	wallStart time.Time
}

// Scaled returns a clock whose Now starts at the current wall time and then
// advances 1/scale simulated seconds per wall second, and whose After(d) fires
// after d*scale of wall time. scale is wall seconds per simulated second; a
// scale that is not positive is treated as 1 (real time) rather than
// freezing or reversing time.
func Scaled(scale float64) Clock {
	if !(scale > 0) {
		scale = 1
	}
	return &scaledClock{scale: scale, wallStart: time.Now()}
}

// Scale is the wall seconds per simulated second of a Scaled clock (the
// provider scales the SDK's retry back-off by it too).
func (c *scaledClock) Scale() float64 { return c.scale }

func (c *scaledClock) Now() time.Time {
	wall := time.Since(c.wallStart)
	return c.wallStart.Add(time.Duration(float64(wall) / c.scale))
}

func (c *scaledClock) After(d time.Duration) <-chan time.Time {
	if d <= 0 {
		return time.After(0)
	}
	wall := time.Duration(float64(d) * c.scale)
	out := make(chan time.Time, 1) // buffered: the timer never blocks on an abandoned wait
	time.AfterFunc(wall, func() { out <- c.Now() })
	return out
}
