package sandwich_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubedag/kubedag/aggregator/sandwich"
	"github.com/kubedag/kubedag/userid"
	"github.com/kubedag/kubedag/userid/panossim"
)

// source is a Source whose inventory a test changes.
type source struct {
	mu  sync.Mutex
	inv sandwich.Inventory
	err error
}

func (s *source) Inventory(context.Context) (sandwich.Inventory, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inv, s.err
}

func (s *source) Refresh() {}

func (s *source) set(inv sandwich.Inventory) {
	s.mu.Lock()
	s.inv = inv
	s.mu.Unlock()
}

func inventory(cidrs ...string) sandwich.Inventory {
	inv := sandwich.Inventory{Firewalls: []sandwich.Firewall{
		{ID: "fw-a", Zone: "us-east-1a", TrustGateway: netip.MustParseAddr("10.0.128.1")},
		{ID: "fw-b", Zone: "us-east-1b", TrustGateway: netip.MustParseAddr("10.0.129.1")},
	}}
	for _, c := range cidrs {
		inv.Subnets = append(inv.Subnets, sandwich.Subnet{CIDR: netip.MustParsePrefix(c)})
	}
	return inv
}

func startSim(t *testing.T, cfg panossim.Config) (*panossim.Server, *userid.Client) {
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
	c, err := userid.New(userid.Config{URL: srv.URL, APIKey: key, RootCAs: srv.CAPool, Timeout: 2 * time.Second,
		RetryBackoff: time.Millisecond, MaxRetryBackoff: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return srv, c
}

// clientAs is a client of srv with user's key: another administrator.
func clientAs(t *testing.T, srv *panossim.Server, user string) *userid.Client {
	t.Helper()
	key, err := srv.Sim.APIKeyFor(user)
	if err != nil {
		t.Fatal(err)
	}
	c, err := userid.New(userid.Config{URL: srv.URL, APIKey: key, RootCAs: srv.CAPool})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// problems collects what the engine reports.
type problems struct {
	mu   sync.Mutex
	list []sandwich.Problem
}

func (p *problems) add(pr sandwich.Problem) {
	p.mu.Lock()
	p.list = append(p.list, pr)
	p.mu.Unlock()
}

func (p *problems) has(reason, service string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.ContainsFunc(p.list, func(pr sandwich.Problem) bool { return pr.Reason == reason && pr.Service == service })
}

func (p *problems) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return fmt.Sprint(p.list)
}

type engine struct {
	*sandwich.Engine
	problems *problems
	cancel   func()
	done     chan struct{}
}

func startEngine(t *testing.T, cluster string, src sandwich.Source, targets ...sandwich.TargetClient) *engine {
	return startEngineWith(t, cluster, src, nil, targets...)
}

func startEngineWith(t *testing.T, cluster string, src sandwich.Source, mod func(*sandwich.Options), targets ...sandwich.TargetClient) *engine {
	t.Helper()
	ps := &problems{}
	opts := sandwich.Options{
		Cluster: cluster, Targets: targets, Source: src,
		Quiet: 100 * time.Millisecond, MaxDelay: 2 * time.Second, ResyncInterval: 200 * time.Millisecond,
		JobPoll: 5 * time.Millisecond, MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
		RepeatProblems: time.Hour,
		OnProblem:      ps.add,
		Logger:         slog.New(slog.DiscardHandler),
	}
	if mod != nil {
		mod(&opts)
	}
	e, err := sandwich.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = e.Run(ctx) }()
	en := &engine{Engine: e, problems: ps, cancel: cancel, done: done}
	t.Cleanup(en.stop)
	return en
}

func (e *engine) stop() {
	e.cancel()
	<-e.done
}

// running returns the names of the entries under container in the
// emulator's running config, in order.
func running(t *testing.T, c *userid.Client, container string) []string {
	t.Helper()
	res, err := c.Show(context.Background(), container)
	if userid.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatalf("show %s: %v", container, err)
	}
	held, err := sandwich.ParseHeld(res)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, h := range held {
		out = append(out, h.Name)
	}
	return out
}

func showEntry(t *testing.T, c *userid.Client, xpath string) string {
	t.Helper()
	res, err := c.Show(context.Background(), xpath)
	if err != nil && !userid.IsNotFound(err) {
		t.Fatal(err)
	}
	return string(res)
}

