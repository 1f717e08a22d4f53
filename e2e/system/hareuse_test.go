package system

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// haSampleEvery is how often haWatch reads the emulator: often enough to
// see a transient mix of two owners' tags, seldom enough to leave the
// two cores to the processes under test.
const haSampleEvery = 25 * time.Millisecond

// vpcNodes creates n Nodes that no kubelet runs and that have no podCIDR
// (pod IPs from the VPC, as with the AWS VPC CNI: any IP can move to any
// node), each with an agent of the HA pair streaming to addr. The test
// plays kubelet and CNI on them: it sets their pods' status.
func vpcNodes(ctx context.Context, t *testing.T, prefix string, n int, addr string) []string {
	t.Helper()
	cs := sys.c.Client
	var names []string
	for i := range n {
		name := fmt.Sprintf("%s-%d", prefix, i)
		if _, err := cs.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cs.CoreV1().Nodes().Delete(context.Background(), name, metav1.DeleteOptions{}) })
		names = append(names, name)
		a := haAgent(ctx, t, e2eBinary(t), name, addr)
		t.Cleanup(func() { _ = a.kill() })
		// Its agent pod runs, as the DaemonSet's would: the snapshot gate
		// counts the node.
		setRunning(ctx, t, systemNS, "kubedag-ha-agent-"+name, "")
	}
	return names
}

// setRunning sets a pod's status to Running (with ip, if not empty) as
// kubelet and CNI would.
func setRunning(ctx context.Context, t *testing.T, ns, name, ip string) {
	t.Helper()
	p, err := sys.c.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Status = corev1.PodStatus{Phase: corev1.PodRunning}
	if ip != "" {
		p.Status.PodIP, p.Status.PodIPs = ip, []corev1.PodIP{{IP: ip}}
	}
	if _, err := sys.c.Client.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// reuser hands a few IPs from pod to pod, as a VPC CNI does once a pod is
// gone: round robin over its IPs, it deletes the IP's pod and gives the IP
// to a new pod with other labels, on the other node or (every other time,
// for odd IPs) the same one.
type reuser struct {
	ns     string
	nsTag  string
	nodes  []string
	ips    []string
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex
	paused bool
	owners map[string][]*owner // by IP, oldest first
	gen    int
	err    error
}

// owner is one pod that held a reused IP.
type owner struct {
	name     string
	gen      int
	tags     []string  // sorted: what kubedag must give its IP
	genTag   string    // no other owner has it
	running  time.Time // its status said Running with the IP (zero: not yet)
	deleting time.Time // its delete was sent (zero: still live)
	seen     time.Time // the first sample sent that showed all its tags
}

func startReuse(ctx context.Context, t *testing.T, ns string, nodes, ips []string) *reuser {
	// quit ends the loop between steps; a step runs to its end, so every
	// IP has a Running owner when stop returns.
	quit, cancel := context.WithCancel(ctx)
	r := &reuser{ns: ns, nsTag: haPrefix + ".ns_" + sanitize(ns), nodes: nodes, ips: ips,
		cancel: cancel, done: make(chan struct{}), owners: map[string][]*owner{}}
	go func() {
		defer close(r.done)
		for i := 0; quit.Err() == nil; i++ {
			r.mu.Lock()
			paused := r.paused
			r.mu.Unlock()
			if !paused {
				if err := r.step(ctx, i%len(ips)); err != nil {
					if ctx.Err() == nil {
						r.mu.Lock()
						r.err = err
						r.mu.Unlock()
					}
					return
				}
			}
			select {
			case <-quit.Done():
			case <-time.After(100 * time.Millisecond): // pacing, not synchronisation
			}
		}
	}()
	// Nothing runs the pods, so the namespace's deletion would wait for
	// their grace period: delete them at once.
	t.Cleanup(func() {
		r.cancel()
		<-r.done
		if err := sys.c.Client.CoreV1().Pods(ns).DeleteCollection(context.Background(), metav1.DeleteOptions{GracePeriodSeconds: new(int64(0))}, metav1.ListOptions{}); err != nil {
			t.Errorf("delete the reuse pods: %v", err)
		}
	})
	return r
}

// step gives ips[i] to a new pod: the previous one is deleted (and gone:
// a pod without kubelet goes at once with grace period 0) first.
func (r *reuser) step(ctx context.Context, i int) error {
	ip := r.ips[i]
	pods := sys.c.Client.CoreV1().Pods(r.ns)
	r.mu.Lock()
	var prev *owner
	if hist := r.owners[ip]; len(hist) > 0 {
		prev = hist[len(hist)-1]
		prev.deleting = time.Now()
	}
	r.gen++
	gen := r.gen
	r.mu.Unlock()
	if prev != nil {
		if err := pods.Delete(ctx, prev.name, metav1.DeleteOptions{GracePeriodSeconds: new(int64(0))}); err != nil {
			return fmt.Errorf("delete %s: %w", prev.name, err)
		}
		if _, err := pods.Get(ctx, prev.name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("pod %s still there after its delete with grace period 0: %v", prev.name, err)
		}
	}
	tier := []string{"front", "back"}[gen%2]
	labels := map[string]string{"ip": fmt.Sprint(i), "gen": fmt.Sprintf("g%d", gen), "tier": tier}
	o := &owner{name: fmt.Sprintf("ip%d-g%d", i, gen), gen: gen, genTag: r.nsTag + ".gen.g" + fmt.Sprint(gen)}
	o.tags = []string{r.nsTag}
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		o.tags = append(o.tags, r.nsTag+"."+k+"."+labels[k])
	}
	sort.Strings(o.tags)
	node := r.nodes[gen%len(r.nodes)]
	if i%2 == 1 {
		node = r.nodes[(gen/2)%len(r.nodes)]
	}
	r.mu.Lock()
	r.owners[ip] = append(r.owners[ip], o)
	r.mu.Unlock()
	p, err := pods.Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: o.name, Labels: labels},
		Spec: corev1.PodSpec{NodeName: node, AutomountServiceAccountToken: new(false), TerminationGracePeriodSeconds: new(int64(0)),
			Containers: []corev1.Container{{Name: "app", Image: "registry.k8s.io/pause:3.10"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create %s: %w", o.name, err)
	}
	p.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}}
	if _, err := pods.UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("pod %s Running on %s: %w", o.name, ip, err)
	}
	r.mu.Lock()
	o.running = time.Now()
	r.mu.Unlock()
	return nil
}

