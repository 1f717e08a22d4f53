package scale

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kubedag/kubedag/e2e/childproc"
	"github.com/kubedag/kubedag/e2e/dnstest"
	"github.com/kubedag/kubedag/e2e/pki"
	"github.com/kubedag/kubedag/userid/panossim"
)

// replicaName is the DNS name standing in for the aggregators' headless
// Service: it resolves to every replica's stream address.
const replicaName = "aggregator.scale.test"

// Replica is one aggregator process in the Report.
type Replica struct {
	Name string
	// Led is whether it held the Lease at any time during the run
	// (Terms > 0); Terms counts the times it started leading.
	Led   bool
	Terms int64
	// CPU is ms of CPU per second during churn; RSS and HWM (peak) are
	// bytes at the end.
	CPU      float64
	RSS, HWM int64
	// IPs and Nodes are the size of its desired state at the end (claimed
	// IPs, claim sources); Streams its open agent streams.
	IPs, Nodes, Streams int
	// Calls is the firewall calls it started (its own count), Acks the
	// acknowledgements its pusher reported, Requests the emulator's
	// logged requests made with its API key (the emulator keeps the last
	// 10,000 requests).
	Calls          int64
	Acks, Requests int
}

// replicaStatus is the JSON of the aggregator command's GET /status
// (its type Status).
type replicaStatus struct {
	Leading bool  `json:"leading"`
	Terms   int64 `json:"terms"`
	IPs     int   `json:"ips"`
	Sources int   `json:"sources"`
	Streams int   `json:"streams"`
	Calls   int64 `json:"calls"`
}

// replica is a running aggregator process.
type replica struct {
	name   string
	user   string // its firewall user
	proc   *childproc.Proc
	stream string // its stream server's host:port
	status string // its status server's host:port
	acks   atomic.Int64
}

// spawner forks the aggregator processes; its thread lives as long as
// this process, so the children die with it.
var spawner = sync.OnceValue(childproc.NewSpawner)

// startAggregators starts cfg.Replicas aggregator processes pushing to em,
// each on its own loopback address with the same port, all campaigning for
// one Lease, with their acknowledgements feeding the tracker. It returns
// them, the agents' stream target (a dns:// name resolving to every
// replica, as a headless Service does) and the CA the agents trust. The
// caller stops the processes and dns.
func (r *run) startAggregators(em *panossim.Server, dns *dnstest.Server) ([]*replica, string, *pki.CA, error) {
	dir := r.cfg.Dir
	write := func(name string, b []byte) (string, error) {
		p := filepath.Join(dir, name)
		return p, os.WriteFile(p, b, 0o600)
	}
	ca, err := pki.NewCA("kubedag scale bench")
	if err != nil {
		return nil, "", nil, err
	}
	kp, err := ca.Server(serverName, []string{serverName}, nil)
	if err != nil {
		return nil, "", nil, err
	}
	certFile, keyFile := filepath.Join(dir, "stream.crt"), filepath.Join(dir, "stream.key")
	if err := kp.WriteFiles(certFile, keyFile); err != nil {
		return nil, "", nil, err
	}
	var tokens strings.Builder
	for i, n := range r.nodes {
		fmt.Fprintf(&tokens, "token-%d %s\n", i, n)
		if _, err := write(fmt.Sprintf("token-%d", i), []byte(fmt.Sprintf("token-%d", i))); err != nil {
			return nil, "", nil, err
		}
	}
	tokensFile, err := write("tokens", []byte(tokens.String()))
	if err != nil {
		return nil, "", nil, err
	}
	fwCA, err := write("fw-ca.crt", em.CACertPEM)
	if err != nil {
		return nil, "", nil, err
	}
	var reps []*replica
	var ips []netip.Addr
	port := "0"
	for i := range r.cfg.Replicas {
		rp := &replica{name: fmt.Sprintf("aggregator-%d", i), user: fmt.Sprintf("agg-%d", i)}
		key, err := em.Sim.APIKeyFor(rp.user)
		if err != nil {
			return reps, "", nil, err
		}
		keyPath, err := write(rp.user+"-key", []byte(key))
		if err != nil {
			return reps, "", nil, err
		}
		ip := netip.AddrFrom4([4]byte{127, 0, 0, byte(2 + i)})
		args := []string{"--kubeconfig", r.c.Kubeconfig(), "--tls-cert", certFile, "--tls-key", keyFile,
			"--tokens", tokensFile, "--firewall-url", em.URL, "--firewall-ca", fwCA, "--firewall-key-file", keyPath,
			"--cluster", clusterName, "--listen", net.JoinHostPort(ip.String(), port),
			"--lease-namespace", r.ns, "--identity", rp.name}
		if err := r.startReplica(rp, args); err != nil {
			return reps, "", nil, err
		}
		reps = append(reps, rp)
		ips = append(ips, ip)
		// Every replica on the first one's port: the agents' target names
		// one port.
		_, port, _ = net.SplitHostPort(rp.stream)
	}
	dns.Set(replicaName, ips...)
	return reps, fmt.Sprintf("dns://%s/%s:%s", dns.Addr(), replicaName, port), ca, nil
}