func eventually(t *testing.T, what string, cond func() bool, diag ...fmt.Stringer) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second) // generous: make test runs every package on 2 cores
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s %v", what, diag)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func fwTarget(name string) sandwich.Target {
	t := sandwich.Target{Name: name, Admin: "admin"}
	if err := t.Validate(); err != nil {
		panic(err)
	}
	return t
}

func web(port int, host string) sandwich.Service {
	return sandwich.Service{Namespace: "shop", Name: "web", Port: port, TargetPort: 8080, Hostname: host}
}

func TestEngineServiceLifecycle(t *testing.T) {
	srv, c := startSim(t, panossim.Config{})
	tg := fwTarget("fw")
	src := &source{inv: inventory("10.0.0.0/19", "10.0.32.0/19")}
	e := startEngine(t, "prod", src, sandwich.TargetClient{Target: tg, Client: c})
	rules := func() []string { return running(t, c, tg.Container(sandwich.KindNATRule)) }
	routes := func() []string { return running(t, c, tg.Container(sandwich.KindRoute)) }

	// Subnets alone: outbound rules and one route per subnet per zone.
	eventually(t, "subnet rules and routes", func() bool { return len(rules()) == 2 && len(routes()) == 4 })

	e.SetServices([]sandwich.Service{web(82, "ilb-1.elb.amazonaws.com")})
	eventually(t, "inbound rule", func() bool { return slices.Contains(rules(), "kd.prod.shop.web-82-inbound") })
	rule := showEntry(t, c, tg.XPath(sandwich.KindNATRule, "kd.prod.shop.web-82-inbound"))
	for _, want := range []string{"<translated-address>kd.prod.shop.web.ilb</translated-address>", "<translated-port>8080</translated-port>",
		"<service>kd.prod.tcp82</service>", "<interface>ethernet1/2</interface>", "<member>kubedag.prod</member>"} {
		if !strings.Contains(rule, want) {
			t.Errorf("rule lacks %s:\n%s", want, rule)
		}
	}

	// Relabel: the new port's service object and rule replace the old.
	e.SetServices([]sandwich.Service{web(83, "ilb-1.elb.amazonaws.com")})
	eventually(t, "relabelled rule", func() bool {
		r := rules()
		return slices.Contains(r, "kd.prod.shop.web-83-inbound") && !slices.Contains(r, "kd.prod.shop.web-82-inbound")
	})
	if got := running(t, c, tg.Container(sandwich.KindService)); !slices.Equal(got, []string{"kd.prod.tcp83"}) {
		t.Errorf("service objects %v", got)
	}

	// A hand edit of our address object is put back and reported.
	addr := tg.XPath(sandwich.KindAddress, "kd.prod.shop.web.ilb")
	if err := c.Edit(t.Context(), addr, `<entry name="kd.prod.shop.web.ilb"><fqdn>evil.example</fqdn><tag><member>kubedag.prod</member></tag></entry>`); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "repair", func() bool { return strings.Contains(showEntry(t, c, addr), "ilb-1.elb.amazonaws.com") })
	eventually(t, "repair reported", func() bool { return e.problems.has(sandwich.ReasonRepaired, "shop/web") })

	// A subnet removed: its rule and routes go; a subnet added: they come.
	src.set(inventory("10.0.32.0/19", "10.0.64.0/19"))
	e.Kick()
	eventually(t, "subnet change", func() bool {
		r := routes()
		return len(r) == 4 && slices.Contains(r, "kd.prod.10.0.64.0_19-us-east-1a") && !slices.Contains(r, "kd.prod.10.0.0.0_19-us-east-1a")
	})

	// Unlabel (or delete): the Service's objects and rule go, the rest stays.
	e.SetServices(nil)
	eventually(t, "unlabel", func() bool { return len(rules()) == 2 })
	if got := running(t, c, tg.Container(sandwich.KindAddress)); len(got) != 0 {
		t.Errorf("address objects left: %v", got)
	}
	if got := running(t, c, tg.Container(sandwich.KindTag)); !slices.Equal(got, []string{"kubedag.prod"}) {
		t.Errorf("tags %v", got)
	}
	if st := srv.Sim.Stats(); st.Errors[12] > 0 || st.Errors[18] > 0 {
		t.Errorf("the device refused calls: %v", st.Errors)
	}
}

