package push

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kubedag/kubedag/aggregator/dags"
	"github.com/kubedag/kubedag/aggregator/store"
	"github.com/kubedag/kubedag/tags"
	"github.com/kubedag/kubedag/tags/dagfilter"
	"github.com/kubedag/kubedag/userid"
	"github.com/kubedag/kubedag/userid/panossim"
)

// pruneWorld is a cluster's pod tags in the k8s preset's shapes (20 labels
// per pod, 10 pods per workload, 40 namespaces) and 15 DAGs of the kinds
// operators write: whole namespaces, one app, a tier within a namespace,
// a Service's pods.
type pruneWorld struct {
	pods    int
	podTags []tags.Set // per workload
	dagSet  *dags.Set
}

const pruneNamespaces = 40

func pruneNS(ns int) string { return fmt.Sprintf("k8s.cl_prod.ns_team%02d", ns) }

func newPruneWorld(tb testing.TB, pods int) *pruneWorld {
	w := &pruneWorld{pods: pods}
	workloads := (pods + 9) / 10
	for wl := range workloads {
		ns := pruneNS(wl % pruneNamespaces)
		app := fmt.Sprintf("app%d", wl)
		labels := [][2]string{
			{"app", app}, {"version", fmt.Sprintf("v%d", wl%3+1)}, {"tier", []string{"front", "back", "data"}[wl%3]},
			{"team", fmt.Sprintf("team%d", wl%12)}, {"env", "prod"}, {"release", "rel-" + app}, {"chart", fmt.Sprintf("chart%d-1.4.%d", wl%25, wl%7)},
			{"component", []string{"api", "worker", "cache", "db", "ui", "cron"}[wl%6]}, {"part-of", fmt.Sprintf("system%d", wl%10)},
			{"managed-by", "helm"}, {"pod-template-hash", fmt.Sprintf("%08x", wl*2654435761)},
		}
		for k := len(labels); k < 20; k++ {
			labels = append(labels, [2]string{fmt.Sprintf("example.com_label%d", k), fmt.Sprintf("value%d", wl%(k+2))})
		}
		ts := []string{ns, ns + ".rs_" + app + "-" + labels[10][1], ns + ".svc_" + app}
		for _, l := range labels {
			ts = append(ts, ns+"."+l[0]+"."+l[1])
		}
		w.podTags = append(w.podTags, tags.NewSet(ts...))
	}
	filters := []string{}
	for i := range 5 {
		filters = append(filters, fmt.Sprintf(`'%s'`, pruneNS(i)))
	}
	for i := range 5 {
		filters = append(filters, fmt.Sprintf(`'%s.app.app%d'`, pruneNS(5+i), 5+i))
	}
	for i := range 3 {
		filters = append(filters, fmt.Sprintf(`'%s' and ('%s.tier.data' or '%s.component.db')`, pruneNS(10+i), pruneNS(10+i), pruneNS(10+i)))
	}
	filters = append(filters, fmt.Sprintf(`'%s.svc_app13' or '%s.svc_app14'`, pruneNS(13), pruneNS(14)))
	filters = append(filters, fmt.Sprintf(`'%s.env.prod' and '%s.team.team3'`, pruneNS(15), pruneNS(15)))
	var fs []userid.DAGFilter
	for i, f := range filters {
		d := userid.DAGFilter{Location: userid.DAGLocation{Scope: userid.ScopeShared}, Group: fmt.Sprintf("dag%02d", i), Filter: f}
		if d.Expr, d.Err = dagfilter.Parse(f); d.Err != nil {
			tb.Fatalf("DAG %q: %v", f, d.Err)
		}
		fs = append(fs, d)
	}
	w.dagSet = dags.NewSet(fs, nil, time.Time{})
	return w
}

func (w *pruneWorld) ip(pod, gen int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(64 + gen), byte(pod >> 8), byte(pod)})
}

// wireCounter counts the request bytes (URL and body) the emulator
// receives.
type wireCounter struct {
	h     http.Handler
	bytes atomic.Int64
}

func (c *wireCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	c.bytes.Add(int64(len(r.URL.RequestURI()) + len(body)))
	r.Body = io.NopCloser(strings.NewReader(string(body)))
	c.h.ServeHTTP(w, r)
}

// pruneCost is what one phase cost on the wire.
type pruneCost struct {
	calls, entries int
	bytes          int64
}

// pruneRun is one pass of the workload against a fresh emulator through
// the real client and engine: the initial sync of every pod, the
// replacement of a tenth of the pods (new IPs), a TTL refresh of
// everything, and (pruned only) a newly committed DAG referencing two
// more tags. mappings are the IP-tag pairs the emulator holds after the
// sync.
type pruneRun struct {
	mappings, ips                   int
	initial, churn, refresh, newDAG pruneCost
}

