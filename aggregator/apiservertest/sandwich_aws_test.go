package apiservertest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubedag/kubedag/aggregator"
	"github.com/kubedag/kubedag/aggregator/config"
	"github.com/kubedag/kubedag/aggregator/push"
	"github.com/kubedag/kubedag/aggregator/sandwich"
	"github.com/kubedag/kubedag/aggregator/sandwich/aws/awssim"
	"github.com/kubedag/kubedag/userid"
)

// TestSandwichAWS: a config with sandwich.aws makes the aggregator build the
// sandwich from AWS discovery (the local AWS endpoint, through the SDK):
// routes via the discovered firewalls' trust gateways, NAT for the
// discovered subnets, and the labelled Service's ILB checked against AWS.
func TestSandwichAWS(t *testing.T) {
	e := newEnv(t, "sandwich-aws", 1)
	aws := awssim.New("us-east-1")
	awsSrv := httptest.NewServer(aws)
	t.Cleanup(awsSrv.Close)
	layout := awssim.DefaultLayout("us-east-1", "eks-prod")
	aws.Update(layout.Apply)
	const host = "k8s-web-0123456789.elb.us-east-1.amazonaws.com"
	aws.Update(func(m *awssim.Model) { layout.AddNLB(m, "k8s-web", host, true) })

	cfg := e.config("fw", fmt.Sprintf(`sandwich:
  enabled: true
  targets: [fw]
  quiet: 200ms
  aws:
    region: us-east-1
    clusterName: eks-prod
    firewallStack: %s
    endpoint: %s
`, layout.Stack, awsSrv.URL))
	creds := aws.Credentials()
	r := e.startAggregator("agg", cfg, func(o *aggregator.Options) {
		o.NewFirewall = func(_ config.Target, c userid.Config) (push.Firewall, error) {
			c.RootCAs = e.sim.CAPool
			return userid.New(c)
		}
		o.SandwichAWSCredentials = credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, "")
	})
	target := sandwich.Target{Name: "fw", Admin: simUser}
	if err := target.Validate(); err != nil {
		t.Fatal(err)
	}
	names := func(k sandwich.Kind) []string {
		// The user's current key each time: the aggregator's own keygen
		// ends the earlier one.
		key, err := e.sim.Sim.APIKeyFor(simUser)
		if err != nil {
			t.Fatal(err)
		}
		fw, err := userid.New(userid.Config{URL: e.sim.URL, APIKey: key, RootCAs: e.sim.CAPool})
		if err != nil {
			t.Fatal(err)
		}
		res, err := fw.Show(t.Context(), target.Container(k))
		if err != nil && !userid.IsNotFound(err) {
			return []string{"read failed, retried: " + err.Error()} // e.g. a keygen in between
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

	svcs := testCluster.Client.CoreV1().Services(e.ns)
	svc, err := svcs.Create(t.Context(), &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Labels: map[string]string{"panw-tg-port": "82"},
			Annotations: map[string]string{"service.beta.kubernetes.io/aws-load-balancer-type": "nlb",
				"service.beta.kubernetes.io/aws-load-balancer-internal": "true"}},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{{Port: 80}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{Hostname: host}}
	if _, err := svcs.UpdateStatus(t.Context(), svc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	n := sandwich.Names{Cluster: clusterName}
	var wantRules, wantRoutes []string
	wantRules = append(wantRules, n.Inbound(e.ns, "web", 82))
	for i := range layout.Zones {
		cidr := netip.MustParsePrefix(fmt.Sprintf("10.0.%d.0/24", i+1))
		wantRules = append(wantRules, n.Outbound(cidr))
		for _, z := range layout.Zones[:layout.Firewalls] {
			wantRoutes = append(wantRoutes, n.Route(cidr, z))
		}
	}
	slices.Sort(wantRules)
	slices.Sort(wantRoutes)
	eventually(t, 30*time.Second, "the sandwich from AWS discovery", func() (bool, string) {
		rules, routes := names(sandwich.KindNATRule), names(sandwich.KindRoute)
		return slices.Equal(rules, wantRules) && slices.Equal(routes, wantRoutes), fmt.Sprintf("rules %v routes %v", rules, routes)
	})
	if log := aws.Requests(); len(log) == 0 || log[0].AccessKey != creds.AccessKeyID {
		t.Fatalf("AWS calls %+v", log)
	}

	// The status page shows the discovered inventory; an IAM denial shows
	// there as a problem naming the action, the inventory staying in use.
	status := func() sandwich.Status {
		t.Helper()
		resp, err := http.Get("http://" + r.health + aggregator.SandwichStatusPath)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var st sandwich.Status
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	inv := status().Inventory
	if inv == nil || inv.Source != "aws" || len(inv.Subnets) != 3 || len(inv.Firewalls) != 2 || inv.LoadBalancers != 1 || inv.ReadAt.IsZero() || inv.Error != "" {
		t.Fatalf("inventory status %+v", inv)
	}
	aws.Deny("ec2:DescribeInstances", true)
	// A labelled Service's change asks discovery for a re-read.
	svc, err = svcs.Get(t.Context(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc.Annotations["touched"] = "1"
	if _, err := svcs.Update(t.Context(), svc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the denial on the status page", func() (bool, string) {
		inv := status().Inventory
		return inv != nil && strings.Contains(inv.Error, "ec2:DescribeInstances") && len(inv.Problems) == 1 && len(inv.Subnets) == 3, fmt.Sprintf("%+v", inv)
	})
	if got := names(sandwich.KindRoute); !slices.Equal(got, wantRoutes) {
		t.Fatalf("routes changed while AWS denied a call: %v", got)
	}
}
