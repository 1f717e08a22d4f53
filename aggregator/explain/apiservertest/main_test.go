package apiservertest

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/kubedag/kubedag/e2e/cluster"
)

var (
	testCluster *cluster.Cluster
	podNet      *podNetwork
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "kubedag-explain-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "podnet.sock")
	if podNet, err = newPodNetwork(sock); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: pod network proxy:", err)
		return 1
	}
	defer podNet.close()
	egress := filepath.Join(dir, "egress.yaml")
	cfg := fmt.Sprintf(`apiVersion: apiserver.k8s.io/v1beta1
kind: EgressSelectorConfiguration
egressSelections:
- name: cluster
  connection:
    proxyProtocol: HTTPConnect
    transport:
      uds:
        udsName: %s
`, sock)
	if err := os.WriteFile(egress, []byte(cfg), 0o600); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	return cluster.RunTests(m, cluster.Options{APIServerFlags: []string{"--egress-selector-config-file=" + egress}}, &testCluster)
}

// podNetwork stands in for the pod network: an HTTP CONNECT proxy on a
// Unix socket (the API server's egress selector needs TLS for TCP) that
// connects "podIP:port" to the loopback address routed to it, and refuses
// everything else.
type podNetwork struct {
	ln  net.Listener
	srv *http.Server

	mu     sync.Mutex
	routes map[string]string // podIP:port -> local address
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

func newPodNetwork(sock string) (*podNetwork, error) {
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return nil, err
	}
	p := &podNetwork{ln: ln, routes: map[string]string{}, conns: map[net.Conn]struct{}{}}
	p.srv = &http.Server{Handler: http.HandlerFunc(p.connect), ReadHeaderTimeout: 10 * time.Second}
	p.wg.Add(1)
	go func() { defer p.wg.Done(); _ = p.srv.Serve(ln) }()
	return p, nil
}

// route sends connections for podAddr to local until the test ends.
func (p *podNetwork) route(t *testing.T, podAddr, local string) {
	p.mu.Lock()
	p.routes[podAddr] = local
	p.mu.Unlock()
	t.Cleanup(func() {
		p.mu.Lock()
		delete(p.routes, podAddr)
		p.mu.Unlock()
	})
}

func (p *podNetwork) connect(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	local, ok := p.routes[r.Host]
	p.mu.Unlock()
	if r.Method != http.MethodConnect || !ok {
		http.Error(w, "no route to "+r.Host, http.StatusBadGateway)
		return
	}
	up, err := net.DialTimeout("tcp", local, 5*time.Second)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		up.Close()
		http.Error(w, "no hijack", http.StatusInternalServerError)
		return
	}
	down, buf, err := hj.Hijack()
	if err != nil {
		up.Close()
		return
	}
	if !p.track(up, down) {
		return
	}
	_, _ = down.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n"))
	p.wg.Add(2)
	go func() {
		defer p.wg.Done()
		_, _ = io.Copy(up, buf) // what the client sent after CONNECT, then the rest
		_ = up.(*net.TCPConn).CloseWrite()
	}()
	go func() {
		defer p.wg.Done()
		_, _ = io.Copy(down, up)
		p.untrack(up, down)
	}()
}

func (p *podNetwork) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil { // closed
		for _, c := range cs {
			c.Close()
		}
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *podNetwork) untrack(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		c.Close()
		delete(p.conns, c)
	}
}

// close stops the proxy and every tunnel and waits for their goroutines.
func (p *podNetwork) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = p.srv.Shutdown(ctx)
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}
