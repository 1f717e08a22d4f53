package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"
)

// Check reports nil when the component it watches is ready.
type Check func() error

// HealthServer serves /healthz (process alive), /readyz (every Check passes)
// and /metrics.
type HealthServer struct {
	addr    string
	checks  map[string]Check
	metrics http.Handler
	extra   map[string]http.Handler
}

// Handle serves h at path too (e.g. a status page). Call before Serve.
func (s *HealthServer) Handle(path string, h http.Handler) {
	if s.extra == nil {
		s.extra = map[string]http.Handler{}
	}
	s.extra[path] = h
}

// NewHealthServer returns a server for addr; tel may be nil (no /metrics).
func NewHealthServer(addr string, tel *Telemetry, checks map[string]Check) *HealthServer {
	s := &HealthServer{addr: addr, checks: checks}
	if tel != nil {
		s.metrics = tel.MetricsHandler()
	}
	return s
}

// Handler returns the HTTP handler (for tests and embedding).
func (s *HealthServer) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		names := make([]string, 0, len(s.checks))
		for n := range s.checks {
			names = append(names, n)
		}
		sort.Strings(names)
		var failed []string
		for _, n := range names {
			if err := s.checks[n](); err != nil {
				failed = append(failed, n+": "+err.Error())
			}
		}
		if len(failed) > 0 {
			http.Error(w, "not ready: "+strings.Join(failed, "; "), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	if s.metrics != nil {
		mux.Handle("/metrics", s.metrics)
	}
	for p, h := range s.extra {
		mux.Handle(p, h)
	}
	return mux
}

// Run serves until ctx ends, then shuts down gracefully.
func (s *HealthServer) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("health server listen %s: %w", s.addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve is Run on an existing listener.
func (s *HealthServer) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("health server: %w", err)
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := srv.Shutdown(sctx)
		<-errc
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
}