func TestEngineCoalescesCommits(t *testing.T) {
	srv, c := startSim(t, panossim.Config{})
	tg := fwTarget("fw")
	// The default Quiet (1s) and MaxDelay; no periodic resync in between.
	e := startEngineWith(t, "prod", &source{inv: inventory("10.0.0.0/19")}, func(o *sandwich.Options) {
		o.Quiet, o.MaxDelay, o.ResyncInterval = 0, 0, time.Hour
	}, sandwich.TargetClient{Target: tg, Client: c})
	eventually(t, "first sync", func() bool { ts := e.Targets(); return ts[0].LastCommit != nil && ts[0].LastError == "" })
	srv.Sim.ResetStats()

	var svcs []sandwich.Service
	for i := range 20 {
		svcs = append(svcs, sandwich.Service{Namespace: "ns", Name: fmt.Sprintf("svc%02d", i), Port: 9000 + i, TargetPort: 80,
			Hostname: fmt.Sprintf("ilb-%d.elb.amazonaws.com", i)})
		e.SetServices(slices.Clone(svcs))
		time.Sleep(40 * time.Millisecond) // 20 Services labelled within a second, as users do
	}
	eventually(t, "20 inbound rules", func() bool { return len(running(t, c, tg.Container(sandwich.KindNATRule))) == 21 }, e)
	if n := srv.Sim.Stats().CommitCalls; n != 1 {
		t.Errorf("%d commits for one burst of 20 Services, want 1", n)
	}
}

func TestEngineCommitFailureAndRecovery(t *testing.T) {
	srv, c := startSim(t, panossim.Config{})
	tg := fwTarget("fw")
	e := startEngine(t, "prod", &source{inv: inventory()}, sandwich.TargetClient{Target: tg, Client: c})
	eventually(t, "first sync", func() bool { ts := e.Targets(); return ts[0].LastCommit != nil })

	srv.Sim.FailCommits(2, "Validation Error: rulebase -> nat -> rules -> kd.prod.shop.web-82-inbound -> dynamic-destination-translation is invalid")
	e.SetServices([]sandwich.Service{web(82, "ilb.elb.amazonaws.com")})
	eventually(t, "commit failure reported on the Service", func() bool { return e.problems.has(sandwich.ReasonCommitFailed, "shop/web") })
	eventually(t, "retried until committed", func() bool {
		return slices.Contains(running(t, c, tg.Container(sandwich.KindNATRule)), "kd.prod.shop.web-82-inbound")
	})
	eventually(t, "the last commit OK", func() bool {
		ts := e.Targets()[0]
		return ts.LastCommit != nil && ts.LastCommit.Result == "OK" && ts.LastError == ""
	}, e)
}

func TestEngineTwoClustersShareFirewalls(t *testing.T) {
	_, c := startSim(t, panossim.Config{})
	tg := fwTarget("fw")
	prod := startEngine(t, "prod", &source{inv: inventory("10.0.0.0/19")}, sandwich.TargetClient{Target: tg, Client: c})
	eu := startEngine(t, "prod-eu", &source{inv: inventory("10.1.0.0/19")}, sandwich.TargetClient{Target: tg, Client: c})
	prod.SetServices([]sandwich.Service{web(82, "a.elb.amazonaws.com")})
	eu.SetServices([]sandwich.Service{web(83, "b.elb.amazonaws.com")})
	rules := func() []string { return running(t, c, tg.Container(sandwich.KindNATRule)) }
	eventually(t, "both clusters' rules", func() bool {
		r := rules()
		return slices.Contains(r, "kd.prod.shop.web-82-inbound") && slices.Contains(r, "kd.prod-eu.shop.web-83-inbound") && len(r) == 4
	})
	prod.SetServices(nil)
	prod.Kick()
	eventually(t, "prod's rule gone", func() bool { return !slices.Contains(rules(), "kd.prod.shop.web-82-inbound") })
	// Both resync after that: neither touches the other's entries.
	mark := time.Now()
	eventually(t, "a full sync of both clusters", func() bool {
		return prod.Targets()[0].LastSync.After(mark) && eu.Targets()[0].LastSync.After(mark)
	})
	r := rules()
	if !slices.Contains(r, "kd.prod-eu.shop.web-83-inbound") || !slices.Contains(r, "kd.prod-eu.10.1.0.0_19-outbound") || !slices.Contains(r, "kd.prod.10.0.0.0_19-outbound") {
		t.Errorf("rules %v", r)
	}
	if got := running(t, c, tg.Container(sandwich.KindRoute)); len(got) != 4 {
		t.Errorf("routes %v, want 2 per cluster", got)
	}
}

