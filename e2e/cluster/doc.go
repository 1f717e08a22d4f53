// Package cluster runs a real Kubernetes control plane for tests and the
// demo: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and,
// optionally, kwok playing the kubelet for fake nodes. Everything
// Kubernetes-facing in kubedag (informers with field selectors,
// EndpointSlices, TokenReview, Leases, the Helm chart) is proven against it.
//
// It imports no testing package, so the kubedag demo command can use it too.
//
// # Binaries
//
// `make tools` (e2e/tools/tools.sh) builds the pinned binaries from the Go
// module proxy into a versioned cache outside the work tree. ToolsDir finds
// that directory ($KUBEDAG_TOOLS_DIR, which make exports, or tools.sh
// --print-dir from the module root); ToolPath gives one binary (kubectl and
// helm too). When a binary is missing, Start and ToolPath return an error
// saying to run `make tools`: tests must then fail, never skip.
//
// # What Start gives you
//
//   - One temp dir holding a generated CA, the apiserver's serving
//     certificate, client certificates for the admin and each component, the
//     ServiceAccount signing key, kubeconfigs and etcd's data.
//   - Free loopback ports; every component runs as a child process in its own
//     process group with Pdeathsig SIGKILL, logging to LogDir()/<name>.log.
//     If a component dies during Start, the error holds its log's tail.
//   - Cluster.Config and Cluster.Client: an administrator (system:masters),
//     QPS 1000. Kubeconfig(): the same identity as a file, for kubectl/helm.
//   - NodeConfig(node) / NodeKubeconfig(node): a kubelet identity
//     (CN=system:node:<node>, O=system:nodes) under the Node authorizer and
//     NodeRestriction: it may list and watch pods only with the field
//     selector spec.nodeName=<node>, as kubedag's agent does.
//     UserConfig(user, groups...) mints any other certificate identity.
//   - ServiceAccount tokens: the apiserver accepts the audiences
//     ServiceAccountIssuer (the default) and KubedagAudience ("kubedag"), so
//     a TokenRequest for "kubedag" validates through TokenReview with
//     Audiences ["kubedag"] and fails for any other audience.
//   - The controllers that matter: ServiceAccounts and their tokens,
//     namespace deletion, garbage collection, Endpoints and EndpointSlices,
//     Deployments, ReplicaSets, DaemonSets, StatefulSets, Jobs, pod GC. Not
//     run: node lifecycle (so fake nodes are never tainted or evicted; the
//     TaintNodesByCondition admission plugin is off for the same reason),
//     node IPAM, volumes, certificates. Leader election is off.
//
// # kwok
//
// With Options.Kwok, kwok manages nodes annotated kwok.x-k8s.io/node=fake
// using the stages in kwok-stages.yaml (copied from kwok v0.8.0): such a node
// goes Ready within a second or two; a pod bound to it goes Running and Ready
// with a pod IP from the node's spec.podCIDR (kwok's pool for that CIDR; an
// IP is reused once its pod is deleted) and hostIP = the node's InternalIP;
// a deleted pod disappears at once (kwok plays the kubelet's part); a Job's
// pod goes Succeeded. kwok does not run containers, probes or kube-proxy:
// Service IPs do not route anywhere.
//
// CreateNodes makes such nodes, each with its own podCIDR (a subnet of
// Options.PodCIDR) and InternalIP (from Options.NodeAddressCIDR); nodes you
// create yourself without a podCIDR draw pod IPs from the first subnet.
// With kwok, CreateNodes also runs and deletes one warm-up pod in
// kube-system per node before it returns (kwok v0.8.0 can hand the same IP
// to two pods that start together on a node whose IP pool is not made yet).
// CreatePods makes many pods quickly (bound round-robin to given nodes, or
// left to the scheduler); WaitNodesReady and WaitPodsRunning poll until kwok
// has done its part. CreateNamespace/DeleteNamespace give each test its own
// namespace on a shared cluster.
//
// # Usage in a test package
//
// Start one control plane per test package in TestMain and share it: Start
// takes about 3 s on this 2-core machine (etcd and the apiserver ready in
// ~2.5 s, then the other components in parallel). kwok brings about 175
// pods/s to Running (BenchmarkPodsRunning, 1000 pods on 10 nodes). Give each test its own namespace and
// its own node-name prefix, because nodes are cluster-wide.
//
//	var testCluster *cluster.Cluster
//
//	func TestMain(m *testing.M) { os.Exit(run(m)) }
//
//	func run(m *testing.M) int {
//		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
//		defer cancel()
//		c, err := cluster.Start(ctx, cluster.Options{Kwok: true})
//		if err != nil {
//			fmt.Fprintln(os.Stderr, "FAIL:", err) // fail, don't skip: says to run `make tools`
//			return 1
//		}
//		defer c.Stop()
//		testCluster = c
//		code := m.Run()
//		if err := c.Healthy(); err != nil { // a component died mid-run: say which, and why
//			fmt.Fprintln(os.Stderr, "FAIL:", err)
//			code = 1
//		}
//		return code
//	}
//
//	func TestSomething(t *testing.T) {
//		ctx := t.Context()
//		ns, err := testCluster.CreateNamespace(ctx, "something")
//		if err != nil {
//			t.Fatal(err)
//		}
//		defer testCluster.DeleteNamespace(context.Background(), ns)
//		nodes, err := testCluster.CreateNodes(ctx, "something-node", 2)
//		if err != nil {
//			t.Fatal(err)
//		}
//		if err := testCluster.WaitNodesReady(ctx, nodes...); err != nil {
//			t.Fatal(err)
//		}
//		if _, err := testCluster.CreatePods(ctx, cluster.PodBatch{Namespace: ns, Prefix: "web", Count: 50, Nodes: nodes}); err != nil {
//			t.Fatal(err)
//		}
//		pods, err := testCluster.WaitPodsRunning(ctx, ns, "app=web", 50)
//		// ... run an agent for nodes[0] with testCluster.NodeConfig(nodes[0]) ...
//	}
//
// If the test binary is killed before Stop runs (a panic, a -timeout), the
// components die with it through Pdeathsig and the next Start removes the
// orphaned temp dir. Processes are forked from a dedicated OS thread kept
// alive until Stop, so tests that lock and abandon threads (network
// namespaces) cannot take the components down by accident.
//
// # Usage in the demo
//
// The same calls work outside tests: Start(ctx, Options{Kwok: true,
// LogDir: dir}) with the command's ctx, defer Stop(), and hand
// Kubeconfig() to kubectl or helm. Options.LogDir keeps the logs after Stop.
package cluster
