package demo

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/kubedag/kubedag/aggregator/sandwich"
	sandwichaws "github.com/kubedag/kubedag/aggregator/sandwich/aws"
	"github.com/kubedag/kubedag/aggregator/sandwich/aws/awssim"
	"github.com/kubedag/kubedag/userid"
	"github.com/kubedag/kubedag/userid/panossim"
)

// TestShown: the demo prints what the engine wrote to the emulator.
func TestShown(t *testing.T) {
	srv, err := panossim.Start(panossim.Config{}, true, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	key, _ := srv.Sim.APIKeyFor("admin")
	fw, err := userid.New(userid.Config{URL: srv.URL, APIKey: key, RootCAs: srv.CAPool})
	if err != nil {
		t.Fatal(err)
	}
	tg := sandwich.Target{Name: targetName, Admin: "admin"}
	if err := tg.Validate(); err != nil {
		t.Fatal(err)
	}
	// The inventory as the aggregator discovers it from the demo's AWS.
	aws := awssim.New(awsRegion)
	aws.Update(demoAWS)
	awsSrv := httptest.NewServer(aws)
	defer awsSrv.Close()
	cs := sandwichConfig(awsSrv.URL)
	read := make(chan struct{}, 1)
	disc, err := sandwichaws.New(t.Context(), cs.AWS.Discovery(), sandwichaws.Options{
		Credentials: credentials.NewStaticCredentialsProvider(awssim.AccessKeyID, awssim.SecretAccessKey, ""),
		OnChange: func() {
			select {
			case read <- struct{}{}:
			default:
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- disc.Run(ctx) }()
	defer func() { cancel(); <-done }()
	select {
	case <-read:
	case <-time.After(10 * time.Second):
		t.Fatal("no inventory read")
	}
	inv, err := disc.Inventory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := sandwich.Build(clusterName, inv,
		[]sandwich.Service{{Namespace: sandwichNS, Name: sandwichService, Port: sandwichPort, TargetPort: 443, Hostname: sandwichILB}}, tg)
	for _, e := range d.Entries {
		if err := fw.Edit(t.Context(), tg.XPath(e.Kind, e.Name), e.Element); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := fw.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	rules, err := shown[natRule](t.Context(), fw, tg.Container(sandwich.KindNATRule))
	if err != nil || len(rules) != 3 {
		t.Fatalf("rules %v %v", rules, err)
	}
	routes, err := shown[route](t.Context(), fw, tg.Container(sandwich.KindRoute))
	if err != nil || len(routes) != 4 {
		t.Fatalf("routes %v %v", routes, err)
	}
	want := "kd.demo.edge.storefront-8443-inbound: untrust -> untrust, source any, service kd.demo.tcp8443, source NAT to ethernet1/2's address, destination NAT to kd.demo.edge.storefront.ilb port 443"
	if got := rules[2].String(); got != want {
		t.Errorf("inbound rule\n got %s\nwant %s", got, want)
	}
	if got, want := routes[0].String(), "kd.demo.10.0.0.0_19-us-east-1a: 10.0.0.0/19 via 10.0.128.1 on ethernet1/2, metric 10 (path-monitored)"; got != want {
		t.Errorf("route\n got %s\nwant %s", got, want)
	}
}
