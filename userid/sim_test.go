package userid_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubedag/kubedag/userid"
	"github.com/kubedag/kubedag/userid/panossim"
)

// Round trips against the emulator over TLS, trusting its generated CA.

// clock is a settable time source for the emulator's tag expiry.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func startSim(t testing.TB, cfg panossim.Config) *panossim.Server {
	t.Helper()
	srv, err := panossim.Start(cfg, true, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

// simClient returns a client for srv trusting its CA, authenticated with a
// key the emulator minted for admin.
func simClient(t testing.TB, srv *panossim.Server, mod func(*userid.Config)) *userid.Client {
	t.Helper()
	key, err := srv.Sim.APIKeyFor("admin")
	if err != nil {
		t.Fatal(err)
	}
	cfg := userid.Config{URL: srv.URL, APIKey: key, RootCAs: srv.CAPool,
		RetryBackoff: time.Millisecond, MaxRetryBackoff: 5 * time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	c, err := userid.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func entries(n int, first string, tags func(i int) []userid.Tag) []userid.Entry {
	out := make([]userid.Entry, n)
	a := netip.MustParseAddr(first)
	for i := range out {
		out[i] = userid.Entry{IP: a, Tags: tags(i)}
		a = a.Next()
	}
	return out
}

func names(ts []userid.Tag) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.Name)
	}
	slices.Sort(out)
	return out
}

func TestSimAuth(t *testing.T) {
	srv := startSim(t, panossim.Config{})
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, srv.CACertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()

	c, err := userid.New(userid.Config{URL: srv.URL, Username: "admin", Password: "admin", CAFile: caFile})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Keygen(ctx); err != nil {
		t.Fatalf("keygen admin:admin: %v", err)
	}
	if _, err := c.Op(ctx, "<show><system><info/></system></show>"); err != nil {
		t.Fatalf("op with generated key: %v", err)
	}

	bad, _ := userid.New(userid.Config{URL: srv.URL, Username: "admin", Password: "wrong-pass", RootCAs: srv.CAPool})
	if err := bad.Keygen(ctx); !userid.IsAuth(err) || strings.Contains(err.Error(), "wrong-pass") {
		t.Errorf("keygen with a bad password: %v, want an auth error without the password", err)
	}
	badKey, _ := userid.New(userid.Config{URL: srv.URL, APIKey: "bogus-key-123", RootCAs: srv.CAPool})
	if _, err := badKey.Get(ctx, "/config"); !userid.IsAuth(err) || strings.Contains(err.Error(), "bogus-key-123") {
		t.Errorf("bad key: %v, want an auth error without the key", err)
	}
	untrusted, _ := userid.New(userid.Config{URL: srv.URL, APIKey: "k"})
	if _, err := untrusted.Get(ctx, "/config"); err == nil || userid.IsRetryable(err) {
		t.Errorf("unverified certificate: %v, want a non-retryable error", err)
	}
}

