package sandwich

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubedag/kubedag/aggregator/sandwich"
	sandwichaws "github.com/kubedag/kubedag/aggregator/sandwich/aws"
	"github.com/kubedag/kubedag/aggregator/sandwich/aws/awssim"
	"github.com/kubedag/kubedag/aggregator/sandwich/kube"
	"github.com/kubedag/kubedag/userid"
	"github.com/kubedag/kubedag/userid/panossim"
)

const (
	region      = "us-east-1"
	clusterName = "prod"
	webHost     = "k8s-shop-web-0123456789.elb.us-east-1.amazonaws.com"
	apiHost     = "k8s-shop-api-0123456789.elb.us-east-1.amazonaws.com"
	cartHost    = "k8s-shop-cart-0123456789.elb.us-east-1.amazonaws.com"
)

// problems collects what the engine reports.
type problems struct {
	mu   sync.Mutex
	list []sandwich.Problem
}

func (p *problems) add(pr sandwich.Problem) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.list = append(p.list, pr)
}

func (p *problems) has(reason, service string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.ContainsFunc(p.list, func(pr sandwich.Problem) bool { return pr.Reason == reason && pr.Service == service })
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// firewall is the PAN-OS emulator and a client reading what it holds.
type firewall struct {
	srv *panossim.Server
	c   *userid.Client
	tg  sandwich.Target
}

func startFirewall(t *testing.T) *firewall {
	t.Helper()
	srv, err := panossim.Start(panossim.Config{}, true, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	key, err := srv.Sim.APIKeyFor("admin")
	if err != nil {
		t.Fatal(err)
	}
	c, err := userid.New(userid.Config{URL: srv.URL, APIKey: key, RootCAs: srv.CAPool, Timeout: 5 * time.Second,
		RetryBackoff: time.Millisecond, MaxRetryBackoff: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	tg := sandwich.Target{Name: "fw", Admin: "admin"}
	if err := tg.Validate(); err != nil {
		t.Fatal(err)
	}
	return &firewall{srv: srv, c: c, tg: tg}
}

// names lists the running config's entries of kind.
func (f *firewall) names(t *testing.T, k sandwich.Kind) []string {
	t.Helper()
	res, err := f.c.Show(context.Background(), f.tg.Container(k))
	if userid.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatalf("show %s: %v", k, err)
	}
	held, err := sandwich.ParseHeld(res)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, h := range held {
		out = append(out, h.Name)
	}
	slices.Sort(out)
	return out
}

func (f *firewall) entry(t *testing.T, k sandwich.Kind, name string) string {
	t.Helper()
	res, err := f.c.Show(context.Background(), f.tg.XPath(k, name))
	if err != nil {
		t.Fatalf("show %s %s: %v", k, name, err)
	}
	return string(res)
}

// dump is everything kubedag may touch, to compare before and after.
func (f *firewall) dump(t *testing.T) string {
	var b strings.Builder
	for _, k := range sandwich.Kinds() {
		res, err := f.c.Show(context.Background(), f.tg.Container(k))
		if err != nil && !userid.IsNotFound(err) {
			t.Fatal(err)
		}
		b.Write(res)
	}
	return b.String()
}

func lbService(ns, name, port string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{kube.DefaultLabelKey: port},
			Annotations: map[string]string{"service.beta.kubernetes.io/aws-load-balancer-type": "nlb",
				"service.beta.kubernetes.io/aws-load-balancer-internal": "0.0.0.0/0"}},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Selector: map[string]string{"app": name},
			Ports: []corev1.ServicePort{{Name: "http", Port: 8080, Protocol: corev1.ProtocolTCP}}},
	}
}