func TestEngineTargetDownDoesNotBlockOthers(t *testing.T) {
	down, cdown := startSim(t, panossim.Config{})
	_, cup := startSim(t, panossim.Config{})
	down.Sim.SetOutage(true)
	a, b := fwTarget("a"), fwTarget("b")
	e := startEngine(t, "prod", &source{inv: inventory()},
		sandwich.TargetClient{Target: a, Client: cdown}, sandwich.TargetClient{Target: b, Client: cup})
	e.SetServices([]sandwich.Service{web(82, "a.elb.amazonaws.com")})
	eventually(t, "the healthy target programmed", func() bool {
		return slices.Contains(running(t, cup, b.Container(sandwich.KindNATRule)), "kd.prod.shop.web-82-inbound")
	})
	eventually(t, "the down target reported", func() bool { return e.problems.has(sandwich.ReasonTargetDown, "") })
	down.Sim.SetOutage(false)
	eventually(t, "the recovered target programmed", func() bool {
		return slices.Contains(running(t, cdown, a.Container(sandwich.KindNATRule)), "kd.prod.shop.web-82-inbound")
	})
}

func TestEnginePanorama(t *testing.T) {
	_, c := startSim(t, panossim.Config{Panorama: true})
	tg := sandwich.Target{Name: "pano", Panorama: true, Admin: "admin", DeviceGroup: "eks", TemplateStack: "eks-stack", VirtualRouter: "VR-eks-stack"}
	if err := tg.Validate(); err != nil {
		t.Fatal(err)
	}
	// As a real deployment has it (the AWS plugin expects it): the stack's
	// template holds the firewalls' interfaces and the virtual router
	// VR-<stack> they are in; kubedag adds routes to that router only.
	ctx := t.Context()
	tmpl := "/config/devices/entry[@name='localhost.localdomain']/template/entry[@name='eks-net']/config/devices/entry[@name='localhost.localdomain']/network"
	for _, w := range []struct{ xpath, element string }{
		{tmpl + "/interface/ethernet", `<entry name="ethernet1/1"><layer3><dhcp-client/></layer3></entry><entry name="ethernet1/2"><layer3><dhcp-client/></layer3></entry>`},
		{tmpl + "/virtual-router", `<entry name="VR-eks-stack"><interface><member>ethernet1/1</member><member>ethernet1/2</member></interface></entry>`},
		{"/config/devices/entry[@name='localhost.localdomain']/template-stack/entry[@name='eks-stack']", `<templates><member>eks-net</member></templates>`},
	} {
		if err := c.Set(ctx, w.xpath, w.element); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	e := startEngine(t, "prod", &source{inv: inventory("10.0.0.0/19")}, sandwich.TargetClient{Target: tg, Client: c})
	e.SetServices([]sandwich.Service{web(82, "a.elb.amazonaws.com")})
	eventually(t, "pre-rulebase rule and template-stack routes", func() bool {
		return slices.Contains(running(t, c, tg.Container(sandwich.KindNATRule)), "kd.prod.shop.web-82-inbound") &&
			len(running(t, c, tg.Container(sandwich.KindRoute))) == 2
	})
	eventually(t, "pushed", func() bool {
		ts := e.Targets()[0]
		return ts.LastPush != nil && ts.LastPush.Result == "OK" && len(ts.LastPush.Devices) > 0 && ts.LastError == ""
	})
	if !strings.HasPrefix(tg.Container(sandwich.KindNATRule), "/config/devices/entry[@name='localhost.localdomain']/device-group/entry[@name='eks']/pre-rulebase/") {
		t.Errorf("rules at %s", tg.Container(sandwich.KindNATRule))
	}
}

func (e *engine) String() string {
	return fmt.Sprintf("targets %+v problems %v", e.Targets(), e.problems)
}

// TestEnginePlacement: kubedag's rules go where ruleLocation says and go
// back there after someone moves them.
func TestEnginePlacement(t *testing.T) {
	srv, c := startSim(t, panossim.Config{})
	tg := fwTarget("fw")
	tg.Placement = sandwich.Placement{Where: sandwich.PlaceTop}
	ctx := t.Context()
	users := `<entry name="users-first"><from><member>untrust</member></from><to><member>untrust</member></to>` +
		`<source><member>any</member></source><destination><member>any</member></destination><service>any</service></entry>`
	if err := c.Set(ctx, tg.Container(sandwich.KindNATRule), users); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	e := startEngine(t, "prod", &source{inv: inventory("10.0.0.0/19")}, sandwich.TargetClient{Target: tg, Client: c})
	e.SetServices([]sandwich.Service{web(82, "a.elb.amazonaws.com")})
	rules := func() []string { return running(t, c, tg.Container(sandwich.KindNATRule)) }
	onTop := func() bool {
		r := rules()
		return len(r) == 3 && r[2] == "users-first"
	}
	eventually(t, "kubedag's rules above the user's", onTop, e)

	// An administrator moves kubedag's inbound rule to the bottom.
	inbound := "kd.prod.shop.web-82-inbound"
	if err := c.Move(ctx, tg.XPath(sandwich.KindNATRule, inbound), userid.MoveBottom, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	// The engine may see the hand move before or after the commit; either
	// way it moves the rule back with a move of its own: its first (placing
	// the new rule), the hand move, its second.
	moves := func() int {
		n := 0
		for _, r := range srv.Sim.Requests() {
			if r.Type == "config" && r.Action == "move" && strings.Contains(r.XPath, inbound) {
				n++
			}
		}
		return n
	}
	eventually(t, "the rule moved back on resync", func() bool { return moves() >= 3 && onTop() }, e)
}

// TestEngineCommitValidationFailure: a NAT rule naming a zone the firewall
// lacks fails the commit with PAN-OS's message, reported on the Service.
func TestEngineCommitValidationFailure(t *testing.T) {
	_, c := startSim(t, panossim.Config{})
	tg := fwTarget("fw")
	tg.UntrustZone = "outside" // the emulated firewall has untrust and trust
	e := startEngine(t, "prod", &source{inv: inventory()}, sandwich.TargetClient{Target: tg, Client: c})
	e.SetServices([]sandwich.Service{web(82, "a.elb.amazonaws.com")})
	eventually(t, "CommitFailed on the Service", func() bool { return e.problems.has(sandwich.ReasonCommitFailed, "shop/web") }, e)
	ts := e.Targets()[0]
	if ts.LastCommit == nil || ts.LastCommit.Result != "FAIL" || !strings.Contains(strings.Join(ts.LastCommit.Details, " "), "kd.prod.shop.web-82-inbound") {
		t.Errorf("last commit %+v: want FAIL naming the rule", ts.LastCommit)
	}
	if got := running(t, c, tg.Container(sandwich.KindNATRule)); len(got) != 0 {
		t.Errorf("rules %v reached the running config", got)
	}
}

// TestEnginePanoramaPushFailure: a push failing on a device is reported
// with that device's result, and retried until it succeeds.
func TestEnginePanoramaPushFailure(t *testing.T) {
	srv, c := startSim(t, panossim.Config{Panorama: true})
	serial := srv.Sim.Config().Devices[0].Serial
	srv.Sim.FailPush(serial, 1, "vsys1: interface ethernet1/2 is not in a zone")
	tg := sandwich.Target{Name: "pano", Panorama: true, Admin: "admin", DeviceGroup: "eks", Template: "eks-tmpl"}
	e := startEngine(t, "prod", &source{inv: inventory("10.0.0.0/19")}, sandwich.TargetClient{Target: tg, Client: c})
	e.SetServices([]sandwich.Service{web(82, "a.elb.amazonaws.com")})
	eventually(t, "PushFailed reported", func() bool { return e.problems.has(sandwich.ReasonPushFailed, "") }, e)
	if !strings.Contains(e.problems.String(), serial) || !strings.Contains(e.problems.String(), "is not in a zone") {
		t.Errorf("the push failure does not name the device and its error: %s", e.problems)
	}
	eventually(t, "pushed after a retry", func() bool {
		ts := e.Targets()[0]
		return ts.LastPush != nil && ts.LastPush.Result == "OK" && ts.LastError == "" &&
			len(ts.LastPush.Devices) == 1 && ts.LastPush.Devices[0].Result == "OK"
	}, e)
}

// refusing is the emulator's client, except that the device refuses to
// store entries whose XPath holds name (as PAN-OS answers a bad element).
type refusing struct {
	*userid.Client
	name string
}

func (r refusing) Edit(ctx context.Context, xpath, element string) error {
	if strings.Contains(xpath, r.name) {
		return &userid.APIError{Op: "config edit", Code: 12, Status: "error", Message: "fqdn is invalid"}
	}
	return r.Client.Edit(ctx, xpath, element)
}

// TestEngineSetRefused: an entry the device refuses is reported on its
// Service with the element and PAN-OS's message; that Service's other
// entries wait, other Services are programmed and committed.
func TestEngineSetRefused(t *testing.T) {
	_, c := startSim(t, panossim.Config{})
	tg := fwTarget("fw")
	e := startEngine(t, "prod", &source{inv: inventory()}, sandwich.TargetClient{Target: tg, Client: refusing{c, "kd.prod.shop.bad.ilb"}})
	bad := sandwich.Service{Namespace: "shop", Name: "bad", Port: 90, TargetPort: 80, Hostname: "bad.elb.amazonaws.com"}
	e.SetServices([]sandwich.Service{web(82, "a.elb.amazonaws.com"), bad})
	eventually(t, "good Service programmed", func() bool {
		return slices.Contains(running(t, c, tg.Container(sandwich.KindNATRule)), "kd.prod.shop.web-82-inbound")
	}, e)
	eventually(t, "SetFailed on the bad Service", func() bool { return e.problems.has(sandwich.ReasonSetFailed, "shop/bad") }, e)
	if s := e.problems.String(); !strings.Contains(s, "address kd.prod.shop.bad.ilb") || !strings.Contains(s, "fqdn is invalid") {
		t.Errorf("problem does not name the element and the device's message: %s", s)
	}
	if got := running(t, c, tg.Container(sandwich.KindService)); slices.Contains(got, "kd.prod.tcp90") {
		t.Errorf("the refused Service's other entries were applied: %v", got)
	}
}

// TestEngineLeavesOthersPendingChanges: kubedag's partial commit takes its
// own administrator's changes only.
func TestEngineLeavesOthersPendingChanges(t *testing.T) {
	srv, c := startSim(t, panossim.Config{Users: map[string]string{"admin": "admin", "alice": "alice-pw"}})
	alice := clientAs(t, srv, "alice")
	tg := fwTarget("fw")
	if err := alice.Set(t.Context(), tg.Container(sandwich.KindAddress), `<entry name="alices-draft"><fqdn>draft.example</fqdn></entry>`); err != nil {
		t.Fatal(err)
	}
	e := startEngine(t, "prod", &source{inv: inventory()}, sandwich.TargetClient{Target: tg, Client: c})
	e.SetServices([]sandwich.Service{web(82, "a.elb.amazonaws.com")})
	eventually(t, "kubedag's rule committed", func() bool {
		return slices.Contains(running(t, c, tg.Container(sandwich.KindNATRule)), "kd.prod.shop.web-82-inbound")
	}, e)
	if got := running(t, c, tg.Container(sandwich.KindAddress)); slices.Contains(got, "alices-draft") || !slices.Contains(got, "kd.prod.shop.web.ilb") {
		t.Errorf("running addresses %v: want kubedag's, not alice's uncommitted draft", got)
	}
	if res, err := c.Get(t.Context(), tg.XPath(sandwich.KindAddress, "alices-draft")); err != nil || !strings.Contains(string(res), "draft.example") {
		t.Errorf("alice's draft is gone from the candidate config: %s %v", res, err)
	}
}

func TestEngineTwoClustersSamePort(t *testing.T) {
	_, c := startSim(t, panossim.Config{})
	tg := fwTarget("fw")
	prod := startEngine(t, "prod", &source{inv: inventory("10.0.0.0/19")}, sandwich.TargetClient{Target: tg, Client: c})
	rules := func() []string { return running(t, c, tg.Container(sandwich.KindNATRule)) }
	prod.SetServices([]sandwich.Service{web(82, "a.elb.amazonaws.com")})
	eventually(t, "prod's rule", func() bool { return slices.Contains(rules(), "kd.prod.shop.web-82-inbound") })

	// prod-eu wants the same firewall port later: prod keeps it.
	eu := startEngine(t, "prod-eu", &source{inv: inventory("10.1.0.0/19")}, sandwich.TargetClient{Target: tg, Client: c})
	eu.SetServices([]sandwich.Service{web(82, "b.elb.amazonaws.com"), {Namespace: "shop", Name: "api", Port: 84, TargetPort: 80, Hostname: "c.elb.amazonaws.com"}})
	eventually(t, "the conflict reported on prod-eu's Service", func() bool {
		return eu.problems.has(sandwich.ReasonPortConflict, "shop/web")
	})
	mark := time.Now()
	eventually(t, "a full sync of both clusters", func() bool {
		return prod.Targets()[0].LastSync.After(mark) && eu.Targets()[0].LastSync.After(mark)
	})
	r := rules()
	if slices.Contains(r, "kd.prod-eu.shop.web-82-inbound") || !slices.Contains(r, "kd.prod.shop.web-82-inbound") || !slices.Contains(r, "kd.prod-eu.shop.api-84-inbound") {
		t.Errorf("rules %v: want prod's port 82 rule and prod-eu's port 84 rule only", r)
	}
	if got := running(t, c, tg.Container(sandwich.KindService)); slices.Contains(got, "kd.prod-eu.tcp82") {
		t.Errorf("prod-eu's service object for the taken port was created: %v", got)
	}
	if prod.problems.has(sandwich.ReasonPortConflict, "shop/web") {
		t.Error("the holder reported a conflict")
	}

	// prod lets go of the port: prod-eu takes it.
	prod.SetServices(nil)
	eu.Kick()
	eventually(t, "prod-eu takes the freed port", func() bool {
		r := rules()
		return slices.Contains(r, "kd.prod-eu.shop.web-82-inbound") && !slices.Contains(r, "kd.prod.shop.web-82-inbound")
	})
}

// TestEngineWaitsOutAnotherAdminsLocks: an administrator holding a config
// lock and a commit lock (a change window) blocks kubedag's writes and
// commits; the engine reports it on the Service, keeps retrying, and
// programs the Service once the locks are released, without touching the
// locks itself.
func TestEngineWaitsOutAnotherAdminsLocks(t *testing.T) {
	srv, c := startSim(t, panossim.Config{Users: map[string]string{"admin": "admin", "alice": "alice-pw"}})
	alice := clientAs(t, srv, "alice")
	tg := fwTarget("fw")
	e := startEngine(t, "prod", &source{inv: inventory()}, sandwich.TargetClient{Target: tg, Client: c})
	eventually(t, "first sync", func() bool { ts := e.Targets(); return ts[0].LastCommit != nil }, e)

	for _, cmd := range []string{
		`<request><config-lock><add><comment>change window</comment></add></config-lock></request>`,
		`<request><commit-lock><add><comment>change window</comment></add></commit-lock></request>`,
	} {
		if _, err := alice.Op(t.Context(), cmd); err != nil {
			t.Fatalf("alice: %s: %v", cmd, err)
		}
	}
	e.SetServices([]sandwich.Service{web(82, "a.elb.amazonaws.com")})
	eventually(t, "the locked write reported on the Service", func() bool { return e.problems.has(sandwich.ReasonSetFailed, "shop/web") }, e)
	if got := running(t, c, tg.Container(sandwich.KindNATRule)); slices.Contains(got, "kd.prod.shop.web-82-inbound") {
		t.Fatalf("programmed under another admin's locks: %v", got)
	}
	if _, err := alice.Op(t.Context(), `<request><config-lock><remove></remove></config-lock></request>`); err != nil {
		t.Fatal(err)
	}
	// A commit refused as a whole is the target's problem, not one Service's.
	eventually(t, "the commit lock reported", func() bool { return e.problems.has(sandwich.ReasonCommitFailed, "") }, e)
	if _, err := alice.Op(t.Context(), `<request><commit-lock><remove></remove></commit-lock></request>`); err != nil {
		t.Fatal(err)
	}
	eventually(t, "programmed after the locks are gone", func() bool {
		return slices.Contains(running(t, c, tg.Container(sandwich.KindNATRule)), "kd.prod.shop.web-82-inbound")
	}, e)
}
