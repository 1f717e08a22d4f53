package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubedag/kubedag/aggregator"
	"github.com/kubedag/kubedag/aggregator/leader"
	"github.com/kubedag/kubedag/aggregator/podview"
	"github.com/kubedag/kubedag/aggregator/push"
	"github.com/kubedag/kubedag/aggregator/store"
	"github.com/kubedag/kubedag/aggregator/stream"
	"github.com/kubedag/kubedag/aggregator/verify"
	"github.com/kubedag/kubedag/tags"
	"github.com/kubedag/kubedag/userid"
)

// staticAuth maps bearer tokens to node names.
type staticAuth map[string]string

func (a staticAuth) Authenticate(_ context.Context, token string) (string, error) {
	if n, ok := a[token]; ok {
		return n, nil
	}
	return "", errors.New("unknown token")
}

// acks writes the ack lines; hooks come from the pusher's goroutine, the
// mutex keeps lines whole if that ever changes.
type acks struct {
	mu sync.Mutex
	w  *bufio.Writer
}

func (a *acks) line(kind string, ip netip.Addr, tagList []string) {
	if len(tagList) == 0 {
		return
	}
	a.mu.Lock()
	fmt.Fprintf(a.w, "%s %d %s %s\n", kind, time.Now().UnixNano(), ip, strings.Join(tagList, " "))
	a.w.Flush()
	a.mu.Unlock()
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("aggregator", flag.ContinueOnError)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig of the aggregator's API identity")
	listen := fs.String("listen", "127.0.0.1:0", "agent stream address")
	certFile := fs.String("tls-cert", "", "stream server certificate (PEM)")
	keyFile := fs.String("tls-key", "", "stream server key (PEM)")
	tokensFile := fs.String("tokens", "", `agent tokens, one "<token> <node>" per line`)
	fwURL := fs.String("firewall-url", "", "PAN-OS XML API base URL")
	fwCA := fs.String("firewall-ca", "", "CA of the firewall's certificate (PEM)")
	fwKeyFile := fs.String("firewall-key-file", "", "file holding the firewall API key")
	cluster := fs.String("cluster", "scale", "cluster name of the tags")
	statusAddr := fs.String("status", "127.0.0.1:0", "address of the GET /status endpoint (JSON)")
	leaseNS := fs.String("lease-namespace", "", "namespace of the Lease; empty: no leader election, always push")
	identity := fs.String("identity", "", "this replica's holder identity in the Lease")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	rc, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	rc.UserAgent = "kubedag-aggregator/scale"
	rc.QPS, rc.Burst = 50, 100
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	var elector *leader.Elector
	if *leaseNS != "" {
		// Production's default Lease timings; its log says when this
		// replica started and stopped leading.
		// Its own client and rate limiter, as production's.
		lc := rest.CopyConfig(rc)
		lc.UserAgent += "/leader-election"
		lc.QPS, lc.Burst = 10, 20
		leaseClient, err := kubernetes.NewForConfig(lc)
		if err != nil {
			return err
		}
		leLog := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
		if elector, err = leader.New(leader.Options{Client: leaseClient, Namespace: *leaseNS, Identity: *identity, Logger: leLog}); err != nil {
			return err
		}
	}
	cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		return fmt.Errorf("stream certificate: %w", err)
	}
	serverTLS := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	auth := staticAuth{}
	b, err := os.ReadFile(*tokensFile)
	if err != nil {
		return fmt.Errorf("tokens: %w", err)
	}
	for line := range strings.Lines(string(b)) {
		if f := strings.Fields(line); len(f) == 2 {
			auth[f[0]] = f[1]
		}
	}
	caPEM, err := os.ReadFile(*fwCA)
	if err != nil {
		return fmt.Errorf("firewall CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return errors.New("firewall CA: no certificate")
	}
	key, err := os.ReadFile(*fwKeyFile)
	if err != nil {
		return fmt.Errorf("firewall key: %w", err)
	}
	deriver, err := tags.NewDeriver(tags.Config{Cluster: *cluster})
	if err != nil {
		return err
	}

	out := &acks{w: bufio.NewWriter(stdout)}
	var (
		view *podview.View
		gate *verify.Gate
	)
	core, err := aggregator.NewCore(aggregator.CoreOptions{
		Deriver: deriver,
		NewValidator: func(sink stream.Sink) (aggregator.ClaimValidator, error) {
			var err error
			if view, err = podview.New(podview.Options{Client: cs, Logger: log,
				OnChange: func(ips []netip.Addr) { gate.Changed(ips) }}); err != nil {
				return nil, err
			}
			gate, err = verify.New(verify.Options{View: view, Sink: sink, Logger: log})
			return gate, err
		},
		Hooks: push.Hooks{
			Applied: func(_ string, ip netip.Addr, _ time.Time, _ trace.SpanContext, added []string) {
				out.line("A", ip, added)
			},
			Removed: func(_ string, ip netip.Addr, removed []string, _ trace.SpanContext) {
				out.line("R", ip, removed)
			},
		},
		Logger: log,
	})
	if err != nil {
		return err
	}
	srv, err := stream.NewServer(stream.Config{Sink: core.Sink(), Authenticator: auth, Logger: log})
	if err != nil {
		return err
	}
	fw, err := userid.New(userid.Config{URL: *fwURL, APIKey: strings.TrimSpace(string(key)), RootCAs: pool})
	if err != nil {
		return err
	}
	// The firewall starts empty: nothing to hold back until snapshots.
	ready := make(chan struct{})
	close(ready)
	st := &status{store: core.Store(), server: srv}
	counted := countingFirewall{Firewall: fw, calls: &st.calls}
	var target push.Firewall = counted
	if elector != nil {
		// Fencing as production does it, at call granularity: no call
		// once the Lease may have passed to another replica.
		target = leaseFence{Firewall: counted, valid: elector.LeaseValid}
	}
	lead := func(ctx context.Context) error {
		st.terms.Add(1)
		st.leading.Store(true)
		defer st.leading.Store(false)
		pusher, err := core.Pusher("fw", target, ready)
		if err != nil {
			return err
		}
		return pusher.Run(ctx)
	}
	lis, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	slis, err := net.Listen("tcp", *statusAddr)
	if err != nil {
		return err
	}
	out.mu.Lock()
	fmt.Fprintf(out.w, "listening %s %s\n", lis.Addr(), slis.Addr())
	out.w.Flush()
	out.mu.Unlock()

	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return view.Run(ctx) })
	g.Go(func() error { return gate.Run(ctx) })
	g.Go(func() error { return srv.Serve(ctx, lis, serverTLS) })
	g.Go(func() error { return serveStatus(ctx, slis, st) })
	if elector == nil {
		g.Go(func() error { return lead(ctx) })
	} else {
		g.Go(func() error {
			return elector.Run(ctx, func(ctx context.Context) {
				if err := lead(ctx); err != nil && ctx.Err() == nil {
					log.Error("pusher", "err", err)
				}
			})
		})
	}
	return g.Wait()
}

