package dags_test

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kubedag/kubedag/aggregator/dags"
	"github.com/kubedag/kubedag/internal/syncbuf"
	"github.com/kubedag/kubedag/tags/dagfilter"
	"github.com/kubedag/kubedag/userid"
	"github.com/kubedag/kubedag/userid/panossim"
)

const vsys1 = "/config/devices/entry[@name='localhost.localdomain']/vsys/entry[@name='vsys1']"

func setup(t *testing.T, cfg panossim.Config) (*panossim.Server, *userid.Client) {
	t.Helper()
	srv, err := panossim.Start(cfg, true, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	key, err := srv.Sim.APIKeyFor("admin")
	if err != nil {
		t.Fatal(err)
	}
	c, err := userid.New(userid.Config{URL: srv.URL, APIKey: key, RootCAs: srv.CAPool,
		RetryBackoff: time.Millisecond, MaxRetryBackoff: 2 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return srv, c
}

func setAndCommit(t *testing.T, ctx context.Context, c *userid.Client, xpath, element string) {
	t.Helper()
	if err := c.Set(ctx, xpath, element); err != nil {
		t.Fatal(err)
	}
	id, err := c.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitJob(ctx, id, time.Millisecond); err != nil {
		t.Fatal(err)
	}
}

func dag(name, filter string) string {
	return `<entry name="` + name + `"><dynamic><filter>` + filter + `</filter></dynamic></entry>`
}

// start runs a Watcher (Interval long, so only Kick drives it) and returns
// it with the channel its OnChange feeds.
func start(t *testing.T, c *userid.Client, panorama bool, log *syncbuf.Buffer) (*dags.Watcher, chan *dags.Set) {
	t.Helper()
	changes := make(chan *dags.Set, 10)
	w := dags.New(dags.Config{Reader: c, Panorama: panorama, Interval: time.Hour,
		Logger:   slog.New(slog.NewTextHandler(log, nil)),
		OnChange: func(s *dags.Set) { changes <- s }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return w, changes
}

func next(t *testing.T, changes chan *dags.Set) *dags.Set {
	t.Helper()
	select {
	case s := <-changes:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("no change reported")
		return nil
	}
}

func TestWatcherFirewall(t *testing.T) {
	srv, c := setup(t, panossim.Config{})
	ctx := t.Context()
	setAndCommit(t, ctx, c, vsys1+"/address-group", dag("web", `'k8s.cl_prod.ns_shop' and 'k8s.cl_prod.ns_shop.app.web'`))

	log := &syncbuf.Buffer{}
	w, changes := start(t, c, false, log)
	s := next(t, changes)
	select {
	case <-w.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("Ready not closed after the first read")
	}
	if want := []string{"k8s.cl_prod.ns_shop", "k8s.cl_prod.ns_shop.app.web"}; !slices.Equal(s.Tags(), want) || !s.Complete() {
		t.Fatalf("first read: tags %q complete %v, want %q, true", s.Tags(), s.Complete(), want)
	}
	if w.Current() != s || !s.References("k8s.cl_prod.ns_shop") || s.References("k8s.cl_prod.ns_shop.app.db") {
		t.Fatal("Current or References disagree with the first read")
	}

	// A newly committed DAG (and one kubedag cannot parse) shows on Kick.
	setAndCommit(t, ctx, c, "/config/shared/address-group", dag("db", `'k8s.cl_prod.ns_shop.app.db' or 'legacy (db)'`)+dag("odd", `'a' and not 'b'`))
	w.Kick()
	s = next(t, changes)
	if want := []string{"k8s.cl_prod.ns_shop", "k8s.cl_prod.ns_shop.app.db", "k8s.cl_prod.ns_shop.app.web", "legacy (db)"}; !slices.Equal(s.Tags(), want) {
		t.Fatalf("after commit: tags %q, want %q", s.Tags(), want)
	}
	if u := s.Unparsable(); s.Complete() || len(u) != 1 || u[0].Group != "odd" {
		t.Fatalf("unparsable %v, complete %v: want the odd DAG", u, s.Complete())
	}
	if !strings.Contains(log.String(), "group=odd") {
		t.Errorf("unparsable DAG not logged: %s", log.String())
	}

	// A failed read keeps the last good set.
	srv.Sim.SetOutage(true)
	w.Kick()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(log.String(), "keeping the last good set") {
		if time.Now().After(deadline) {
			t.Fatalf("failed read not logged: %s", log.String())
		}
		time.Sleep(5 * time.Millisecond) // polling the log for the failure
	}
	if w.Current() != s {
		t.Fatal("a failed read replaced the last good set")
	}
	srv.Sim.SetOutage(false)
	if err := c.Delete(ctx, "/config/shared/address-group/entry[@name='odd']"); err != nil {
		t.Fatal(err)
	}
	setAndCommit(t, ctx, c, vsys1+"/address-group", dag("web", `'k8s.cl_prod.ns_shop.app.web'`))
	w.Kick()
	s = next(t, changes)
	// ns_shop is no longer referenced; odd is gone, so the set is complete.
	if want := []string{"k8s.cl_prod.ns_shop.app.db", "k8s.cl_prod.ns_shop.app.web", "legacy (db)"}; !slices.Equal(s.Tags(), want) || !s.Complete() {
		t.Fatalf("after fixing: tags %q complete %v", s.Tags(), s.Complete())
	}
}

func TestWatcherPanorama(t *testing.T) {
	srv, c := setup(t, panossim.Config{Panorama: true})
	ctx := t.Context()
	dgs := "/config/devices/entry[@name='localhost.localdomain']/device-group"
	if err := c.Set(ctx, dgs+"/entry[@name='all-clusters']/address-group", dag("ns", `'k8s.cl_a.ns_x'`)); err != nil {
		t.Fatal(err)
	}
	setAndCommit(t, ctx, c, dgs+"/entry[@name='eks']/address-group", dag("web", `'k8s.cl_a.ns_x.app.web'`))
	if err := srv.Sim.SetDeviceGroupParent("eks", "all-clusters"); err != nil {
		t.Fatal(err)
	}
	_, changes := start(t, c, true, &syncbuf.Buffer{})
	s := next(t, changes)
	if want := map[string]string{"all-clusters": "", "eks": "all-clusters"}; !maps.Equal(s.Parents, want) {
		t.Fatalf("parents %v, want %v", s.Parents, want)
	}
	if want := []string{"k8s.cl_a.ns_x", "k8s.cl_a.ns_x.app.web"}; !slices.Equal(s.Tags(), want) {
		t.Fatalf("tags %q, want %q", s.Tags(), want)
	}
}

// Pruning on Panorama keeps what DAGs in shared, a parent device group and
// a child device group reference: a tag registered on Panorama reaches
// firewalls of every device group.
func TestPruningPanorama(t *testing.T) {
	srv, c := setup(t, panossim.Config{Panorama: true})
	ctx := t.Context()
	dgs := "/config/devices/entry[@name='localhost.localdomain']/device-group"
	if err := c.Set(ctx, "/config/shared/address-group", dag("all", `'k8s.cl_a.nodes'`)); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, dgs+"/entry[@name='all-clusters']/address-group", dag("ns", `'k8s.cl_a.ns_x' and 'k8s.cl_b.ns_x'`)); err != nil {
		t.Fatal(err)
	}
	setAndCommit(t, ctx, c, dgs+"/entry[@name='eks']/address-group", dag("web", `'k8s.cl_a.ns_x.app.web'`))
	if err := srv.Sim.SetDeviceGroupParent("eks", "all-clusters"); err != nil {
		t.Fatal(err)
	}
	_, changes := start(t, c, true, &syncbuf.Buffer{})
	p := dags.PruningOf(next(t, changes), nil)
	for tag, want := range map[string]bool{
		"k8s.cl_a.nodes": true, "k8s.cl_a.ns_x": true, "k8s.cl_b.ns_x": true, "k8s.cl_a.ns_x.app.web": true,
		"k8s.cl_a.ns_x.app.db": false, "k8s.cl_b.nodes": false,
	} {
		if got := p.Keep(tag); got != want {
			t.Errorf("Keep(%q) = %v, want %v", tag, got, want)
		}
	}
}

// A commit is noticed through the probe alone: no Kick, the full-read
// interval an hour.
func TestWatcherProbe(t *testing.T) {
	_, c := setup(t, panossim.Config{})
	ctx := t.Context()
	setAndCommit(t, ctx, c, vsys1+"/address-group", dag("a", `'a'`))
	changes := make(chan *dags.Set, 10)
	w := dags.New(dags.Config{Reader: c, Interval: time.Hour, Probe: c.LastCommit, ProbeInterval: 5 * time.Millisecond,
		OnChange: func(s *dags.Set) { changes <- s }})
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(runCtx) }()
	t.Cleanup(func() { cancel(); <-done })
	if s := next(t, changes); !slices.Equal(s.Tags(), []string{"a"}) {
		t.Fatalf("first read: %q", s.Tags())
	}
	// The commit (taking b, set earlier, with it) is noticed by the probe.
	if err := c.Set(ctx, vsys1+"/address-group", dag("b", `'b'`)); err != nil {
		t.Fatal(err)
	}
	setAndCommit(t, ctx, c, vsys1+"/address-group", dag("c", `'c' or 'a'`))
	if s := next(t, changes); !slices.Equal(s.Tags(), []string{"a", "b", "c"}) {
		t.Fatalf("after commit: %q", s.Tags())
	}
}

func TestPruning(t *testing.T) {
	parse := func(group, filter string) userid.DAGFilter {
		f := userid.DAGFilter{Location: userid.DAGLocation{Scope: userid.ScopeShared}, Group: group, Filter: filter}
		f.Expr, f.Err = dagfilter.Parse(filter)
		return f
	}
	complete := dags.NewSet([]userid.DAGFilter{parse("web", `'k8s.a' and ('k8s.b' or 'legacy (x)')`)}, nil, time.Time{})
	broken := dags.NewSet([]userid.DAGFilter{parse("web", `'k8s.a'`), parse("odd", `'k8s.c' and not 'k8s.d'`)}, nil, time.Time{})
	always := []string{"k8s.cl_prod.ns_*", "k8s.keep"}
	for _, tc := range []struct {
		name string
		set  *dags.Set
		keep map[string]bool
	}{
		{"nothing read: keep all", nil, map[string]bool{"k8s.a": true, "k8s.z": true}},
		{"no DAG found: keep all", dags.NewSet(nil, nil, time.Time{}), map[string]bool{"k8s.a": true, "k8s.keep": true}},
		{"referenced or always", complete, map[string]bool{
			"k8s.a": true, "k8s.b": true, "legacy (x)": true, "k8s.keep": true, "k8s.cl_prod.ns_shop": true,
			"k8s.c": false, "k8s.keep2": false, "k8s.cl_dev.ns_shop": false, "legacy": false}},
		// odd does not parse: it might reference anything, so nothing is pruned.
		{"unparsable: keep all", broken, map[string]bool{"k8s.a": true, "k8s.c": true, "k8s.z": true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := dags.PruningOf(tc.set, always)
			if (p == nil) != (tc.set == nil || !tc.set.Complete() || len(tc.set.Filters) == 0) {
				t.Fatalf("PruningOf nil = %v", p == nil)
			}
			for tag, want := range tc.keep {
				if got := p.Keep(tag); got != want {
					t.Errorf("Keep(%q) = %v, want %v", tag, got, want)
				}
			}
		})
	}
}