func TestSimRegisterListUnregister(t *testing.T) {
	srv := startSim(t, panossim.Config{})
	c := simClient(t, srv, func(cfg *userid.Config) { cfg.MaxEntries = 500 })
	ctx := t.Context()
	const n = 1203
	reg := entries(n, "10.1.0.1", func(i int) []userid.Tag {
		tags := []userid.Tag{{Name: "k8s.cl_a.ns_default"}}
		if i%3 == 0 {
			tags = append(tags, userid.Tag{Name: "k8s.cl_a.ns_default.svc_web", Timeout: time.Hour})
		}
		return tags
	})
	res, err := c.Update(ctx, userid.Update{Register: reg})
	if err != nil || len(res.Failed) != 0 || res.Messages != 3 {
		t.Fatalf("register: %+v %v", res, err)
	}
	if st := srv.Sim.Stats(); st.MaxEntriesPerCall != 500 || st.RegisterEntries != n {
		t.Errorf("emulator saw %+v, want 500 entries per call max and %d entries", st, n)
	}
	if got := len(srv.Sim.Registered()); got != n {
		t.Fatalf("emulator holds %d IPs, want %d", got, n)
	}

	all, err := c.RegisteredIPs(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != n {
		t.Fatalf("listed %d IPs, want %d (paging)", len(all), n)
	}
	for i, r := range all {
		if r.IP != reg[i].IP || !slices.Equal(names(r.Tags), names(reg[i].Tags)) || !r.Persistent {
			t.Fatalf("listed %+v, want %+v", r, reg[i])
		}
	}
	web, err := c.RegisteredIPs(ctx, "k8s.cl_a.ns_default.svc_web")
	if err != nil || len(web) != (n+2)/3 {
		t.Fatalf("tag filter: %d IPs, %v; want %d", len(web), err, (n+2)/3)
	}

	// Registering again and unregistering what is not there are benign.
	if res, err := c.Update(ctx, userid.Update{
		Register:   reg[:5],
		Unregister: entries(3, "192.0.2.1", func(int) []userid.Tag { return []userid.Tag{{Name: "nope"}} }),
	}); err != nil || len(res.Failed) != 0 {
		t.Fatalf("benign update: %+v %v", res, err)
	}

	// Move the web tag: unregister it everywhere, register another.
	var unreg, moved []userid.Entry
	for _, r := range web {
		unreg = append(unreg, userid.Entry{IP: r.IP, Tags: []userid.Tag{{Name: "k8s.cl_a.ns_default.svc_web"}}})
		moved = append(moved, userid.Entry{IP: r.IP, Tags: []userid.Tag{{Name: "k8s.cl_a.ns_default.svc_api"}}})
	}
	if res, err := c.Update(ctx, userid.Update{Unregister: unreg, Register: moved}); err != nil || len(res.Failed) != 0 {
		t.Fatalf("move: %+v %v", res, err)
	}
	if web, err := c.RegisteredIPs(ctx, "k8s.cl_a.ns_default.svc_web"); err != nil || len(web) != 0 {
		t.Errorf("after unregister, web has %d IPs (%v)", len(web), err)
	}
	if api, err := c.RegisteredIPs(ctx, "k8s.cl_a.ns_default.svc_api"); err != nil || len(api) != (n+2)/3 {
		t.Errorf("after move, api has %d IPs (%v)", len(api), err)
	}
}

func TestSimTimeoutsAndReboot(t *testing.T) {
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	srv := startSim(t, panossim.Config{Now: clk.Now})
	c := simClient(t, srv, nil)
	ctx := t.Context()
	_, err := c.Update(ctx, userid.Update{Register: []userid.Entry{
		{IP: netip.MustParseAddr("10.0.0.1"), Tags: []userid.Tag{{Name: "short", Timeout: time.Minute}, {Name: "stay"}}},
		{IP: netip.MustParseAddr("10.0.0.2"), Tags: []userid.Tag{{Name: "stay"}}},
		{IP: netip.MustParseAddr("10.0.0.3"), Tags: []userid.Tag{{Name: "canary", Timeout: time.Hour}}, NonPersistent: true},
	}})
	if err != nil {
		t.Fatal(err)
	}
	list := func() map[string][]string {
		t.Helper()
		rs, err := c.RegisteredIPs(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		out := map[string][]string{}
		for _, r := range rs {
			out[r.IP.String()] = names(r.Tags)
			if r.IP.String() == "10.0.0.3" && r.Persistent {
				t.Errorf("non-persistent registration listed as persistent")
			}
		}
		return out
	}
	if got := list(); len(got) != 3 || len(got["10.0.0.1"]) != 2 {
		t.Fatalf("before expiry: %v", got)
	}
	clk.Advance(61 * time.Second)
	if got := list(); !slices.Equal(got["10.0.0.1"], []string{"stay"}) || len(got) != 3 {
		t.Fatalf("after the 60s timeout: %v, want short expired", got)
	}
	srv.Sim.Reboot()
	got := list()
	if _, ok := got["10.0.0.3"]; ok || len(got) != 2 {
		t.Fatalf("after reboot: %v, want the non-persistent canary gone", got)
	}
}

func TestSimLimits(t *testing.T) {
	srv := startSim(t, panossim.Config{Capacity: 10})
	c := simClient(t, srv, nil)
	ctx := t.Context()
	res, err := c.Update(ctx, userid.Update{Register: entries(15, "10.2.0.1", func(int) []userid.Tag {
		return []userid.Tag{{Name: "t"}}
	})})
	if err != nil {
		t.Fatal(err)
	}
	capFull := 0
	for _, f := range res.Failed {
		if f.CapacityFull && f.Op == "register" {
			capFull++
		}
	}
	if capFull != 5 || len(res.Failed) != 5 {
		t.Errorf("capacity: failed %+v, want 5 CapacityFull", res.Failed)
	}
	if got := len(srv.Sim.Registered()); got != 10 {
		t.Errorf("emulator holds %d IPs, want 10", got)
	}

	srv2 := startSim(t, panossim.Config{})
	c2 := simClient(t, srv2, nil)
	var many []userid.Tag
	for i := range 33 {
		many = append(many, userid.Tag{Name: fmt.Sprintf("t%02d", i)})
	}
	res, err = c2.Update(ctx, userid.Update{Register: []userid.Entry{
		{IP: netip.MustParseAddr("10.3.0.1"), Tags: many},
		{IP: netip.MustParseAddr("10.3.0.2"), Tags: []userid.Tag{{Name: strings.Repeat("n", 128)}}},
		{IP: netip.MustParseAddr("10.3.0.3"), Tags: []userid.Tag{{Name: "fine"}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	failed := map[string]string{}
	for _, f := range res.Failed {
		if f.CapacityFull {
			t.Errorf("%v marked CapacityFull", f)
		}
		failed[f.IP.String()] = f.Message
	}
	if len(failed) != 2 || !strings.Contains(failed["10.3.0.1"], "too many tags") || !strings.Contains(failed["10.3.0.2"], "too long") {
		t.Errorf("limit failures %v", failed)
	}
	if reg := srv2.Sim.Registered(); len(reg) != 1 {
		t.Errorf("emulator holds %v, want only 10.3.0.3", reg)
	}
}

func TestSimScopes(t *testing.T) {
	srv := startSim(t, panossim.Config{})
	c := simClient(t, srv, func(cfg *userid.Config) { cfg.Vsys = "vsys2" })
	ctx := t.Context()
	if _, err := c.Update(ctx, userid.Update{Register: entries(2, "10.4.0.1", func(int) []userid.Tag {
		return []userid.Tag{{Name: "v2"}}
	})}); err != nil {
		t.Fatal(err)
	}
	if got := srv.Sim.RegisteredIn("vsys2", ""); len(got) != 2 {
		t.Errorf("vsys2 holds %v", got)
	}
	if got := srv.Sim.RegisteredIn("vsys1", ""); len(got) != 0 {
		t.Errorf("vsys1 holds %v", got)
	}
	if rs, err := c.RegisteredIPs(ctx, ""); err != nil || len(rs) != 2 {
		t.Errorf("vsys2 listing: %v %v", rs, err)
	}

	pano := startSim(t, panossim.Config{Panorama: true})
	serial := pano.Sim.Config().Devices[0].Serial
	pc := simClient(t, pano, func(cfg *userid.Config) { cfg.Target = serial })
	if _, err := pc.Update(ctx, userid.Update{Register: entries(3, "10.5.0.1", func(int) []userid.Tag {
		return []userid.Tag{{Name: "fw"}}
	})}); err != nil {
		t.Fatal(err)
	}
	if got := pano.Sim.RegisteredIn("", serial); len(got) != 3 {
		t.Errorf("target %s holds %v", serial, got)
	}
	if rs, err := pc.RegisteredIPs(ctx, "fw"); err != nil || len(rs) != 3 {
		t.Errorf("target listing: %v %v", rs, err)
	}
}

const vsysPrefix = "/config/devices/entry[@name='localhost.localdomain']/vsys/entry[@name='vsys1']"

func TestSimConfigCommit(t *testing.T) {
	srv := startSim(t, panossim.Config{})
	c := simClient(t, srv, nil)
	ctx := t.Context()
	addr := vsysPrefix + "/address/entry[@name='web']"
	if err := c.Set(ctx, vsysPrefix+"/address", `<entry name="web"><fqdn>a.example</fqdn><description>kubedag</description></entry>`); err != nil {
		t.Fatal(err)
	}
	got, err := c.Get(ctx, addr)
	if err != nil || !strings.Contains(string(got), "a.example") || !strings.Contains(string(got), "kubedag") {
		t.Fatalf("get after set: %s %v", got, err)
	}
	if err := c.Edit(ctx, addr, `<entry name="web"><fqdn>b.example</fqdn></entry>`); err != nil {
		t.Fatal(err)
	}
	got, err = c.Get(ctx, addr)
	if err != nil || !strings.Contains(string(got), "b.example") || strings.Contains(string(got), "kubedag") {
		t.Fatalf("get after edit (replace): %s %v", got, err)
	}
	if _, err := c.Show(ctx, addr); !userid.IsNotFound(err) {
		t.Errorf("running config before commit: %v, want not found", err)
	}
	id, err := c.Commit(ctx)
	if err != nil || id <= 0 {
		t.Fatalf("commit: %d %v", id, err)
	}
	job, err := c.WaitJob(ctx, id, 10*time.Millisecond)
	if err != nil || job.Result != "OK" {
		t.Fatalf("wait job: %+v %v", job, err)
	}
	if got, err := c.Show(ctx, addr); err != nil || !strings.Contains(string(got), "b.example") {
		t.Errorf("running config after commit: %s %v", got, err)
	}
	if id, err := c.Commit(ctx); id != 0 || err != nil {
		t.Errorf("second commit: %d %v, want no changes", id, err)
	}
	if err := c.Delete(ctx, addr); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, addr); !userid.IsNotFound(err) {
		t.Errorf("get after delete: %v, want not found", err)
	}
	if err := c.Set(ctx, vsysPrefix+"/address", "<entry name=\"broken\"><fqdn>x</fqdn>"); !userid.IsBadRequest(err) {
		t.Errorf("malformed element: %v, want a bad-request error", err)
	}

	srv.Sim.FailCommits(1, "address -> web is invalid")
	id, err = c.Commit(ctx)
	if err != nil || id <= 0 {
		t.Fatalf("commit: %d %v", id, err)
	}
	_, err = c.WaitJob(ctx, id, 10*time.Millisecond)
	var je *userid.JobError
	if !errors.As(err, &je) || !strings.Contains(err.Error(), "address -> web is invalid") {
		t.Errorf("failed commit: %v, want JobError with details", err)
	}
}

func TestSimPanoramaPush(t *testing.T) {
	srv := startSim(t, panossim.Config{Panorama: true})
	c := simClient(t, srv, nil)
	ctx := t.Context()
	dg := "/config/devices/entry[@name='localhost.localdomain']/device-group/entry[@name='eks']"
	if err := c.Set(ctx, dg+"/address", `<entry name="svc"><fqdn>ilb.example</fqdn></entry>`); err != nil {
		t.Fatal(err)
	}
	if id, err := c.Commit(ctx); err != nil {
		t.Fatal(err)
	} else if id > 0 {
		if _, err := c.WaitJob(ctx, id, 10*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	id, err := c.CommitAll(ctx, "eks", true)
	if err != nil || id <= 0 {
		t.Fatalf("commit-all: %d %v", id, err)
	}
	job, err := c.WaitJob(ctx, id, 10*time.Millisecond)
	if err != nil || !job.Done() || job.Failed() {
		t.Fatalf("push job %+v: %v", job, err)
	}
}

func TestSimFaults(t *testing.T) {
	srv := startSim(t, panossim.Config{})
	c := simClient(t, srv, nil)
	ctx := t.Context()

	srv.Sim.InjectError(21, 2)
	if _, err := c.Get(ctx, vsysPrefix); err != nil {
		t.Errorf("get after 2 injected internal errors should succeed on retry: %v", err)
	}
	if n := srv.Sim.Stats().Errors[21]; n != 2 {
		t.Errorf("emulator answered %d internal errors, want 2", n)
	}
	srv.Sim.InjectError(21, 1)
	if err := c.Set(ctx, vsysPrefix+"/address", `<entry name="x"><fqdn>x.example</fqdn></entry>`); !userid.IsRetryable(err) {
		t.Errorf("set with injected internal error: %v, want the retryable error returned (no retry)", err)
	}

	srv.Sim.SetOutage(true)
	_, err := c.Update(ctx, userid.Update{Register: entries(1, "10.6.0.1", func(int) []userid.Tag { return []userid.Tag{{Name: "x"}} })})
	if !userid.IsRetryable(err) {
		t.Errorf("update during outage: %v, want retryable", err)
	}
	srv.Sim.SetOutage(false)
	if _, err := c.Update(ctx, userid.Update{Register: entries(1, "10.6.0.1", func(int) []userid.Tag { return []userid.Tag{{Name: "x"}} })}); err != nil {
		t.Errorf("update after outage: %v", err)
	}

	// Session timeout with credentials: the client gets a new key and goes on.
	kc, err := userid.New(userid.Config{URL: srv.URL, Username: "admin", Password: "admin", RootCAs: srv.CAPool})
	if err != nil {
		t.Fatal(err)
	}
	if err := kc.Keygen(ctx); err != nil {
		t.Fatal(err)
	}
	srv.Sim.InjectError(22, 1)
	if _, err := kc.RegisteredIPs(ctx, ""); err != nil {
		t.Errorf("after an injected session timeout: %v", err)
	}

	// Cancellation while the device is slow.
	srv.Sim.SetLatency(2 * time.Second)
	cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := c.Get(cctx, vsysPrefix); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("slow device: %v, want DeadlineExceeded", err)
	}
	srv.Sim.SetLatency(0)
}

// BenchmarkUpdateSim measures end-to-end Update throughput against the
// emulator over TLS, 1,000 mappings per call, alternating register and
// unregister so the emulator's state stays bounded.
func BenchmarkUpdateSim(b *testing.B) {
	srv := startSim(b, panossim.Config{})
	c := simClient(b, srv, nil)
	batch := entries(1000, "10.8.0.1", func(i int) []userid.Tag {
		return []userid.Tag{{Name: "k8s.cl_prod.ns_payments"}, {Name: "k8s.cl_prod.ns_payments.svc_api", Timeout: time.Hour}}
	})
	ctx := b.Context()
	mappings := 0
	b.ReportAllocs()
	start := time.Now()
	for i := 0; b.Loop(); i++ {
		u := userid.Update{Register: batch}
		if i%2 == 1 {
			u = userid.Update{Unregister: batch}
		}
		res, err := c.Update(ctx, u)
		if err != nil || len(res.Failed) != 0 {
			b.Fatalf("%+v %v", res, err)
		}
		mappings += len(batch)
	}
	b.ReportMetric(float64(mappings)/time.Since(start).Seconds(), "mappings/s")
}

// TestSimConcurrentUse drives one lazily-keyed client from several
// goroutines (run with -race): one keygen, all updates applied.
func TestSimConcurrentUse(t *testing.T) {
	srv := startSim(t, panossim.Config{})
	c, err := userid.New(userid.Config{URL: srv.URL, Username: "admin", Password: "admin", RootCAs: srv.CAPool})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 4 {
		wg.Go(func() {
			batch := entries(100, fmt.Sprintf("10.9.%d.1", g), func(int) []userid.Tag { return []userid.Tag{{Name: "c"}} })
			if _, err := c.Update(ctx, userid.Update{Register: batch}); err != nil {
				errs <- err
			}
			if _, err := c.RegisteredIPs(ctx, "c"); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if st := srv.Sim.Stats(); st.KeygenCalls != 1 {
		t.Errorf("%d keygens, want 1 (a new key ends the others' sessions)", st.KeygenCalls)
	}
	if got := len(srv.Sim.Registered()); got != 400 {
		t.Errorf("emulator holds %d IPs, want 400", got)
	}
}

// TestSimKeygenElsewhere: an administrator's keygen for the same account
// (e.g. the README's curl example) ends kubedag's API session with 403.
// With password credentials the client gets a new key once and carries on;
// with a fixed API key it says what happened and what to do.
func TestSimKeygenElsewhere(t *testing.T) {
	srv := startSim(t, panossim.Config{})
	ctx := t.Context()
	endSessions := func() {
		t.Helper()
		before, _ := srv.Sim.APIKeyFor("admin")
		form := url.Values{"type": {"keygen"}, "user": {"admin"}, "password": {"admin"}}
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: srv.CAPool, MinVersion: tls.VersionTLS12}}}
		resp, err := hc.PostForm(srv.URL+"/api/", form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if after, _ := srv.Sim.APIKeyFor("admin"); after == before {
			t.Fatal("keygen elsewhere did not replace the admin key")
		}
	}

	t.Run("password", func(t *testing.T) {
		c, err := userid.New(userid.Config{URL: srv.URL, Username: "admin", Password: "admin", RootCAs: srv.CAPool})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Op(ctx, "<show><system><info/></system></show>"); err != nil {
			t.Fatal(err)
		}
		keygens := srv.Sim.Stats().KeygenCalls
		endSessions()
		if _, err := c.Op(ctx, "<show><system><info/></system></show>"); err != nil {
			t.Fatalf("after a keygen elsewhere: %v, want a new key and success", err)
		}
		if n := srv.Sim.Stats().KeygenCalls - keygens; n != 2 {
			t.Errorf("%d keygens (elsewhere and ours), want 2: one new key, not a loop", n)
		}
	})
	t.Run("fixed API key", func(t *testing.T) {
		c := simClient(t, srv, nil)
		if _, err := c.Op(ctx, "<show><system><info/></system></show>"); err != nil {
			t.Fatal(err)
		}
		endSessions()
		_, err := c.Op(ctx, "<show><system><info/></system></show>")
		if !userid.IsAuth(err) {
			t.Fatalf("after a keygen elsewhere: %v, want an auth error", err)
		}
		for _, want := range []string{"API key was refused", "keygen for the same administrator", "username and password"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		}
	})
}

// TestSimRotatedCredentials: credentials and CA come from files the kubelet
// updates in place (a mounted Secret); the client reads them again when the
// device refuses them, without a restart.
func TestSimRotatedCredentials(t *testing.T) {
	srv := startSim(t, panossim.Config{})
	ctx := t.Context()
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	read := func(name string) string {
		b, _ := os.ReadFile(filepath.Join(dir, name))
		return string(b)
	}
	op := func(c *userid.Client) error {
		_, err := c.Op(ctx, "<show><system><info/></system></show>")
		return err
	}

	t.Run("api key", func(t *testing.T) {
		oldKey, _ := srv.Sim.APIKeyFor("admin")
		write("api-key", oldKey)
		c, err := userid.New(userid.Config{URL: srv.URL, APIKey: read("api-key"), RootCAs: srv.CAPool,
			Reload: func() (string, string, string, error) { return read("api-key"), "", "", nil }})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := op(c); err != nil {
			t.Fatal(err)
		}
		// Rotation: the administrator makes a new key (ending the old one)
		// and updates the Secret.
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: srv.CAPool, MinVersion: tls.VersionTLS12}}}
		resp, err := hc.PostForm(srv.URL+"/api/", url.Values{"type": {"keygen"}, "user": {"admin"}, "password": {"admin"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		newKey, _ := srv.Sim.APIKeyFor("admin")
		write("api-key", newKey)
		if err := op(c); err != nil {
			t.Fatalf("after the key was rotated in its file: %v", err)
		}
		if err := op(c); err != nil || strings.Contains(fmt.Sprint(err), newKey) {
			t.Fatalf("with the rotated key: %v", err)
		}
	})
	t.Run("password", func(t *testing.T) {
		write("password", "old-password")
		c, err := userid.New(userid.Config{URL: srv.URL, Username: "admin", Password: read("password"), RootCAs: srv.CAPool,
			Reload: func() (string, string, string, error) { return "", "admin", read("password"), nil }})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		write("password", "admin") // the device's password changed, and so did the Secret
		if err := op(c); err != nil {
			t.Fatalf("after the password was rotated in its file: %v", err)
		}
	})
	t.Run("CA", func(t *testing.T) {
		other := startSim(t, panossim.Config{}) // another CA
		caFile := write("ca.crt", string(other.CACertPEM))
		key, _ := srv.Sim.APIKeyFor("admin")
		c, err := userid.New(userid.Config{URL: srv.URL, APIKey: key, CAFile: caFile,
			RetryBackoff: time.Millisecond, MaxRetryBackoff: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := op(c); err == nil {
			t.Fatal("verified the device with the wrong CA")
		}
		write("ca.crt", string(srv.CACertPEM)) // the Secret now holds the device's CA
		if err := op(c); err != nil {
			t.Fatalf("after the CA was rotated in its file: %v", err)
		}
	})
}

// TestSimIPv6Canonical: IPv6 entries go on the wire in canonical form
// (RFC 5952), the emulator lists them so, and a registration spelled
// another way (upper case, zeros written out) is the same entry, listed
// and read back as the same address, so reconcile never sees two.
func TestSimIPv6Canonical(t *testing.T) {
	srv := startSim(t, panossim.Config{})
	c := simClient(t, srv, nil)
	ctx := t.Context()
	ip := netip.MustParseAddr("fd00:10:244:0:0:0:0:5")
	if _, err := c.Update(ctx, userid.Update{Register: []userid.Entry{{IP: ip, Tags: []userid.Tag{{Name: "a"}}}}}); err != nil {
		t.Fatal(err)
	}
	raw, err := c.Op(ctx, "<show><object><registered-ip><all/></registered-ip></object></show>")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `ip="fd00:10:244::5"`) {
		t.Fatalf("listing does not show the canonical form fd00:10:244::5:\n%s", raw)
	}
	// Another client's spelling of the same address.
	msg := `<uid-message><version>2.0</version><type>update</type><payload><register>` +
		`<entry ip="FD00:0010:0244:0000:0000:0000:0000:0005"><tag><member>b</member></tag></entry>` +
		`</register></payload></uid-message>`
	key, err := srv.Sim.APIKeyFor("admin")
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"type": {"user-id"}, "cmd": {msg}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/api/", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-PAN-KEY", key)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: srv.CAPool}}}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `status="success"`) {
		t.Fatalf("register with expanded spelling: %s", body)
	}
	all, err := c.RegisteredIPs(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 || all[0].IP != ip || !slices.Equal(names(all[0].Tags), []string{"a", "b"}) {
		t.Fatalf("listed %+v, want one entry %s with tags a, b", all, ip)
	}
}
