package main

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	sandwichaws "github.com/kubedag/kubedag/aggregator/sandwich/aws"
	"github.com/kubedag/kubedag/internal/syncbuf"
)

// TestAWSSimServesDiscovery runs kubedag aws-sim as a user would and points
// the aggregator's discovery at it with the config and the credentials the
// command prints: the inventory must be the layout the flags asked for.
func TestAWSSimServesDiscovery(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cmd := newRootCmd()
	out, errOut := &syncbuf.Buffer{}, &syncbuf.Buffer{}
	cmd.SetOut(out)
	cmd.SetErr(errOut)
	cmd.SetArgs([]string{"aws-sim", "--listen", "127.0.0.1:0", "--region", "eu-west-1", "--cluster", "shop", "--stack", "edge",
		"--zones", "2", "--firewalls", "1", "--nlb", "web=web-0123.elb.eu-west-1.amazonaws.com", "--verbose"})
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("aws-sim returned %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("aws-sim did not stop after context cancel")
		}
	}()

	cfgRE := regexp.MustCompile(`aws: \{region: (\S+), clusterName: (\S+), firewallStack: (\S+), endpoint: "(http://127\.0\.0\.1:\d+)"\}`)
	keyRE := regexp.MustCompile(`export AWS_ACCESS_KEY_ID=(\S+) AWS_SECRET_ACCESS_KEY=(\S+) AWS_REGION=(\S+) AWS_DEFAULT_REGION=\S+`)
	var cfg, keys []string
	for deadline := time.Now().Add(30 * time.Second); cfg == nil || keys == nil; {
		cfg, keys = cfgRE.FindStringSubmatch(out.String()), keyRE.FindStringSubmatch(out.String())
		if time.Now().After(deadline) {
			t.Fatalf("no config and credentials printed:\n%s\nstderr: %s", out.String(), errOut.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if cfg[1] != "eu-west-1" || cfg[2] != "shop" || cfg[3] != "edge" || keys[3] != "eu-west-1" {
		t.Fatalf("printed config %q, credentials region %q", cfg[0], keys[3])
	}

	d, err := sandwichaws.New(ctx, sandwichaws.Config{Region: cfg[1], ClusterName: cfg[2], FirewallStack: cfg[3], Endpoint: cfg[4]},
		sandwichaws.Options{Credentials: credentials.NewStaticCredentialsProvider(keys[1], keys[2], "")})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stopRun := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- d.Run(runCtx) }()
	defer func() { stopRun(); <-ran }()
	for deadline := time.Now().Add(30 * time.Second); ; {
		inv, err := d.Inventory(ctx)
		if err == nil {
			if len(inv.Subnets) != 2 || len(inv.Firewalls) != 1 || inv.Firewalls[0].Zone != "eu-west-1a" {
				t.Fatalf("inventory: subnets %+v, firewalls %+v; want 2 subnets and 1 firewall in eu-west-1a", inv.Subnets, inv.Firewalls)
			}
			lb, ok := inv.LoadBalancers["web-0123.elb.eu-west-1.amazonaws.com"]
			if !ok || lb.Type != "network" || lb.Scheme != "internal" || lb.VPC != inv.VPC {
				t.Fatalf("load balancer web: %+v (found %t), want an internal NLB in %s", lb, ok, inv.VPC)
			}
			if p := d.Problems(); len(p) != 0 {
				t.Fatalf("problems: %+v", p)
			}
			break
		}
		if !errors.Is(err, sandwichaws.ErrNotYet) || time.Now().After(deadline) {
			t.Fatalf("inventory: %v; problems %+v", err, d.Problems())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// --verbose logs requests, never the signature or the key.
	if logs := errOut.String(); !strings.Contains(logs, "action=DescribeInstances") || !strings.Contains(logs, "path=/clusters/shop") {
		t.Errorf("no request logged with --verbose: %s", logs)
	} else if strings.Contains(logs, keys[2]) || strings.Contains(logs, "Signature=") {
		t.Errorf("request log shows the secret or a signature: %s", logs)
	}
}

// TestAWSSimFlags: bad flags are refused before anything listens, naming
// the flag at fault.
func TestAWSSimFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string // in the error
	}{
		{[]string{"--region", "moon-1"}, "--region"},
		{[]string{"--zones", "0"}, "--zones"},
		{[]string{"--zones", "2", "--firewalls", "3"}, "--firewalls: 3 is not 0 to --zones (2)"},
		{[]string{"--nlb", "web"}, "want name=dns-name"},
		{[]string{"--nlb", "-web=web.example"}, "load balancer name"},
		{[]string{"--nlb", "web=Web.Example"}, "lower-case DNS name"},
		{[]string{"--nlb", "web=a.example,web=b.example"}, "given twice"},
		{[]string{"--cluster", ""}, "--cluster: required"},
		{[]string{"--listen", "nope"}, "--listen"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			cmd := newRootCmd()
			cmd.SetOut(&syncbuf.Buffer{})
			cmd.SetErr(&syncbuf.Buffer{})
			cmd.SetArgs(append([]string{"aws-sim", "--listen", "127.0.0.1:0"}, tt.args...))
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			err := cmd.ExecuteContext(ctx)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("aws-sim %v: %v, want an error with %q", tt.args, err, tt.want)
			}
		})
	}
}
