package aggregator

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubedag/kubedag/aggregator/config"
	"github.com/kubedag/kubedag/aggregator/sandwich"
	"github.com/kubedag/kubedag/userid"
	"github.com/kubedag/kubedag/userid/panossim"
)

// writeCounter is the real PAN-OS client, counting the config changes
// and commits that reach it.
type writeCounter struct {
	*userid.Client
	mu     sync.Mutex
	writes []string
}

func (w *writeCounter) add(what string) {
	w.mu.Lock()
	w.writes = append(w.writes, what)
	w.mu.Unlock()
}

func (w *writeCounter) Writes() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.writes...)
}

func (w *writeCounter) Edit(ctx context.Context, xpath, element string) error {
	w.add("edit " + xpath)
	return w.Client.Edit(ctx, xpath, element)
}

func (w *writeCounter) Delete(ctx context.Context, xpath string) error {
	w.add("delete " + xpath)
	return w.Client.Delete(ctx, xpath)
}

func (w *writeCounter) Move(ctx context.Context, xpath, where, dst string) error {
	w.add("move " + xpath)
	return w.Client.Move(ctx, xpath, where, dst)
}

func (w *writeCounter) CommitPartial(ctx context.Context, p userid.Partial) (int, error) {
	w.add("commit")
	return w.Client.CommitPartial(ctx, p)
}

func (w *writeCounter) CommitAll(ctx context.Context, dg string, tpl bool) (int, error) {
	w.add("push")
	return w.Client.CommitAll(ctx, dg, tpl)
}

// TestSandwichFenced: the sandwich, as the aggregator wires it, changes
// and commits the firewall's config only while the Lease fence holds. A
// leader resumed after a freeze past its Lease (its fence passed, the
// elector not yet told) must not send its pending change and commit.
func TestSandwichFenced(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name      string
		deadline  func() time.Time // nil: no leader election, no fence
		wantWrite bool
	}{
		{"lease held", func() time.Time { return time.Now().Add(time.Hour) }, true},
		{"no leader election", nil, true},
		{"fence passed (resumed after SIGSTOP)", func() time.Time { return now.Add(-10 * time.Second) }, false},
		{"not holding the lease", func() time.Time { return time.Time{} }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := panossim.Start(panossim.Config{Users: map[string]string{"kubedag": "pw"}}, true, "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = srv.Close() })
			dir := t.TempDir()
			for f, v := range map[string]string{"username": "kubedag", "password": "pw"} {
				if err := os.WriteFile(filepath.Join(dir, f), []byte(v), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			cfg, err := config.Parse([]byte(fmt.Sprintf(`cluster: it
targets:
- name: fw
  url: %s
  usernameFile: %s
  passwordFile: %s
sandwich:
  enabled: true
  targets: [fw]
  quiet: 10ms
  inventory:
    subnets: [{id: subnet-a, cidr: 10.0.0.0/19, zone: us-east-1a}]
    firewalls: [{id: fw-a, zone: us-east-1a, trustSubnet: 10.0.128.0/24}]
`, srv.URL, filepath.Join(dir, "username"), filepath.Join(dir, "password"))))
			if err != nil {
				t.Fatal(err)
			}
			ccfg, err := cfg.Targets[0].ClientConfig(nil)
			if err != nil {
				t.Fatal(err)
			}
			ccfg.RootCAs = srv.CAPool
			c, err := userid.New(ccfg)
			if err != nil {
				t.Fatal(err)
			}
			fw := &writeCounter{Client: c}
			p, err := newSandwich(Options{Config: cfg, Client: fake.NewClientset(), Logger: slog.New(slog.DiscardHandler)},
				[]sandwichTarget{{cfg: cfg.Targets[0], client: fw, admin: ccfg.Username}}, tt.deadline)
			if err != nil {
				t.Fatal(err)
			}
			// The engine's first sync (at once) reads the target, writes
			// the inventory's routes and commits.
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan struct{})
			go func() { defer close(done); _ = p.engine.Run(ctx) }()
			var st sandwich.TargetStatus
			deadline := time.Now().Add(30 * time.Second)
			for st = p.engine.Targets()[0]; st.LastSync.IsZero(); st = p.engine.Targets()[0] {
				if time.Now().After(deadline) {
					t.Fatal("no sync within 30s")
				}
				time.Sleep(10 * time.Millisecond)
			}
			cancel()
			<-done
			writes := fw.Writes()
			if tt.wantWrite {
				if st.LastError != "" || len(writes) == 0 || writes[len(writes)-1] != "commit" {
					t.Fatalf("sync error %q, calls %v: want the config written and committed", st.LastError, writes)
				}
				return
			}
			if len(writes) != 0 {
				t.Fatalf("config calls %v reached the target past the fence", writes)
			}
			if !strings.Contains(st.LastError, ErrFenced.Error()) {
				t.Fatalf("sync error %q, want the fence named", st.LastError)
			}
		})
	}
}
