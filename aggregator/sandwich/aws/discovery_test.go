package aws

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/kubedag/kubedag/aggregator/sandwich"
	"github.com/kubedag/kubedag/aggregator/sandwich/aws/awssim"
	"github.com/kubedag/kubedag/internal/syncbuf"
)

const region = "eu-west-1"

type fixture struct {
	sim    *awssim.Server
	url    string
	layout awssim.Layout
	logs   *syncbuf.Buffer
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	sim := awssim.New(region)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	l := awssim.DefaultLayout(region, "prod")
	sim.Update(l.Apply)
	sim.Update(func(m *awssim.Model) {
		l.AddNLB(m, "web", "web-0123.elb.eu-west-1.amazonaws.com", true)
	})
	return &fixture{sim: sim, url: srv.URL, layout: l, logs: &syncbuf.Buffer{}}
}

func (f *fixture) config() Config {
	return Config{Region: region, ClusterName: "prod", FirewallStack: "kubedag-fw", Endpoint: f.url, MaxBackoff: 5 * time.Millisecond, MaxAttempts: 3}
}

func (f *fixture) staticCreds() awssdk.CredentialsProvider {
	c := f.sim.Credentials()
	return credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, "")
}

func (f *fixture) discovery(t *testing.T, cfg Config, opts Options) *Discovery {
	t.Helper()
	if opts.Credentials == nil {
		opts.Credentials = f.staticCreds()
	}
	opts.Logger = slog.New(slog.NewTextHandler(f.logs, nil))
	d, err := New(t.Context(), cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func wantInventory() sandwich.Inventory {
	p := netip.MustParsePrefix
	return sandwich.Inventory{
		VPC: "vpc-0kubedag",
		Subnets: []sandwich.Subnet{
			{ID: "subnet-0eks1", CIDR: p("10.0.1.0/24"), Zone: "eu-west-1a"},
			{ID: "subnet-0eks2", CIDR: p("10.0.2.0/24"), Zone: "eu-west-1b"},
			{ID: "subnet-0eks3", CIDR: p("10.0.3.0/24"), Zone: "eu-west-1c"},
		},
		Firewalls: []sandwich.Firewall{
			{ID: "i-0fw1", Zone: "eu-west-1a", TrustSubnet: p("10.0.120.0/24"), TrustGateway: netip.MustParseAddr("10.0.120.1")},
			{ID: "i-0fw2", Zone: "eu-west-1b", TrustSubnet: p("10.0.121.0/24"), TrustGateway: netip.MustParseAddr("10.0.121.1")},
		},
		LoadBalancers: map[string]sandwich.LoadBalancer{"web-0123.elb.eu-west-1.amazonaws.com": {
			DNSName: "web-0123.elb.eu-west-1.amazonaws.com", ARN: "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/net/web/0123456789abcdef",
			Type: "network", Scheme: "internal", VPC: "vpc-0kubedag"}},
	}
}

func equalInventory(t *testing.T, got, want sandwich.Inventory) {
	t.Helper()
	if !inventoryEqual(got, want) {
		t.Fatalf("inventory\n got %+v\nwant %+v", got, want)
	}
}

func inventoryEqual(a, b sandwich.Inventory) bool {
	return a.VPC == b.VPC && slicesEqual(a.Subnets, b.Subnets) && slicesEqual(a.Firewalls, b.Firewalls) && mapsEqual(a.LoadBalancers, b.LoadBalancers)
}

func slicesEqual[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func mapsEqual[K, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestDiscoveryReadsTheLayout(t *testing.T) {
	f := newFixture(t)
	f.sim.SetPageSize(1) // every list paged
	d := f.discovery(t, f.config(), Options{})
	if _, err := d.Inventory(t.Context()); err != ErrNotYet {
		t.Fatalf("before the first refresh: %v", err)
	}
	d.refresh(t.Context())
	inv, err := d.Inventory(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	equalInventory(t, inv, wantInventory())
	if ps := d.Problems(); len(ps) != 0 {
		t.Fatalf("problems: %+v", ps)
	}
	calls := map[string]int{}
	for _, r := range f.sim.Requests() {
		calls[r.Action]++
	}
	// 2 firewalls, 9 subnets asked for (3 cluster + 2 trust... at one per page), 1 LB.
	if calls["DescribeCluster"] != 1 || calls["DescribeInstances"] != 2 || calls["DescribeSubnets"] != 5 || calls["DescribeLoadBalancers"] != 1 || calls["DescribeNetworkInterfaces"] != 0 {
		t.Fatalf("calls %v", calls)
	}
}

func TestDiscoveryFindsFirewallsByTagAndTrustENIByTag(t *testing.T) {
	f := newFixture(t)
	f.sim.Update(func(m *awssim.Model) {
		// Only the second firewall's trust ENI is tagged.
		m.Instances["i-0fw2"].ENIs[2].Tags = map[string]string{"kubedag/trust": "yes"}
	})
	cfg := f.config()
	cfg.FirewallStack = ""
	cfg.FirewallTags = map[string]string{"Name": "kubedag-*"}
	cfg.TrustInterfaceTag = "kubedag/trust=yes"
	d := f.discovery(t, cfg, Options{})
	d.refresh(t.Context())
	inv, err := d.Inventory(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Firewalls) != 1 || inv.Firewalls[0].ID != "i-0fw2" {
		t.Fatalf("firewalls %+v", inv.Firewalls)
	}
	ps := d.Problems()
	if len(ps) != 1 || ps[0].Kind != KindNoTrustInterface || ps[0].Subject != "i-0fw1" {
		t.Fatalf("problems %+v", ps)
	}
}

// TestFailedRefreshKeepsTheLastInventory covers each refresh failure a user
// must understand: the last good inventory stays, the error says what to
// fix, and the problem is logged once however often it repeats.
func TestFailedRefreshKeepsTheLastInventory(t *testing.T) {
	tests := []struct {
		name      string
		break_    func(f *fixture)
		kind      string
		inMessage string
	}{
		{"ec2:DescribeInstances denied", func(f *fixture) { f.sim.Deny("ec2:DescribeInstances", true) }, KindAccessDenied, "ec2:DescribeInstances"},
		{"eks:DescribeCluster denied", func(f *fixture) { f.sim.Deny("eks:DescribeCluster", true) }, KindAccessDenied, "eks:DescribeCluster"},
		{"elasticloadbalancing:DescribeLoadBalancers denied", func(f *fixture) { f.sim.Deny("elasticloadbalancing:DescribeLoadBalancers", true) },
			KindAccessDenied, "elasticloadbalancing:DescribeLoadBalancers"},
		{"cluster deleted", func(f *fixture) { f.sim.Update(func(m *awssim.Model) { delete(m.Clusters, "prod") }) }, KindClusterNotFound, "prod"},
		{"firewalls gone", func(f *fixture) {
			f.sim.Update(func(m *awssim.Model) {
				for _, i := range m.Instances {
					i.State = "terminated"
				}
			})
		}, KindNoFirewalls, "no running firewall"},
		{"outage", func(f *fixture) { f.sim.SetOutage(true) }, KindAPIError, "ServiceUnavailable"},
		{"throttled beyond the retries", func(f *fixture) { f.sim.Throttle("ec2:DescribeSubnets", 100) }, KindThrottled, "ec2:DescribeSubnets"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			changes := 0
			d := f.discovery(t, f.config(), Options{OnChange: func() { changes++ }})
			d.refresh(t.Context())
			good := d.LastGood()
			tt.break_(f)
			for range 3 {
				d.refresh(t.Context())
			}
			inv, err := d.Inventory(t.Context())
			if err == nil || !strings.Contains(err.Error(), tt.inMessage) {
				t.Fatalf("error %v, want one mentioning %q", err, tt.inMessage)
			}
			equalInventory(t, inv, wantInventory())
			if d.LastGood() != good {
				t.Fatal("a failed refresh moved LastGood")
			}
			ps := d.Problems()
			if len(ps) != 1 || ps[0].Kind != tt.kind {
				t.Fatalf("problems %+v, want one %s", ps, tt.kind)
			}
			if n := strings.Count(f.logs.String(), "kind="+tt.kind); n != 1 {
				t.Fatalf("problem logged %d times, want once:\n%s", n, f.logs.String())
			}
			// First success, then the failure: the engine is told both.
			if changes != 2 {
				t.Fatalf("OnChange called %d times, want 2", changes)
			}

			// Repaired: the next refresh succeeds and the problem is resolved.
			f.sim.SetOutage(false)
			f.sim.Throttle("ec2:DescribeSubnets", 0)
			for _, a := range []string{"ec2:DescribeInstances", "eks:DescribeCluster", "elasticloadbalancing:DescribeLoadBalancers"} {
				f.sim.Deny(a, false)
			}
			f.sim.Update(f.layout.Apply)
			d.refresh(t.Context())
			if _, err := d.Inventory(t.Context()); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(f.logs.String(), "problem resolved") || len(d.Problems()) != 0 {
				t.Fatalf("not resolved: %+v\n%s", d.Problems(), f.logs.String())
			}
		})
	}
}

func TestThrottlingIsRetried(t *testing.T) {
	f := newFixture(t)
	f.sim.Throttle("ec2:DescribeInstances", 2)
	f.sim.Throttle("eks:DescribeCluster", 1)
	d := f.discovery(t, f.config(), Options{})
	d.refresh(t.Context())
	if _, err := d.Inventory(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func TestSubnetAddedInAWS(t *testing.T) {
	f := newFixture(t)
	d := f.discovery(t, f.config(), Options{})
	d.refresh(t.Context())
	f.sim.Update(func(m *awssim.Model) {
		f.layout.AddClusterSubnet(m, "subnet-0eks4", "10.0.4.0/24", "eu-west-1a")
		m.Subnets["subnet-0eks4"].IPv6CIDRs = []string{"2a05:d018::/64"}
	})
	d.refresh(t.Context())
	inv, err := d.Inventory(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := wantInventory()
	want.Subnets = append(want.Subnets,
		sandwich.Subnet{ID: "subnet-0eks4", CIDR: netip.MustParsePrefix("10.0.4.0/24"), Zone: "eu-west-1a"},
		sandwich.Subnet{ID: "subnet-0eks4", CIDR: netip.MustParsePrefix("2a05:d018::/64"), Zone: "eu-west-1a"})
	equalInventory(t, inv, want)
}

func TestCredentials(t *testing.T) {
	const role = "arn:aws:iam::123456789012:role/kubedag-sandwich"
	t.Run("default chain from the environment", func(t *testing.T) {
		f := newFixture(t)
		isolateEnv(t)
		c := f.sim.Credentials()
		t.Setenv("AWS_ACCESS_KEY_ID", c.AccessKeyID)
		t.Setenv("AWS_SECRET_ACCESS_KEY", c.SecretAccessKey)
		d, err := New(t.Context(), f.config(), Options{Logger: slog.New(slog.NewTextHandler(f.logs, nil))})
		if err != nil {
			t.Fatal(err)
		}
		d.refresh(t.Context())
		if _, err := d.Inventory(t.Context()); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("IRSA: web identity token and role from the environment", func(t *testing.T) {
		f := newFixture(t)
		isolateEnv(t)
		f.sim.Update(func(m *awssim.Model) { m.Roles[role] = true })
		token := filepath.Join(t.TempDir(), "token")
		if err := os.WriteFile(token, []byte("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJrdWJlZGFnIn0.c2ln"), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("AWS_ROLE_ARN", role)
		t.Setenv("AWS_WEB_IDENTITY_TOKEN_FILE", token)
		// The chain's own STS client is not the one Endpoint configures; the
		// SDK's per-service endpoint variable reaches it (as for a VPC
		// endpoint in production).
		t.Setenv("AWS_ENDPOINT_URL_STS", f.url)
		d, err := New(t.Context(), f.config(), Options{Logger: slog.New(slog.NewTextHandler(f.logs, nil))})
		if err != nil {
			t.Fatal(err)
		}
		d.refresh(t.Context())
		if _, err := d.Inventory(t.Context()); err != nil {
			t.Fatal(err)
		}
		if log := f.sim.Requests(); log[0].Action != "AssumeRoleWithWebIdentity" || !strings.HasPrefix(log[1].AccessKey, "ASIA") {
			t.Fatalf("calls %+v", log)
		}
	})
	t.Run("EKS Pod Identity: the agent endpoint from the environment", func(t *testing.T) {
		f := newFixture(t)
		isolateEnv(t)
		f.sim.PodIdentity("pod-token", role)
		token := filepath.Join(t.TempDir(), "token")
		if err := os.WriteFile(token, []byte("pod-token"), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", f.url+awssim.PodIdentityPath)
		t.Setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", token)
		d, err := New(t.Context(), f.config(), Options{Logger: slog.New(slog.NewTextHandler(f.logs, nil))})
		if err != nil {
			t.Fatal(err)
		}
		d.refresh(t.Context())
		if _, err := d.Inventory(t.Context()); err != nil {
			t.Fatal(err)
		}
		if log := f.sim.Requests(); log[0].Action != "AssumeRoleForPodIdentity" || !strings.HasPrefix(log[1].AccessKey, "ASIA") {
			t.Fatalf("calls %+v", log)
		}
	})
	t.Run("no credentials", func(t *testing.T) {
		f := newFixture(t)
		isolateEnv(t)
		d, err := New(t.Context(), f.config(), Options{Logger: slog.New(slog.NewTextHandler(f.logs, nil))})
		if err != nil {
			t.Fatal(err)
		}
		d.refresh(t.Context())
		_, err = d.Inventory(t.Context())
		if err == nil || !strings.Contains(err.Error(), "no AWS credentials") || d.Problems()[0].Kind != KindNoCredentials {
			t.Fatalf("%v %+v", err, d.Problems())
		}
		if len(f.sim.Requests()) != 0 {
			t.Fatal("called AWS without credentials")
		}
	})
	t.Run("role assumed", func(t *testing.T) {
		f := newFixture(t)
		f.sim.Update(func(m *awssim.Model) { m.Roles[role] = true })
		cfg := f.config()
		cfg.RoleARN = role
		d := f.discovery(t, cfg, Options{})
		d.refresh(t.Context())
		if _, err := d.Inventory(t.Context()); err != nil {
			t.Fatal(err)
		}
		for _, r := range f.sim.Requests() {
			if r.Action != "AssumeRole" && !strings.HasPrefix(r.AccessKey, "ASIA") {
				t.Fatalf("%s signed with %s, not the role's session", r.Action, r.AccessKey)
			}
		}
	})
	t.Run("role not assumable", func(t *testing.T) {
		f := newFixture(t)
		cfg := f.config()
		cfg.RoleARN = role
		d := f.discovery(t, cfg, Options{})
		d.refresh(t.Context())
		ps := d.Problems()
		if len(ps) != 1 || ps[0].Kind != KindAccessDenied || ps[0].Subject != "sts:AssumeRole" {
			t.Fatalf("%+v", ps)
		}
	})
}

// isolateEnv hides the machine's AWS configuration from the default chain.
func isolateEnv(t *testing.T) {
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ROLE_ARN",
		"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
		"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STS"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

// TestRunRefreshesOnDemand checks the loop: Refresh never blocks, a burst of
// Refresh calls is coalesced, and OnChange follows a change.
func TestRunRefreshesOnDemand(t *testing.T) {
	f := newFixture(t)
	cfg := f.config()
	cfg.RefreshInterval = time.Hour
	cfg.MinRefreshInterval = 50 * time.Millisecond
	var changes atomic.Int32
	changed := make(chan struct{}, 10)
	d := f.discovery(t, cfg, Options{OnChange: func() { changes.Add(1); changed <- struct{}{} }})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- d.Run(ctx) }()
	<-changed // first read

	f.sim.Update(func(m *awssim.Model) { f.layout.AddClusterSubnet(m, "subnet-0eks4", "10.0.4.0/24", "eu-west-1a") })
	for range 100 {
		d.Refresh()
	}
	select {
	case <-changed:
	case <-time.After(10 * time.Second):
		t.Fatal("no refresh after Refresh")
	}
	inv, _ := d.Inventory(t.Context())
	if len(inv.Subnets) != 4 {
		t.Fatalf("subnets %+v", inv.Subnets)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range f.sim.Requests() {
		if r.Action == "DescribeCluster" {
			n++
		}
	}
	// The burst costs one read at once and, if a Refresh raced that read,
	// one more MinRefreshInterval later: never one per call.
	if n < 2 || n > 3 || changes.Load() != 2 {
		t.Fatalf("%d reads, %d changes; want 2-3 reads for 100 Refresh calls and 2 changes", n, changes.Load())
	}
}
