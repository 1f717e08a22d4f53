package scale

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubedag/kubedag/e2e/cluster"
	"github.com/kubedag/kubedag/e2e/dnstest"
	"github.com/kubedag/kubedag/tags"
	"github.com/kubedag/kubedag/userid/panossim"
)

// Defaults of Config (the scale: 200 nodes, 10,000 pods, 500 API
// writes per second).
const (
	DefaultNodes           = 200
	DefaultPods            = 10000
	DefaultServices        = 50
	DefaultRate            = 500
	DefaultChurn           = 60 * time.Second
	DefaultFirewallLatency = 5 * time.Millisecond
	DefaultDrain           = 2 * time.Minute
	DefaultReplicas        = 2
	writers                = 32 // concurrent API writes
	clusterName            = "scale"
	serverName             = "kubedag-aggregator"
)

// Config configures Run. Zero values take the defaults.
type Config struct {
	Nodes, Pods, Services int
	// Rate is API writes (creates, relabels, deletes) per second.
	Rate int
	// Churn is how long the relabel/delete/create mix runs after the
	// pods are created.
	Churn time.Duration
	// FirewallLatency is the emulator's delay of every API call.
	FirewallLatency time.Duration
	// Drain bounds the wait for acknowledgements after each phase.
	Drain time.Duration
	// Replicas is the aggregator processes: one leads (holds the Lease and
	// pushes), the others are hot standbys; every agent streams to each.
	Replicas int
	// AggregatorBin is the built ./aggregator command. Required.
	AggregatorBin string
	// Dir receives the aggregator's log, TLS files and tokens. Required.
	Dir string
	// Logger receives progress (info) and the agents' logs.
	Logger *slog.Logger
}