func runPruneWorld(tb testing.TB, w *pruneWorld, prune bool) pruneRun {
	sim := panossim.New(panossim.Config{})
	wc := &wireCounter{h: sim}
	srv := httptest.NewServer(wc)
	defer srv.Close()
	key, err := sim.APIKeyFor("admin")
	if err != nil {
		tb.Fatal(err)
	}
	client, err := userid.New(userid.Config{URL: srv.URL, APIKey: key, Timeout: time.Minute, Retries: -1, MaxEntries: DefaultMaxBatch})
	if err != nil {
		tb.Fatal(err)
	}
	defer client.Close()
	opts := quietOptions()
	clk := newFakeClock()
	opts.Now, opts.ResyncInterval = clk.Now, 24*time.Hour
	var filter *FilterVar
	if prune {
		filter = NewFilterVar(dags.PruningOf(w.dagSet, nil))
		opts.Filter = filter
	}
	st := store.New(store.Options{})
	p, err := New(client, st, opts)
	if err != nil {
		tb.Fatal(err)
	}
	d := newDriver(tb, p, clk)
	defer d.Close()
	d.step()
	settle := func() {
		for range 100 {
			d.flush()
			if s := p.Status(); s.Pending == 0 && d.sub.Len() == 0 {
				if s.Retrying > 0 || !s.Healthy {
					tb.Fatalf("target refused entries: %+v", s)
				}
				return
			}
		}
		tb.Fatalf("did not settle: %+v", p.Status())
	}
	phase := func(run func()) pruneCost {
		sim.ResetStats()
		wc.bytes.Store(0)
		run()
		settle()
		s := sim.Stats()
		return pruneCost{calls: s.UserIDCalls, entries: s.RegisterEntries + s.UnregisterEntries, bytes: wc.bytes.Load()}
	}
	claim := func(pod, gen int) {
		st.Upsert("n", w.ip(pod, gen), store.Claim{Owner: fmt.Sprint("uid-", pod, "-", gen), Tags: w.podTags[pod/10]})
	}
	var r pruneRun
	r.initial = phase(func() {
		for pod := range w.pods {
			claim(pod, 0)
		}
	})
	for _, ts := range sim.Registered() {
		r.mappings += len(ts)
		r.ips++
	}
	r.churn = phase(func() {
		for pod := 0; pod < w.pods; pod += 10 {
			st.Delete("n", w.ip(pod, 0))
			claim(pod, 1)
		}
	})
	r.refresh = phase(func() { clk.Advance(31 * time.Minute) })
	if prune {
		r.newDAG = phase(func() {
			s := w.dagSet
			f := userid.DAGFilter{Location: userid.DAGLocation{Scope: userid.ScopeDeviceGroup, Name: "eks"}, Group: "new", Filter: fmt.Sprintf(`'%s.tier.front' or '%s'`, pruneNS(20), pruneNS(21))}
			if f.Expr, f.Err = dagfilter.Parse(f.Filter); f.Err != nil {
				tb.Fatal(f.Err)
			}
			filter.Set(dags.PruningOf(dags.NewSet(append(slices.Clone(s.Filters), f), nil, time.Time{}), nil))
		})
	}
	return r
}

// TestPruningSavings checks the pruning benchmark's harness at a small
// scale: with pruning the emulator holds exactly the referenced tags of
// every pod, and registering them costs fewer calls and bytes than
// registering every tag.
func TestPruningSavings(t *testing.T) {
	w := newPruneWorld(t, 300)
	all, pruned := runPruneWorld(t, w, false), runPruneWorld(t, w, true)
	wantAll, wantPruned := 0, 0
	for pod := range w.pods {
		s := w.podTags[pod/10]
		wantAll += s.Len()
		for _, tg := range s.Slice() {
			if w.dagSet.References(tg) {
				wantPruned++
			}
		}
	}
	if all.mappings != wantAll || pruned.mappings != wantPruned || wantPruned == 0 || wantPruned >= wantAll/4 {
		t.Fatalf("mappings: all %d (want %d), pruned %d (want %d)", all.mappings, wantAll, pruned.mappings, wantPruned)
	}
	if pruned.initial.bytes >= all.initial.bytes || pruned.refresh.bytes >= all.refresh.bytes || pruned.churn.bytes >= all.churn.bytes {
		t.Fatalf("pruning did not save bytes: all %+v, pruned %+v", all, pruned)
	}
	if pruned.newDAG.calls == 0 || pruned.newDAG.entries == 0 {
		t.Fatalf("a new DAG's tags were not registered: %+v", pruned.newDAG)
	}
}

// BenchmarkPruning measures tag pruning against its baseline in the same
// run: 10,000 pods with 20 labels each (23 tags) and 15 DAGs, through the
// real client and engine against the emulator. Reported per phase:
// User-ID calls and request megabytes on the wire, and the IP-tag
// mappings the target holds. Run with -benchtime=1x (each iteration is
// the whole workload).
func BenchmarkPruning(b *testing.B) {
	w := newPruneWorld(b, 10_000)
	for _, mode := range []struct {
		name  string
		prune bool
	}{{"all-tags", false}, {"pruned", true}} {
		b.Run(mode.name, func(b *testing.B) {
			var r pruneRun
			for b.Loop() {
				r = runPruneWorld(b, w, mode.prune)
			}
			mb := func(n int64) float64 { return float64(n) / 1e6 }
			b.ReportMetric(float64(r.mappings), "mappings")
			b.ReportMetric(float64(r.ips), "IPs")
			b.ReportMetric(float64(r.initial.calls), "sync-calls")
			b.ReportMetric(mb(r.initial.bytes), "sync-MB")
			b.ReportMetric(float64(r.churn.calls), "churn-calls")
			b.ReportMetric(mb(r.churn.bytes), "churn-MB")
			b.ReportMetric(float64(r.refresh.calls), "refresh-calls")
			b.ReportMetric(mb(r.refresh.bytes), "refresh-MB")
			if mode.prune {
				b.ReportMetric(float64(r.newDAG.calls), "newdag-calls")
				b.ReportMetric(mb(r.newDAG.bytes), "newdag-MB")
			}
		})
	}
}
