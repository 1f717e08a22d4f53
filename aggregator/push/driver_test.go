package push

import (
	"context"
	"time"

	"github.com/kubedag/kubedag/aggregator/store"
)

// fataler is the part of testing.TB (and rapid.T) the driver needs.
type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

// driver runs a Pusher synchronously at its fake clock's time: step does
// what Run does when it wakes (deliver the events that arrived, then carry
// out actions with the real Pusher.do until the engine waits), without a
// goroutine, so tests need no sleeps.
type driver struct {
	t      fataler
	p      *Pusher
	clk    *fakeClock
	sub    *store.Subscription
	ready  <-chan struct{}
	filter <-chan struct{}
	ctx    context.Context
	wake   time.Time // the engine's last Wait
	nexts  int       // Next calls, to catch busy loops
	woke   func()    // if set, called after each step that ran
}

// newDriver starts p's engine at the clock's time, as Run does. Close the
// driver when done.
func newDriver(t fataler, p *Pusher, clk *fakeClock) *driver {
	p.eng.Reset(clk.Now())
	d := &driver{t: t, p: p, clk: clk, sub: p.state.Subscribe(), ready: p.opts.Ready, ctx: context.Background()}
	if p.opts.Filter != nil {
		d.filter = p.opts.Filter.Changed()
		p.eng.SetFilter(clk.Now(), p.opts.Filter.Get())
	}
	return d
}

func (d *driver) Close() { d.sub.Close() }

// step runs the loop once if Run would have woken by now: its timer fired
// or an event arrived. It reports whether it ran.
func (d *driver) step() bool {
	d.t.Helper()
	e := d.p.eng
	woke := !d.clk.Now().Before(d.wake)
	select {
	case <-d.ready:
		d.ready = nil
		e.OpenGate("ready")
		woke = true
	default:
	}
	select {
	case <-d.filter:
		e.SetFilter(d.clk.Now(), d.p.opts.Filter.Get())
		woke = true
	default:
	}
	select {
	case <-d.sub.C():
		e.DirtySet(d.clk.Now(), d.sub.TakeSet()) // as Run does
		woke = true
	default:
	}
	if !woke {
		return false
	}
	for spins := 0; ; {
		now := d.clk.Now()
		a := e.Next(now)
		d.nexts++
		if a.Kind != Wait {
			d.p.do(d.ctx, a)
			continue
		}
		if a.Wake.After(now) {
			d.wake = a.Wake
			break
		}
		// Run would call Next again at once; twice is a busy loop.
		if spins++; spins > 1 {
			d.t.Fatalf("busy loop: the engine waits until %v at %v", a.Wake, now)
		}
	}
	d.p.publish(true)
	if d.woke != nil {
		d.woke()
	}
	return true
}

// run lets dur pass as a real clock would: the loop wakes at every
// deadline on the way.
func (d *driver) run(dur time.Duration) {
	d.t.Helper()
	end := d.clk.Now().Add(dur)
	d.step()
	for now := d.clk.Now(); d.wake.After(now) && !d.wake.After(end); now = d.clk.Now() {
		d.clk.Advance(d.wake.Sub(now))
		d.step()
	}
	if now := d.clk.Now(); now.Before(end) {
		d.clk.Advance(end.Sub(now))
		d.step()
	}
}

// flush delivers what arrived, lets one BatchInterval pass and steps.
func (d *driver) flush() {
	d.step()
	d.clk.Advance(d.p.opts.BatchInterval)
	d.step()
}

// idle reports whether, with the clock standing still and nothing
// changing, the loop sleeps: nothing is due before a future wake.
func (d *driver) idle() bool {
	now := d.clk.Now()
	a := d.p.eng.Next(now)
	d.nexts++
	if a.Kind != Wait {
		d.p.do(d.ctx, a)
		return false
	}
	return a.Wake.After(now)
}
