package apiservertest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubedag/kubedag/aggregator"
	"github.com/kubedag/kubedag/aggregator/config"
	"github.com/kubedag/kubedag/aggregator/push"
	"github.com/kubedag/kubedag/aggregator/sandwich"
	"github.com/kubedag/kubedag/userid"
	"github.com/kubedag/kubedag/userid/panossim"
)

// The sandwich end to end: labelled Services on the real kube-apiserver,
// the aggregator programming the emulated firewall, Events on the Services
// and the status page on the health port.
func TestSandwich(t *testing.T) {
	e := newEnv(t, "sandwich", 1)
	// A second user reads the firewall: a key minted for the aggregator's
	// user would end the aggregator's session.
	e.sim.Close()
	var err error
	if e.sim, err = panossim.Start(panossim.Config{Users: map[string]string{simUser: e.password, "reader": "reader-pw"}}, true, "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	cfg := e.config("fw", `sandwich:
  enabled: true
  targets: [fw]
  quiet: 200ms
  inventory:
    subnets: [{id: subnet-a, cidr: 10.0.0.0/19, zone: us-east-1a}]
    firewalls: [{id: fw-a, zone: us-east-1a, trustSubnet: 10.0.128.0/24}]
`)
	r := e.startAggregator("agg", cfg, func(o *aggregator.Options) {
		// The sandwich needs the full client (config calls), not the
		// recording wrapper of User-ID updates.
		o.NewFirewall = func(_ config.Target, c userid.Config) (push.Firewall, error) {
			c.RootCAs = e.sim.CAPool
			return userid.New(c)
		}
	})
	key, err := e.sim.Sim.APIKeyFor("reader")
	if err != nil {
		t.Fatal(err)
	}
	fw, err := userid.New(userid.Config{URL: e.sim.URL, APIKey: key, RootCAs: e.sim.CAPool})
	if err != nil {
		t.Fatal(err)
	}
	target := sandwich.Target{Name: "fw", Admin: simUser}
	if err := target.Validate(); err != nil {
		t.Fatal(err)
	}
	rules := func() []string {
		res, err := fw.Show(t.Context(), target.Container(sandwich.KindNATRule))
		if err != nil && !userid.IsNotFound(err) {
			t.Fatal(err)
		}
		held, err := sandwich.ParseHeld(res)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, h := range held {
			names = append(names, h.Name)
		}
		return names
	}
	inbound := "kd." + clusterName + "." + e.ns + ".web-82-inbound"

	ctx := t.Context()
	svcs := testCluster.Client.CoreV1().Services(e.ns)
	newLB := func(name, port string) *corev1.Service {
		t.Helper()
		svc, err := svcs.Create(ctx, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"panw-tg-port": port},
				Annotations: map[string]string{"service.beta.kubernetes.io/aws-load-balancer-type": "nlb",
					"service.beta.kubernetes.io/aws-load-balancer-internal": "true"}},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Selector: map[string]string{"app": name},
				Ports: []corev1.ServicePort{{Port: 80}}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return svc
	}
	setHostname := func(svc *corev1.Service, host string) {
		t.Helper()
		svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{Hostname: host}}
		if _, err := svcs.UpdateStatus(ctx, svc, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	events := func(name string) []string {
		list, err := testCluster.Client.CoreV1().Events(e.ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + name})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, ev := range list.Items {
			out = append(out, ev.Type+" "+ev.Reason+": "+ev.Message)
		}
		return out
	}
	hasEvent := func(name, prefix string) func() (bool, string) {
		return func() (bool, string) {
			evs := events(name)
			return slices.ContainsFunc(evs, func(s string) bool { return strings.HasPrefix(s, prefix) }), fmt.Sprint(evs)
		}
	}

	// Labelled, but no ILB yet: an Event says it waits.
	web := newLB("web", "82")
	eventually(t, 30*time.Second, "NoILBHostname event", hasEvent("web", "Warning NoILBHostname"))
	// The ILB appears: programmed, committed, a Normal Event.
	setHostname(web, "internal-web-1234.elb.us-east-1.amazonaws.com")
	eventually(t, 30*time.Second, "inbound rule on the firewall", func() (bool, string) {
		r := rules()
		return slices.Contains(r, inbound), fmt.Sprint(r)
	})
	eventually(t, 30*time.Second, "Programmed event", hasEvent("web", "Normal Programmed"))

	// Bad input: not a port; a second Service on the same port.
	newLB("notaport", "http")
	dup := newLB("dup", "82")
	setHostname(dup, "internal-dup.elb.us-east-1.amazonaws.com")
	eventually(t, 30*time.Second, "BadPort event", hasEvent("notaport", "Warning BadPort"))
	eventually(t, 30*time.Second, "DuplicatePort event", hasEvent("dup", "Warning DuplicatePort"))

	// The status page lists the Services and the target's entries.
	eventually(t, 30*time.Second, "status page", func() (bool, string) {
		resp, err := http.Get("http://" + r.health + aggregator.SandwichStatusPath)
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		var st sandwich.Status
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
			return false, err.Error()
		}
		if len(st.Targets) != 1 || st.Targets[0].LastCommit == nil || st.Targets[0].LastCommit.Result != "OK" {
			return false, fmt.Sprintf("%+v", st)
		}
		entries := st.Targets[0].Entries[e.ns+"/web"]
		var web *sandwich.ServiceStatus
		for i := range st.Services {
			if st.Services[i].Name == "web" {
				web = &st.Services[i]
			}
		}
		return web != nil && web.Port == 82 && web.Hostname != "" && slices.Contains(entries, "nat-rule "+inbound), fmt.Sprintf("%+v", st)
	})

	// Metrics: entries kept (tag, outbound rule, route, web's three), commits, Service-to-committed latency,
	// problems by reason.
	eventually(t, 30*time.Second, "sandwich metrics", func() (bool, string) {
		_, m := get(t, r.health, "/metrics")
		entries, ok1 := metricValue(m, "kubedag_sandwich_entries", `target="fw"`)
		commits, ok2 := metricValue(m, "kubedag_sandwich_commits_total", `result="ok"`)
		bad, ok3 := metricValue(m, "kubedag_sandwich_problems_total", `reason="BadPort"`)
		return ok1 && ok2 && ok3 && entries == 6 && commits >= 1 && bad >= 1 &&
			hasPositive(m, "kubedag_sandwich_commit_latency_seconds_count"), m
	})

	// Deleting the Service removes its rule; dup (the next in line) gets
	// the port.
	if err := svcs.Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "rule follows the port to dup", func() (bool, string) {
		r := rules()
		return !slices.Contains(r, inbound) && slices.Contains(r, "kd."+clusterName+"."+e.ns+".dup-82-inbound"), fmt.Sprint(r)
	})
	if strings.Contains(e.logs.String(), e.password) {
		t.Error("a log line holds the PAN-OS password")
	}
}