// Status is what GET /status answers: enough for the bench to compare a
// leader with its standby.
type Status struct {
	// Leading is whether this replica pushes now; Terms counts the times
	// it started leading.
	Leading bool  `json:"leading"`
	Terms   int64 `json:"terms"`
	// IPs and Sources are the desired state's claimed IPs and claim
	// sources (nodes).
	IPs     int `json:"ips"`
	Sources int `json:"sources"`
	// Streams is the nodes with an open agent stream.
	Streams int `json:"streams"`
	// Calls is the firewall calls this replica started.
	Calls int64 `json:"calls"`
}

type status struct {
	store        *store.Store
	server       *stream.Server
	leading      atomic.Bool
	terms, calls atomic.Int64
}

func (s *status) get() Status {
	st := s.store.Stats()
	return Status{Leading: s.leading.Load(), Terms: s.terms.Load(), IPs: st.IPs, Sources: st.Sources,
		Streams: s.server.ActiveNodes(), Calls: s.calls.Load()}
}

func serveStatus(ctx context.Context, lis net.Listener, s *status) error {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s.get())
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	stop := context.AfterFunc(ctx, func() { _ = srv.Close() })
	defer stop()
	if err := srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("status: %w", err)
	}
	return nil
}

// countingFirewall counts the calls made to the target.
type countingFirewall struct {
	push.Firewall
	calls *atomic.Int64
}

func (f countingFirewall) Update(ctx context.Context, u push.Update) (push.UpdateResult, error) {
	f.calls.Add(1)
	return f.Firewall.Update(ctx, u)
}

func (f countingFirewall) RegisteredIPs(ctx context.Context, tag string) ([]push.RegisteredIP, error) {
	f.calls.Add(1)
	return f.Firewall.RegisteredIPs(ctx, tag)
}

// errFenced is returned instead of calling the target once the Lease may
// have lapsed.
var errFenced = errors.New("not calling the target: this replica's Lease may have lapsed")

// leaseFence refuses every call once valid(now) is false.
type leaseFence struct {
	push.Firewall
	valid func(time.Time) bool
}

func (f leaseFence) Update(ctx context.Context, u push.Update) (push.UpdateResult, error) {
	if !f.valid(time.Now()) {
		return push.UpdateResult{}, errFenced
	}
	return f.Firewall.Update(ctx, u)
}

func (f leaseFence) RegisteredIPs(ctx context.Context, tag string) ([]push.RegisteredIP, error) {
	if !f.valid(time.Now()) {
		return nil, errFenced
	}
	return f.Firewall.RegisteredIPs(ctx, tag)
}
