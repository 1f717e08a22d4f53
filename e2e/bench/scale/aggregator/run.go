package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubedag/kubedag/aggregator"
	"github.com/kubedag/kubedag/aggregator/podview"
	"github.com/kubedag/kubedag/aggregator/push"
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
	pusher, err := core.Pusher("fw", fw, ready)
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	out.mu.Lock()
	fmt.Fprintf(out.w, "listening %s\n", lis.Addr())
	out.w.Flush()
	out.mu.Unlock()

	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return view.Run(ctx) })
	g.Go(func() error { return gate.Run(ctx) })
	g.Go(func() error { return srv.Serve(ctx, lis, serverTLS) })
	g.Go(func() error { return pusher.Run(ctx) })
	return g.Wait()
}
