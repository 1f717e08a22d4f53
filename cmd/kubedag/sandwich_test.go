package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kubedag/kubedag/aggregator"
	"github.com/kubedag/kubedag/aggregator/sandwich"
)

func TestSandwichStatusCmd(t *testing.T) {
	at := time.Date(2026, 11, 30, 22, 0, 0, 0, time.UTC)
	st := sandwich.Status{
		Cluster: "prod",
		Services: []sandwich.ServiceStatus{
			{Namespace: "shop", Name: "web", Port: 82, TargetPort: 80, Hostname: "internal-web.elb.amazonaws.com"},
			{Namespace: "shop", Name: "bad", Problems: []string{"BadPort: label panw-tg-port=\"http\" is not a port (1-65535)"}},
		},
		Targets: []sandwich.TargetStatus{{Name: "pano", Managed: 4, LastSync: at,
			Entries:    map[string][]string{"shop/web": {"nat-rule kd.prod.shop.web-82-inbound"}, "": {"tag kubedag.prod"}},
			LastCommit: &sandwich.JobStatus{ID: 7, Result: "OK", At: at},
			LastPush: &sandwich.JobStatus{ID: 8, Result: "FAIL", At: at, Details: []string{"push failed"},
				Devices: []sandwich.DeviceStatus{{Name: "fw1", Serial: "0071", Result: "FAIL", Details: []string{"interface missing"}}}}}},
		Inventory: &sandwich.InventoryStatus{Source: "aws", ReadAt: at, LoadBalancers: 5,
			Subnets:   []string{"subnet-a 10.0.1.0/24 us-east-1a"},
			Firewalls: []string{"i-1 us-east-1a 10.0.120.0/24 via 10.0.120.1"},
			Error:     "aws discovery of cluster prod: access denied to ec2:DescribeInstances",
			Problems:  []string{"AccessDenied: access denied to ec2:DescribeInstances"}},
	}
	mux := http.NewServeMux()
	mux.Handle(aggregator.SandwichStatusPath, sandwich.StatusHandler(func() sandwich.Status { return st }))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	var out bytes.Buffer
	cmd := newRootCmd()
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"sandwich", "status", "--url", srv.URL})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Cluster prod",
		"shop/web  82    80            internal-web.elb.amazonaws.com  ok",
		"shop/bad  -     -             -                               BadPort:",
		"Target pano: 4 entries",
		"last commit: job 7 OK",
		"last push: job 8 FAIL at 2026-11-30T22:00:00Z: push failed",
		"device fw1 (0071): FAIL interface missing",
		"nat-rule kd.prod.shop.web-82-inbound",
		"(cluster):\n    tag kubedag.prod",
		"Inventory (aws, read 2026-11-30T22:00:00Z): 1 subnets, 1 firewalls, 5 load balancers",
		"  subnet    subnet-a 10.0.1.0/24 us-east-1a",
		"  firewall  i-1 us-east-1a 10.0.120.0/24 via 10.0.120.1",
		"  last read failed (the inventory above stays in use): aws discovery of cluster prod: access denied to ec2:DescribeInstances",
		"  problem   AccessDenied: access denied to ec2:DescribeInstances",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}

	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "not the leader", http.StatusServiceUnavailable)
	}))
	defer down.Close()
	cmd = newRootCmd()
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"sandwich", "status", "--url", down.URL})
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "not the leader") {
		t.Errorf("error %v, want the server's answer", err)
	}
	cmd = newRootCmd()
	cmd.SetArgs([]string{"sandwich", "status", "--url", "ftp://x"})
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "--url") {
		t.Errorf("error %v, want one naming --url", err)
	}
}