// startReplica starts rp's process and waits for its ports.
func (r *run) startReplica(rp *replica, args []string) error {
	pr, pw := io.Pipe()
	rp.proc = childproc.New(spawner(), childproc.Config{Name: rp.name, Bin: r.cfg.AggregatorBin, Args: args,
		LogPath: filepath.Join(r.cfg.Dir, rp.name+".log"), Truncate: true, Stdout: pw})
	if err := rp.proc.Start(); err != nil {
		return err
	}
	go func() { <-rp.proc.Done(); pw.Close() }()
	addrs := make(chan [2]string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			r.ackLine(rp, sc.Text(), addrs)
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	select {
	case a := <-addrs:
		rp.stream, rp.status = a[0], a[1]
		return nil
	case <-rp.proc.Done():
		return fmt.Errorf("%s exited: %v", rp.name, rp.proc.Alive())
	case <-time.After(time.Minute):
		_ = rp.proc.Stop(5 * time.Second)
		return fmt.Errorf("%s did not listen within a minute", rp.name)
	}
}

// ackLine handles one line of rp's output.
func (r *run) ackLine(rp *replica, line string, addrs chan<- [2]string) {
	f := strings.Fields(line)
	if len(f) == 3 && f[0] == "listening" {
		addrs <- [2]string{f[1], f[2]}
		return
	}
	if len(f) < 4 || (f[0] != "A" && f[0] != "R") {
		return
	}
	ns, err1 := strconv.ParseInt(f[1], 10, 64)
	ip, err2 := netip.ParseAddr(f[2])
	if err1 != nil || err2 != nil {
		return
	}
	rp.acks.Add(1)
	at := time.Unix(0, ns)
	for _, t := range f[3:] {
		if strings.Contains(t, ".rev.") {
			r.tr.ack(key{ip: ip, tag: t, removed: f[0] == "R"}, at)
		}
	}
}

// state reads rp's GET /status.
func (rp *replica) state(ctx context.Context) (replicaStatus, error) {
	var st replicaStatus
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+rp.status+"/status", nil)
	if err != nil {
		return st, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return st, fmt.Errorf("%s status: %w", rp.name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("%s status: %s", rp.name, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return st, fmt.Errorf("%s status: %w", rp.name, err)
	}
	return st, nil
}

// states reads every replica's status.
func states(ctx context.Context, reps []*replica) ([]replicaStatus, error) {
	out := make([]replicaStatus, len(reps))
	for i, rp := range reps {
		st, err := rp.state(ctx)
		if err != nil {
			return nil, err
		}
		out[i] = st
	}
	return out, nil
}

// alive reports the first replica that exited.
func alive(reps []*replica) error {
	var errs []error
	for _, rp := range reps {
		if err := rp.proc.Alive(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// usages reads every replica's /proc usage.
func usages(reps []*replica) ([]childproc.Usage, error) {
	out := make([]childproc.Usage, len(reps))
	for i, rp := range reps {
		u, err := childproc.ReadUsage(rp.proc.Pid())
		if err != nil {
			return nil, fmt.Errorf("%s: %w", rp.name, err)
		}
		out[i] = u
	}
	return out, nil
}

// requestsBy counts the emulator's logged requests by API user.
func requestsBy(em *panossim.Server) map[string]int {
	out := map[string]int{}
	for _, q := range em.Sim.Requests() {
		out[q.User]++
	}
	return out
}