func (c *Config) validate() error {
	if c.AggregatorBin == "" || c.Dir == "" {
		return errors.New("scale: AggregatorBin and Dir are required")
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.Nodes, DefaultNodes)
	def(&c.Pods, DefaultPods)
	def(&c.Services, DefaultServices)
	def(&c.Rate, DefaultRate)
	def(&c.Replicas, DefaultReplicas)
	if c.Churn <= 0 {
		c.Churn = DefaultChurn
	}
	if c.FirewallLatency == 0 {
		c.FirewallLatency = DefaultFirewallLatency
	}
	if c.Drain <= 0 {
		c.Drain = DefaultDrain
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Report is the outcome of Run.
type Report struct {
	Nodes, Pods, Services, Rate int
	Churn, FirewallLatency      time.Duration
	CPUs                        int
	LoadAvg                     string // /proc/loadavg at the start and end

	// CreateRate and ChurnRate are the API writes per second achieved.
	CreateRate, ChurnRate float64
	WriteErrors           int
	// Outstanding describes each change still unacknowledged at the end:
	// its kind, IP and tag, and the tags the firewall holds for the IP
	// (whether the change reached the firewall and only its ack was
	// missed, or it never did).
	Outstanding []string
	Latency     []Latency
	// EarlyAcks counts creates acknowledged before this process's watch
	// saw the pod Running (their latency counts as 0).
	EarlyAcks int
	// Superseded counts changes overtaken by a later change of the same
	// pod before their ack, and not awaited.
	Superseded int
	// Registered is the IPs the firewall holds tags for at the end, Live
	// the Running pods.
	Registered, Live int

	// Aggregators are the aggregator processes, leader and standbys.
	Aggregators []Replica
	// Converged is whether every replica's desired state held the Live
	// pods' IPs at the end (each replica's IPs are in Aggregators).
	Converged bool
	// ProcessCPU is the CPU (ms per second during churn) of the control
	// plane's processes and of the bench process, by name.
	ProcessCPU map[string]float64
	// Watch load, whole run and during churn only.
	Agents, ClusterWide           LoadStats
	AgentsChurn, ClusterWideChurn LoadStats
	ChurnSeconds                  float64
	Elapsed                       time.Duration
}

// pod is the bench's record of one pod it made.
type pod struct {
	name, node string
	rev        int
	ip         netip.Addr
	sent       time.Time // when the create was sent
	// write orders the pod's writes: writers run in parallel, and an
	// older relabel's patch landing after a newer one's would leave the
	// pod on a rev whose tag is no longer awaited, and the newer one's
	// awaited for ever.
	write sync.Mutex
}

type run struct {
	cfg     Config
	c       *cluster.Cluster
	ns      string
	nodes   []string
	writer  kubernetes.Interface
	tr      *tracker
	revTag  func(rev int) string
	errs    atomic.Int64
	seq     atomic.Int64
	mu      sync.Mutex
	pending map[string]*pod // created, not yet seen Running with an IP
	live    []*pod          // Running with an IP
	next    int             // round-robin cursor over live
}

// Run runs the scale benchmark on c (started with kwok).
func Run(ctx context.Context, c *cluster.Cluster, cfg Config) (*Report, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	start := time.Now()
	rep := &Report{Nodes: cfg.Nodes, Pods: cfg.Pods, Services: cfg.Services, Rate: cfg.Rate, Churn: cfg.Churn,
		FirewallLatency: cfg.FirewallLatency, CPUs: runtime.NumCPU(), LoadAvg: loadAvg()}
	log := cfg.Logger
	r := &run{cfg: cfg, c: c, tr: newTracker(), pending: map[string]*pod{}}
	var err error
	wc := rest.CopyConfig(c.Config)
	wc.QPS, wc.Burst = float32(4*cfg.Rate), 4*cfg.Rate
	if r.writer, err = kubernetes.NewForConfig(wc); err != nil {
		return nil, err
	}

	// The cluster: nodes, the agents' read access, Services.
	if r.ns, err = c.CreateNamespace(ctx, "scale"); err != nil {
		return nil, err
	}
	if r.revTag, err = revTagger(r.ns); err != nil {
		return nil, err
	}
	log.Info("scale: nodes", "n", cfg.Nodes)
	if r.nodes, err = c.CreateNodes(ctx, "scale", cfg.Nodes); err != nil {
		return nil, err
	}
	if err := c.WaitNodesReady(ctx, r.nodes...); err != nil {
		return nil, err
	}
	if err := r.grantNodes(ctx); err != nil {
		return nil, err
	}
	for s := range cfg.Services {
		if err := r.createService(ctx, fmt.Sprintf("svc%d", s)); err != nil {
			return nil, err
		}
	}

	// The firewall, and the aggregator processes: one leads and pushes to
	// it, the others stand by. Each replica has its own firewall user, so
	// the emulator's log tells who called.
	users := map[string]string{}
	for i := range cfg.Replicas {
		users[fmt.Sprintf("agg-%d", i)] = fmt.Sprintf("pw-%d", i)
	}
	em, err := panossim.Start(panossim.Config{Capacity: 4*cfg.Pods + 1000, Users: users}, true, "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("emulator: %w", err)
	}
	defer em.Close()
	if cfg.FirewallLatency > 0 {
		em.Sim.SetLatency(cfg.FirewallLatency)
	}
	dns, err := dnstest.Start()
	if err != nil {
		return nil, err
	}
	defer dns.Close()
	aggs, addr, ca, err := r.startAggregators(em, dns)
	defer func() {
		for _, a := range aggs {
			_ = a.proc.Stop(20 * time.Second)
		}
	}()
	if err != nil {
		return nil, err
	}
	if err := poll(ctx, time.Minute, "a replica leading", func() bool {
		sts, err := states(ctx, aggs)
		return err == nil && slices.ContainsFunc(sts, func(s replicaStatus) bool { return s.Leading })
	}); err != nil {
		return nil, fmt.Errorf("%w (aggregators: %v)", err, alive(aggs))
	}

	// One cluster-wide informer per kind (the Panorama plugins' model),
	// which also clocks creates: a pod seen Running with its IP.
	var clusterWide, agentLoad load
	cwCtx, stopCW := context.WithCancel(ctx)
	var cwg errgroup.Group
	defer func() { stopCW(); _ = cwg.Wait() }()
	if err := r.startClusterWide(cwCtx, &cwg, &clusterWide); err != nil {
		return nil, err
	}

	// The agents, one per node.
	log.Info("scale: agents", "n", cfg.Nodes)
	agents, err := r.buildAgents(addr, ca, &agentLoad)
	if err != nil {
		return nil, err
	}
	actx, stopAgents := context.WithCancel(ctx)
	ag, actx := errgroup.WithContext(actx)
	for _, a := range agents {
		ag.Go(func() error { return a.Run(actx) })
	}
	defer func() { stopAgents(); _ = ag.Wait() }()
	if err := poll(actx, 5*time.Minute, "agents synced and streaming to every replica", func() bool {
		for _, a := range agents {
			if connected, _ := a.Stream.Replicas(); !a.Pods.HasSynced() || connected != cfg.Replicas {
				return false
			}
		}
		return true
	}); err != nil {
		return nil, fmt.Errorf("%w (aggregators: %v)", err, alive(aggs))
	}

	// Creates.
	log.Info("scale: creating pods", "n", cfg.Pods, "rate", cfg.Rate)
	t0 := time.Now()
	r.pace(ctx, cfg.Rate, func(i int) (func(context.Context), bool) { return r.create(), i+1 < cfg.Pods })
	rep.CreateRate = float64(cfg.Pods) / time.Since(t0).Seconds()
	r.drain(ctx, "creates", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return len(r.pending) == 0 && r.tr.outstanding() == 0
	})

	// Churn: per four writes two relabels, a delete and a create.
	log.Info("scale: churn", "for", cfg.Churn, "rate", cfg.Rate)
	aggStart, err := usages(aggs)
	if err != nil {
		return nil, err
	}
	agentsBefore, cwBefore := agentLoad.stats(), clusterWide.stats()
	cpuProcs := cpuUsers(c.Dir())
	usersStart := cpuOf(cpuProcs)
	deadline := time.Now().Add(cfg.Churn)
	n := 0
	r.pace(ctx, cfg.Rate, func(i int) (func(context.Context), bool) {
		n++
		more := time.Now().Before(deadline)
		switch i % 4 {
		case 0, 1:
			return r.relabel(), more
		case 2:
			return r.delete(), more
		default:
			return r.create(), more
		}
	})
	aggEnd, err := usages(aggs)
	if err != nil {
		return nil, err
	}
	rep.ChurnSeconds = aggEnd[0].At.Sub(aggStart[0].At).Seconds()
	rep.ChurnRate = float64(n) / rep.ChurnSeconds
	rep.Aggregators = make([]Replica, len(aggs))
	for i, a := range aggs {
		rep.Aggregators[i] = Replica{Name: a.name, CPU: aggStart[i].CPURate(aggEnd[i])}
	}
	rep.AgentsChurn, rep.ClusterWideChurn = agentLoad.stats().Sub(agentsBefore), clusterWide.stats().Sub(cwBefore)
	rep.ProcessCPU = map[string]float64{}
	for name, e := range cpuOf(cpuProcs) {
		if b, ok := usersStart[name]; ok {
			rep.ProcessCPU[name] = b.CPURate(e)
		}
	}
	r.drain(ctx, "churn", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return len(r.pending) == 0 && r.tr.outstanding() == 0
	})

	r.mu.Lock()
	rep.Live = len(r.live)
	r.mu.Unlock()
	// Every replica holds the same state: the standbys apply the same
	// streams, so they converge on the live pods too (a standby's state
	// is not awaited by the drain, which watches the firewall).
	var sts []replicaStatus
	rep.Converged = poll(ctx, 30*time.Second, "every replica holding the live pods", func() bool {
		var err error
		sts, err = states(ctx, aggs)
		return err == nil && !slices.ContainsFunc(sts, func(s replicaStatus) bool { return s.IPs != rep.Live })
	}) == nil
	if sts, err = states(ctx, aggs); err != nil {
		return nil, err
	}
	end, err := usages(aggs)
	if err != nil {
		return nil, err
	}
	reqs := requestsBy(em)
	for i, a := range aggs {
		ra, st := &rep.Aggregators[i], sts[i]
		ra.Terms, ra.Led = st.Terms, st.Terms > 0
		ra.RSS, ra.HWM = end[i].RSS, end[i].HWM
		ra.IPs, ra.Nodes, ra.Streams, ra.Calls = st.IPs, st.Sources, st.Streams, st.Calls
		ra.Acks, ra.Requests = int(a.acks.Load()), reqs[a.user]
	}
	rep.Latency = r.tr.result(time.Now())
	r.tr.mu.Lock()
	rep.EarlyAcks, rep.Superseded = r.tr.early0, r.tr.superseded
	r.tr.mu.Unlock()
	rep.WriteErrors = int(r.errs.Load())
	held := em.Sim.Registered()
	rep.Registered = len(held)
	rep.Outstanding = r.tr.describeOutstanding(held)
	rep.Agents, rep.ClusterWide = agentLoad.stats(), clusterWide.stats()
	rep.LoadAvg += " -> " + loadAvg()
	if err := alive(aggs); err != nil {
		return nil, err
	}
	rep.Elapsed = time.Since(start)
	return rep, nil
}

// revTagger returns the tag the label rev=<v> gives a pod of namespace ns
// (the aggregator derives tags with the same config).
func revTagger(ns string) (func(int) string, error) {
	d, err := tags.NewDeriver(tags.Config{Cluster: clusterName})
	if err != nil {
		return nil, err
	}
	set, _ := d.Tags(tags.Identity{Kind: tags.KindPod, Namespace: ns, Name: "p", Labels: map[string]string{"rev": "0"}})
	for _, t := range set.Slice() {
		if prefix, ok := strings.CutSuffix(t, ".rev.0"); ok {
			return func(v int) string { return prefix + ".rev." + strconv.Itoa(v) }, nil
		}
	}
	return nil, fmt.Errorf("scale: no rev tag in %v", set.Slice())
}