func (r *reuser) pause(p bool) {
	r.mu.Lock()
	r.paused = p
	r.mu.Unlock()
}

// stop ends the reuse and waits until every IP carries exactly its last
// owner's tags.
func (r *reuser) stop(ctx context.Context, t *testing.T) {
	t.Helper()
	r.cancel()
	<-r.done
	r.mu.Lock()
	err := r.err
	want := state{}
	for ip, hist := range r.owners {
		if last := hist[len(hist)-1]; !last.running.IsZero() {
			want[ip] = last.tags
		}
	}
	r.mu.Unlock()
	if err != nil {
		t.Fatalf("reuse: %v", err)
	}
	var got state
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, convergeTimeout, true, func(ctx context.Context) (bool, error) {
		s, err := sys.simRegistered(ctx)
		if err != nil {
			return false, nil
		}
		got = only(s, r.ips...)
		return diff(want, got) == "", nil
	})
	if err != nil {
		t.Fatalf("the reused IPs never carried exactly their last owners' tags: %v\n%s", err, diff(want, got))
	}
}

// haWatch samples the emulator every haSampleEvery during an HA scenario
// and counts the samples that break a rule:
//
//   - lost: a tag of a churned pod (those are never deleted during the
//     scenario) went missing after it showed, or a reused IP's owner's
//     tags went missing after they showed and before its delete was
//     sent: an unregister of a live tag;
//   - wrong: a reused IP carries a tag its owner (the one whose unique
//     tag it shows) lacks, the tags of two owners, or an owner's tags
//     again after a later owner's showed.
//
// A reused IP still showing an earlier owner's tags while the API gives
// it to a later one (nothing pushed yet, e.g. no replica leads) breaks no
// rule but is measured: stale samples and the exposure, from the new
// owner's Running to the first sample without the earlier owner's tags.
type haWatch struct {
	churnTag string
	r        *reuser
	cancel   context.CancelFunc
	done     chan struct{}

	mu          sync.Mutex
	n           int
	err         error               // a sample could not be read
	lost, wrong int                 // samples breaking each rule
	first       error               // the first rule broken
	reported    bool                // the failure was reported already
	live        map[string][]string // churned pod IP -> its tags once shown
	tagged      int                 // churned pod IPs tagged in the last sample
	lastSent    time.Time
	grows       []grow // samples with more churned pods tagged than the one before
	stale       int    // samples with a reused IP stale
	exposures   []exposure
	since       map[string]time.Time // reused IP -> start of its current exposure
}

type grow struct{ prevSent, sent time.Time }

