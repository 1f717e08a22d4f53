package leader

import (
	"context"
	"fmt"
	"sync"
	"time"

	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// fence records when this replica last wrote the Lease as its holder, so
// pushing can stop before a successor may take over even when this
// replica's own elector has not noticed yet (a process frozen by SIGSTOP or
// a long GC pause resumes believing it leads).
//
// A successor acquires the Lease only LeaseDuration after it observed our
// last renew, which it cannot have observed before we started writing it.
// So the start of our last successful write plus RenewDeadline (which
// client-go requires to be below LeaseDuration) is an instant before which
// no other replica can hold the Lease; the difference covers a call in
// flight and clock-rate drift.
type fence struct {
	window time.Duration // RenewDeadline

	mu    sync.Mutex
	until time.Time // monotonic; zero when not holding
	// holder is the holder named by the Lease as last read or written.
	holder string
}

func (f *fence) sawHolder(h string) {
	f.mu.Lock()
	f.holder = h
	f.mu.Unlock()
}

func (f *fence) lastHolder() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.holder
}

func (f *fence) deadline() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.until
}

func (f *fence) clear() {
	f.mu.Lock()
	f.until = time.Time{}
	f.mu.Unlock()
}

// wrote records a successful write of the Lease begun at start; holder is
// the identity it named (empty on release).
func (f *fence) wrote(start time.Time, holder, self string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if holder != self {
		f.until = time.Time{}
		return
	}
	if u := start.Add(f.window); u.After(f.until) {
		f.until = u
	}
}

// fencedLock is the Lease lock with every write recorded in the fence.
type fencedLock struct {
	resourcelock.Interface
	fence *fence
}

func (l fencedLock) Get(ctx context.Context) (*resourcelock.LeaderElectionRecord, []byte, error) {
	r, raw, err := l.Interface.Get(ctx)
	if err == nil {
		l.fence.sawHolder(r.HolderIdentity)
	}
	return r, raw, err
}

func (l fencedLock) Create(ctx context.Context, ler resourcelock.LeaderElectionRecord) error {
	start := time.Now()
	err := l.Interface.Create(ctx, ler)
	if err == nil {
		l.fence.wrote(start, ler.HolderIdentity, l.Identity())
		l.fence.sawHolder(ler.HolderIdentity)
	}
	return err
}

func (l fencedLock) Update(ctx context.Context, ler resourcelock.LeaderElectionRecord) error {
	start := time.Now()
	if ler.HolderIdentity != l.Identity() {
		// Releasing: stop pushing before the write, not after.
		l.fence.clear()
		// client-go's release reads the Lease, then decides from the
		// record it observed before (not the one it just read) that it
		// still holds it: a leader frozen past its Lease would, on
		// resuming, release the Lease its successor now holds, and a
		// third replica (or itself) would lead beside the successor,
		// whose own fence is still open. Release only a Lease that names
		// this replica. Without a resourceVersion change in between (the
		// write is conditional on it), that read is the Lease written.
		if h := l.fence.lastHolder(); h != l.Identity() {
			return fmt.Errorf("not releasing the Lease: it is held by %q, not by this replica", h)
		}
	}
	err := l.Interface.Update(ctx, ler)
	if err == nil {
		l.fence.wrote(start, ler.HolderIdentity, l.Identity())
		l.fence.sawHolder(ler.HolderIdentity)
	}
	return err
}