// createLB creates a Service and sets the ILB hostname in its status, as
// the cloud controller would once AWS created the NLB.
func createLB(t *testing.T, cs kubernetes.Interface, svc *corev1.Service, host string) {
	t.Helper()
	ctx := t.Context()
	got, err := cs.CoreV1().Services(svc.Namespace).Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{Hostname: host}}
	if _, err := cs.CoreV1().Services(svc.Namespace).UpdateStatus(ctx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestSandwichFromAWSDiscovery(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	goRun := func(run func(context.Context) error) {
		wg.Add(1)
		go func() { defer wg.Done(); _ = run(ctx) }()
	}
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))

	// "AWS": the cluster, its subnets and the firewall ASG; the NLBs the
	// load balancer controller made for the two Services.
	aws := awssim.New(region)
	awsSrv := httptest.NewServer(aws)
	t.Cleanup(awsSrv.Close)
	layout := awssim.DefaultLayout(region, clusterName)
	aws.Update(layout.Apply)
	aws.Update(func(m *awssim.Model) {
		layout.AddNLB(m, "k8s-shop-web", webHost, true)
		layout.AddNLB(m, "k8s-shop-api", apiHost, false) // internet-facing: refused
	})
	aws.SetPageSize(2)

	fw := startFirewall(t)
	ps := &problems{}
	var engine *sandwich.Engine
	creds := aws.Credentials()
	disc, err := sandwichaws.New(ctx, sandwichaws.Config{Region: region, ClusterName: clusterName, FirewallStack: layout.Stack, Endpoint: awsSrv.URL,
		RefreshInterval: time.Hour, MinRefreshInterval: 10 * time.Millisecond, MaxAttempts: 2, MaxBackoff: 10 * time.Millisecond},
		sandwichaws.Options{Logger: log, Credentials: credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, ""),
			OnChange: func() { engine.Kick() }})
	if err != nil {
		t.Fatal(err)
	}
	engine, err = sandwich.New(sandwich.Options{Cluster: clusterName, Source: disc, Targets: []sandwich.TargetClient{{Target: fw.tg, Client: fw.c}},
		Quiet: 50 * time.Millisecond, MaxDelay: time.Second, ResyncInterval: 200 * time.Millisecond, JobPoll: 5 * time.Millisecond,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, RepeatProblems: time.Hour, OnProblem: ps.add, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := testCluster.UserConfig("e2e-sandwich", "system:masters")
	if err != nil {
		t.Fatal(err)
	}
	cs := kubernetes.NewForConfigOrDie(cfg)
	watcher, err := kube.New(kube.Options{Client: cs, Engine: engine, Source: disc, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	goRun(engine.Run)
	goRun(disc.Run)
	goRun(watcher.Run)

	ns, err := testCluster.CreateNamespace(t.Context(), "shop")
	if err != nil {
		t.Fatal(err)
	}
	createLB(t, cs, lbService(ns, "web", "82"), webHost)
	createLB(t, cs, lbService(ns, "api", "83"), apiHost)

	n := sandwich.Names{Cluster: clusterName}
	p := netip.MustParsePrefix
	subnets := []string{"10.0.1.0/24", "10.0.2.0/24", "10.0.3.0/24"}
	wantRoutes := func(cidrs ...string) []string {
		var out []string
		for _, c := range cidrs {
			for _, z := range []string{"us-east-1a", "us-east-1b"} { // the firewalls' zones
				out = append(out, n.Route(p(c), z))
			}
		}
		slices.Sort(out)
		return out
	}
	inbound := []string{n.Inbound(ns, "web", 82)}
	wantRules := func(cidrs ...string) []string {
		out := slices.Clone(inbound)
		for _, c := range cidrs {
			out = append(out, n.Outbound(p(c)))
		}
		slices.Sort(out)
		return out
	}

	// The sandwich as discovered: 3 subnets x 2 firewall zones = 6 routes,
	// 3 outbound rules, web's inbound rule and objects; api refused.
	eventually(t, "the sandwich built from discovery", func() bool {
		return slices.Equal(fw.names(t, sandwich.KindRoute), wantRoutes(subnets...)) &&
			slices.Equal(fw.names(t, sandwich.KindNATRule), wantRules(subnets...))
	})
	if got := fw.names(t, sandwich.KindAddress); !slices.Equal(got, []string{n.Address(ns, "web")}) {
		t.Errorf("address objects %v", got)
	}
	if got := fw.entry(t, sandwich.KindAddress, n.Address(ns, "web")); !strings.Contains(got, "<fqdn>"+webHost+"</fqdn>") {
		t.Errorf("address object %s", got)
	}
	if got := fw.names(t, sandwich.KindService); !slices.Equal(got, []string{n.Service(82)}) {
		t.Errorf("service objects %v", got)
	}
	for i, z := range []string{"us-east-1a", "us-east-1b"} {
		route := fw.entry(t, sandwich.KindRoute, n.Route(p("10.0.2.0/24"), z))
		gw := fmt.Sprintf("<ip-address>10.0.%d.1</ip-address>", 120+i) // the zone's trust subnet router
		if !strings.Contains(route, gw) || !strings.Contains(route, "<destination>10.0.2.0/24</destination>") {
			t.Errorf("route via %s: want next hop %s:\n%s", z, gw, route)
		}
	}
	eventually(t, "api reported as not an internal NLB", func() bool { return ps.has(sandwich.ReasonNotInternalNLB, ns+"/api") })

	// A Service whose NLB AWS does not know (yet): reported, not programmed;
	// once the NLB exists, the next refresh programs it.
	createLB(t, cs, lbService(ns, "cart", "84"), cartHost)
	eventually(t, "cart reported as ILB not found", func() bool { return ps.has(sandwich.ReasonILBNotFound, ns+"/cart") })
	if got := fw.names(t, sandwich.KindNATRule); !slices.Equal(got, wantRules(subnets...)) {
		t.Fatalf("rules %v with cart's ILB unknown", got)
	}
	aws.Update(func(m *awssim.Model) { layout.AddNLB(m, "k8s-shop-cart", cartHost, true) })
	disc.Refresh()
	inbound = append(inbound, n.Inbound(ns, "cart", 84))
	eventually(t, "cart programmed once its NLB exists", func() bool {
		return slices.Equal(fw.names(t, sandwich.KindNATRule), wantRules(subnets...))
	})

	// A subnet added to the cluster in AWS: discovered on the next refresh
	// (the periodic one in production; asked for here), it gains its routes
	// and outbound NAT rule.
	aws.Update(func(m *awssim.Model) { layout.AddClusterSubnet(m, "subnet-0eks4", "10.0.4.0/24", "us-east-1c") })
	disc.Refresh()
	subnets = append(subnets, "10.0.4.0/24")
	eventually(t, "the new subnet's routes and outbound rule", func() bool {
		return slices.Equal(fw.names(t, sandwich.KindRoute), wantRoutes(subnets...)) &&
			slices.Equal(fw.names(t, sandwich.KindNATRule), wantRules(subnets...))
	})

	// An AWS outage, during which the subnet goes away in AWS: discovery
	// fails, the engine keeps resyncing on the last good inventory, and the
	// firewall keeps every rule and route.
	before := fw.dump(t)
	aws.SetOutage(true)
	aws.Update(func(m *awssim.Model) {
		c := m.Clusters[clusterName]
		c.SubnetIDs = slices.DeleteFunc(c.SubnetIDs, func(id string) bool { return id == "subnet-0eks4" })
	})
	disc.Refresh()
	eventually(t, "discovery failing", func() bool { _, err := disc.Inventory(ctx); return err != nil })
	configCalls := fw.srv.Sim.Stats().ConfigCalls
	eventually(t, "the engine resyncing during the outage", func() bool { return fw.srv.Sim.Stats().ConfigCalls >= configCalls+3*len(sandwich.Kinds()) })
	if after := fw.dump(t); after != before {
		t.Fatalf("the firewall changed during the AWS outage:\nbefore %s\nafter  %s", before, after)
	}

	// AWS back: the subnet's removal is now seen and applied.
	aws.SetOutage(false)
	disc.Refresh()
	subnets = subnets[:3]
	eventually(t, "the removed subnet's routes and rule gone", func() bool {
		return slices.Equal(fw.names(t, sandwich.KindRoute), wantRoutes(subnets...)) &&
			slices.Equal(fw.names(t, sandwich.KindNATRule), wantRules(subnets...))
	})
}