type exposure struct {
	from time.Time
	d    time.Duration
}

func startWatch(ctx context.Context, t *testing.T, churnNS string, r *reuser) *haWatch {
	ctx, cancel := context.WithCancel(ctx)
	w := &haWatch{churnTag: haPrefix + ".ns_" + sanitize(churnNS), r: r, cancel: cancel, done: make(chan struct{}),
		live: map[string][]string{}, since: map[string]time.Time{}}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(haSampleEvery)
		defer tick.Stop()
		for {
			sent := time.Now()
			s, err := sys.simRegistered(ctx)
			if ctx.Err() != nil {
				return
			}
			w.mu.Lock()
			if err != nil {
				w.err = fmt.Errorf("sample: %w", err)
			} else {
				w.n++
				w.check(sent, time.Now(), s)
			}
			stop := w.err != nil
			w.mu.Unlock()
			if stop {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() {
		// A violation found while the test stopped early is reported here.
		w.stop()
		w.mu.Lock()
		defer w.mu.Unlock()
		if !w.reported {
			if err := w.failure(); err != nil {
				t.Error(err)
			}
		}
	})
	return w
}

// broke counts a sample breaking a rule.
func (w *haWatch) broke(sent time.Time, count *int, err error) {
	*count++
	if w.first == nil {
		w.first = fmt.Errorf("sample %d sent at %s: %w", w.n, sent.Format("15:04:05.000"), err)
	}
}

func (w *haWatch) check(sent, recv time.Time, s state) {
	tagged := 0
	for ip, tags := range s {
		if slices.Contains(tags, w.churnTag) {
			tagged++
			for _, tg := range tags {
				if (tg == w.churnTag || strings.HasPrefix(tg, w.churnTag+".")) && !slices.Contains(w.live[ip], tg) {
					w.live[ip] = append(w.live[ip], tg)
				}
			}
		}
	}
	var lost, wrong error
	for ip, tags := range w.live {
		for _, tg := range tags {
			if !slices.Contains(s[ip], tg) && lost == nil {
				lost = fmt.Errorf("live tag %s of a churned pod went missing from %s (holds %v)", tg, ip, s[ip])
			}
		}
	}
	if tagged > w.tagged && !w.lastSent.IsZero() {
		w.grows = append(w.grows, grow{prevSent: w.lastSent, sent: sent})
	}
	w.tagged, w.lastSent = tagged, sent
	if w.r != nil {
		w.r.mu.Lock()
		stale := false
		for ip, hist := range w.r.owners {
			st, l, wr := w.checkReused(ip, hist, sent, recv, s[ip])
			stale = stale || st
			lost = cmp.Or(lost, l)
			wrong = cmp.Or(wrong, wr)
		}
		w.r.mu.Unlock()
		if stale {
			w.stale++
		}
	}
	if lost != nil {
		w.broke(sent, &w.lost, lost)
	}
	if wrong != nil {
		w.broke(sent, &w.wrong, wrong)
	}
}

// checkReused checks one reused IP's tags in a sample (see haWatch);
// hist is the IP's owners, oldest first. It reports whether the IP was
// stale, and a live tag lost and a wrong tag, if any.
func (w *haWatch) checkReused(ip string, hist []*owner, sent, recv time.Time, tags []string) (stale bool, lost, wrong error) {
	var shown *owner
	laterSeen := false
	for i := len(hist) - 1; i >= 0; i-- {
		o := hist[i]
		if slices.Contains(tags, o.genTag) {
			switch {
			case shown != nil:
				wrong = cmp.Or(wrong, fmt.Errorf("reused IP %s carries the tags of two owners, %s and %s: %v", ip, o.name, shown.name, tags))
			case laterSeen:
				wrong = cmp.Or(wrong, fmt.Errorf("reused IP %s carries %s's tags again after a later owner's showed: %v", ip, o.name, tags))
			}
			if shown == nil {
				shown = o
			}
		}
		if !o.seen.IsZero() {
			laterSeen = true
		}
	}
	if shown != nil {
		for _, tg := range tags {
			if strings.HasPrefix(tg, w.r.nsTag) && !slices.Contains(shown.tags, tg) {
				wrong = cmp.Or(wrong, fmt.Errorf("reused IP %s carries %s, which its owner %s (tags %v) lacks: %v", ip, tg, shown.name, shown.tags, tags))
			}
		}
	}
	var current *owner // the API's owner when the sample was sent
	for _, o := range hist {
		has := true
		for _, tg := range o.tags {
			has = has && slices.Contains(tags, tg)
		}
		if has && o.seen.IsZero() {
			o.seen = sent
		}
		if !o.seen.IsZero() && (o.deleting.IsZero() || recv.Before(o.deleting)) && !has {
			lost = cmp.Or(lost, fmt.Errorf("live tags of %s (%v) went missing from reused IP %s, which holds %v", o.name, o.tags, ip, tags))
		}
		if !o.running.IsZero() && o.running.Before(sent) {
			current = o
		}
	}
	if shown != nil && (current == nil || shown.gen > current.gen) {
		current = shown // pushed before the test noted its status update returned
	}
	if current == nil {
		return false, lost, wrong
	}
	// Stale: a tag the API's owner lacks (an earlier owner's, or what is
	// left of them).
	for _, tg := range tags {
		stale = stale || strings.HasPrefix(tg, w.r.nsTag) && !slices.Contains(current.tags, tg)
	}
	if stale {
		if w.since[ip].IsZero() {
			w.since[ip] = current.running
		}
	} else if from := w.since[ip]; !from.IsZero() {
		w.exposures = append(w.exposures, exposure{from: from, d: sent.Sub(from)})
		delete(w.since, ip)
	}
	return stale, lost, wrong
}

// stop ends the sampling.
func (w *haWatch) stop() {
	w.cancel()
	<-w.done
}

// failure describes what the sampling found wrong; nil if nothing. The
// caller holds w.mu.
func (w *haWatch) failure() error {
	if w.err != nil {
		return w.err
	}
	if w.first != nil {
		return fmt.Errorf("%d of %d samples lost a live tag, %d gave a reused IP a tag its owner lacks; first: %w", w.lost, w.n, w.wrong, w.first)
	}
	return nil
}

// mustHold fails the test if the sampling found anything wrong so far.
func (w *haWatch) mustHold(t *testing.T) {
	t.Helper()
	w.mu.Lock()
	err := w.failure()
	w.reported = err != nil
	w.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
}

// firstPushAfter is when the first sample sent after t0 (the one before
// it also sent after t0) showed more churned pods tagged; zero if none.
func (w *haWatch) firstPushAfter(t0 time.Time) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, g := range w.grows {
		if g.prevSent.After(t0) {
			return g.sent
		}
	}
	return time.Time{}
}

