package podwatch

import (
	"log/slog"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubedag/kubedag/internal/syncbuf"
	"github.com/kubedag/kubedag/tags"
	"github.com/kubedag/kubedag/tags/podidentity"
)

// TestMultus: with Multus, a pod's secondary-interface IPs are claimed
// with its identity plus the network; a malformed annotation is logged and
// claims only the pod's own IPs; without Multus the annotation is ignored.
func TestMultus(t *testing.T) {
	withNet := func(v string) podOpt {
		return func(p *corev1.Pod) { p.Annotations = map[string]string{podidentity.NetworkStatusAnnotation: v} }
	}
	good := `[{"name":"kindnet","ips":["10.1.0.5"],"default":true},{"name":"shop/macvlan","ips":["192.168.1.5","10.1.0.5"]}]`
	web := pod("shop", "web", "u1", node, []string{"10.1.0.5"}, withNet(good))
	own := ident(web, nil, nil)
	secondary := own
	secondary.Network = "shop/macvlan"

	t.Run("off", func(t *testing.T) {
		e := startEnv(t, Config{}, web.DeepCopy())
		e.want("only the pod's own IP", map[string]tags.Identity{"10.1.0.5": own})
	})

	var logs syncbuf.Buffer
	e := startEnv(t, Config{Multus: true, Logger: slog.New(slog.NewTextHandler(&logs, nil))}, web.DeepCopy())
	e.want("own and secondary IPs", map[string]tags.Identity{"10.1.0.5": own, "192.168.1.5": secondary})

	bad := web.DeepCopy()
	bad.Annotations[podidentity.NetworkStatusAnnotation] = `[{"name":"shop/macvlan","ips":["192.168.1.300"]}]`
	e.updatePod(bad)
	e.want("malformed: own IP only", map[string]tags.Identity{"10.1.0.5": own})
	waitFor(t, "malformed annotation logged", func() string {
		if !strings.Contains(logs.String(), "secondary interfaces not claimed") || !strings.Contains(logs.String(), "192.168.1.300") {
			return logs.String()
		}
		return ""
	})

	fixed := web.DeepCopy()
	fixed.Annotations[podidentity.NetworkStatusAnnotation] = `[{"name":"shop/sriov","ips":["192.168.2.5"]}]`
	e.updatePod(fixed)
	sriov := own
	sriov.Network = "shop/sriov"
	e.want("another network", map[string]tags.Identity{"10.1.0.5": own, "192.168.2.5": sriov})
	e.deletePod(fixed)
	e.want("pod gone", map[string]tags.Identity{})
	if n := len(e.w.rec.malformed); n != 0 {
		t.Errorf("%d malformed entries kept after the pod is gone", n)
	}
}