// pushesAfter counts the samples sent after t0 (the one before each
// also sent after t0) that showed more churned pods tagged.
func (w *haWatch) pushesAfter(t0 time.Time) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, g := range w.grows {
		if g.prevSent.After(t0) {
			n++
		}
	}
	return n
}

// maxGap is the longest time between registrations of churned pods seen
// in [from, to].
func (w *haWatch) maxGap(from, to time.Time) time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	var gap time.Duration
	last := from
	for _, g := range w.grows {
		if g.sent.Before(from) || g.sent.After(to) {
			continue
		}
		gap = max(gap, g.sent.Sub(last))
		last = g.sent
	}
	return max(gap, to.Sub(last))
}

// reuseStats summarises the reuses whose new owner ran in [from, to]: how
// many, how many of them the firewall showed (an owner superseded fast
// may never be pushed), the worst latency of a new owner's tags, the
// worst exposure that began in the window, and the samples so far.
type reuseStats struct {
	reuses, shown int
	latency, exp  time.Duration
	samples       int
	lost, wrong   int // samples breaking haWatch's rules
	stale         int // samples with a reused IP stale
}

func (s reuseStats) String() string {
	return fmt.Sprintf("%d reuses (%d new owners' tags shown on the emulator, at worst %s after the pod ran; the others were replaced before any push), worst exposure of an earlier owner's tags %s",
		s.reuses, s.shown, s.latency.Round(time.Millisecond), s.exp.Round(time.Millisecond))
}

func (w *haWatch) reuseStats(from, to time.Time) reuseStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	st := reuseStats{samples: w.n, lost: w.lost, wrong: w.wrong, stale: w.stale}
	for _, e := range w.exposures {
		if !e.from.Before(from) && !e.from.After(to) {
			st.exp = max(st.exp, e.d)
		}
	}
	w.r.mu.Lock()
	defer w.r.mu.Unlock()
	for _, hist := range w.r.owners {
		for i, o := range hist {
			if i == 0 || o.running.IsZero() || o.running.Before(from) || o.running.After(to) {
				continue
			}
			st.reuses++
			if !o.seen.IsZero() {
				st.shown++
				st.latency = max(st.latency, o.seen.Sub(o.running))
			}
		}
	}
	return st
}
