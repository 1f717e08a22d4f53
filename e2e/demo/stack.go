package demo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"golang.org/x/sync/errgroup"
	appsv1 "k8s.io/api/apps/v1"
	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/kubedag/kubedag/agent"
	"github.com/kubedag/kubedag/agent/ipsource"
	"github.com/kubedag/kubedag/agent/kubeapi"
	agentstream "github.com/kubedag/kubedag/agent/stream"
	"github.com/kubedag/kubedag/aggregator"
	"github.com/kubedag/kubedag/aggregator/auth"
	"github.com/kubedag/kubedag/aggregator/config"
	"github.com/kubedag/kubedag/aggregator/sandwich/aws/awssim"
	"github.com/kubedag/kubedag/e2e/cluster"
	"github.com/kubedag/kubedag/tags"
	"github.com/kubedag/kubedag/userid/panossim"
)

// Names of the demo's cluster-side objects.
const (
	clusterName    = "demo"
	targetName     = "fw1"
	systemNS       = "kubedag"
	agentSA        = "kubedag-agent"
	agentDaemonSet = "kubedag-agent"
	agentRBACName  = "kubedag-demo-agent"
	nodePrefix     = "demo-node"
	tokenLifetime  = time.Hour
)

// deniedLabels are bookkeeping labels of controllers, not identity (the
// chart's default deny-list), and the zone label the API server copies
// from a node onto the pods it binds there: the demo shows the zone on
// the node tags, and its pod rows stay short.
var deniedLabels = append(slices.Clone(tags.ChurnyLabels), "topology.kubernetes.io/zone")

// stack is the running system: control plane, emulator, aggregator and
// agents. start builds it; run runs the in-process parts until ctx ends;
// stop tears the out-of-process parts down.
type stack struct {
	opts    *Options
	log     *slog.Logger
	secrets string // token and API-key files, removed by stop

	cluster    *cluster.Cluster
	sim        *panossim.Server
	aws        *awssim.Server // the AWS account the sandwich is discovered from
	awsSrv     *httptest.Server
	agg        *aggregator.Aggregator
	streamLn   net.Listener
	agents     []*agent.Agent
	nodes      []string
	agentPods  []corev1.Pod // agentPods[i] runs on nodes[i]
	tokenFiles []string     // tokenFiles[i] is nodes[i]'s agent token
}

// start brings every part up (the control plane, the nodes and their agent
// pods, the emulator, the aggregator and agents built but not running). On
// error it leaves nothing running.
func start(ctx context.Context, o *Options, log *slog.Logger, p *printer) (_ *stack, err error) {
	s := &stack{opts: o, log: log}
	defer func() {
		if err != nil {
			s.stop()
		}
	}()
	if s.secrets, err = os.MkdirTemp("", "kubedag-demo-secrets-"); err != nil {
		return nil, fmt.Errorf("secrets dir: %w", err)
	}

	began := time.Now()
	p.progress("starting the control plane: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok ...")
	s.cluster, err = cluster.Start(ctx, cluster.Options{Kwok: true, LogDir: o.LogDir, ToolsDir: o.ToolsDir, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("control plane: %w", err)
	}
	p.progress("control plane ready in %s: %s", since(began), s.cluster.Config.Host)
	kubectl, kerr := cluster.ToolPath(cluster.Kubectl)
	if kerr != nil {
		kubectl = "kubectl"
	}
	p.note("look around while it runs: KUBECONFIG=%s %s get pods -A -o wide", s.cluster.Kubeconfig(), kubectl)

	began = time.Now()
	if s.nodes, err = s.cluster.CreateNodes(ctx, nodePrefix, o.Nodes); err != nil {
		return nil, err
	}
	if err := s.cluster.WaitNodesReady(ctx, s.nodes...); err != nil {
		return nil, err
	}
	if err := s.labelNodes(ctx); err != nil {
		return nil, err
	}
	if err := s.agentObjects(ctx); err != nil {
		return nil, err
	}
	p.progress("%d kwok nodes Ready, agent DaemonSet %s/%s running on each (%s)", len(s.nodes), systemNS, agentDaemonSet, since(began))

	if err := s.startEmulator(); err != nil {
		return nil, err
	}
	p.progress("PAN-OS emulator (firewall %q) on %s, TLS with its own CA", targetName, s.sim.URL)

	if err := s.buildAggregator(); err != nil {
		return nil, err
	}
	if err := s.buildAgents(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// agentObjects creates what the Helm chart would for the agents: a
// namespace, a ServiceAccount, read access for the node identities and a
// hostNetwork DaemonSet (kwok "runs" its pods), then waits for one agent pod
// per node, whose tokens the agents present.
func (s *stack) agentObjects(ctx context.Context) error {
	c := s.cluster.Client
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: systemNS}}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create namespace %s: %w", systemNS, err)
	}
	if _, err := c.CoreV1().ServiceAccounts(systemNS).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: agentSA}}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create ServiceAccount %s/%s: %w", systemNS, agentSA, err)
	}
	// The agents read the API as their node (system:node:<node>); the Node
	// authorizer lets them see their own pods, this role the rest.
	if _, err := c.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: agentRBACName},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get", "list", "watch"}},
		},
	}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create ClusterRole %s: %w", agentRBACName, err)
	}
	if _, err := c.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: agentRBACName},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: agentRBACName},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.GroupKind, Name: "system:nodes"}},
	}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create ClusterRoleBinding %s: %w", agentRBACName, err)
	}
	labels := map[string]string{"app": agentDaemonSet}
	if _, err := c.AppsV1().DaemonSets(systemNS).Create(ctx, &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: agentDaemonSet},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					ServiceAccountName:            agentSA,
					HostNetwork:                   true,
					AutomountServiceAccountToken:  new(false),
					TerminationGracePeriodSeconds: new(int64(0)),
					Tolerations:                   []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
					Containers:                    []corev1.Container{{Name: "agent", Image: "kubedag:demo", Args: []string{"agent", "--ip-source=api"}}},
				},
			},
		},
	}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create DaemonSet %s/%s: %w", systemNS, agentDaemonSet, err)
	}
	pods, err := s.cluster.WaitPodsRunning(ctx, systemNS, "app="+agentDaemonSet, len(s.nodes))
	if err != nil {
		return fmt.Errorf("agent pods: %w", err)
	}
	byNode := map[string]corev1.Pod{}
	for _, p := range pods {
		byNode[p.Spec.NodeName] = p
	}
	for _, n := range s.nodes {
		p, ok := byNode[n]
		if !ok {
			return fmt.Errorf("no agent pod on node %s", n)
		}
		s.agentPods = append(s.agentPods, p)
		s.tokenFiles = append(s.tokenFiles, filepath.Join(s.secrets, "token-"+n))
	}
	return s.writeTokens(ctx)
}

// writeTokens mints, for each agent pod, a ServiceAccount token of
// audience kubedag bound to that pod (so TokenReview reports its node), and
// writes it where the agent's stream client reads it on every connect: what
// the kubelet does for a projected token volume.
func (s *stack) writeTokens(ctx context.Context) error {
	for i, p := range s.agentPods {
		tr, err := s.cluster.Client.CoreV1().ServiceAccounts(systemNS).CreateToken(ctx, agentSA, &authnv1.TokenRequest{
			Spec: authnv1.TokenRequestSpec{
				Audiences:         []string{auth.Audience},
				ExpirationSeconds: new(int64(tokenLifetime / time.Second)),
				BoundObjectRef:    &authnv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: p.Name, UID: p.UID},
			},
		}, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("TokenRequest for agent pod %s: %w", p.Name, err)
		}
		if err := writeSecret(s.tokenFiles[i], tr.Status.Token); err != nil {
			return err
		}
	}
	return nil
}

// refreshTokens re-mints the agent tokens well before they expire, until
// ctx ends.
func (s *stack) refreshTokens(ctx context.Context) error {
	t := time.NewTicker(tokenLifetime * 2 / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := s.writeTokens(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("refresh agent tokens", "err", err)
			}
		}
	}
}

func (s *stack) startEmulator() error {
	var err error
	// viewer reads the firewall for the sandwich part's printout: a key
	// minted for admin would end the aggregator's.
	s.sim, err = panossim.Start(panossim.Config{Users: map[string]string{"admin": "admin", sandwichViewer: sandwichViewer},
		Logger: s.log.With("component", "panos-sim")}, true, "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("PAN-OS emulator: %w", err)
	}
	// The AWS account the sandwich's inventory is discovered from: the
	// real SDK clients against the local endpoint speaking AWS's protocols.
	s.aws = awssim.New(awsRegion)
	s.aws.Update(demoAWS)
	s.awsSrv = httptest.NewServer(s.aws)
	return nil
}

// buildAggregator writes the target's credentials and CA like a mounted
// Secret and builds the aggregator (single replica, no leader election)
// with its agent-stream listener and TLS.
func (s *stack) buildAggregator() error {
	key, err := s.sim.Sim.APIKeyFor("admin")
	if err != nil {
		return fmt.Errorf("emulator API key: %w", err)
	}
	keyFile, simCA := filepath.Join(s.secrets, "fw1-api-key"), filepath.Join(s.secrets, "fw1-ca.pem")
	if err := writeSecret(keyFile, key); err != nil {
		return err
	}
	if err := writeSecret(simCA, string(s.sim.CACertPEM)); err != nil {
		return err
	}
	cfg := &config.Config{
		Cluster: clusterName,
		// Node tags on: the nodes' InternalIPs carry the cluster node tag
		// and their zone and instance type (showNodes).
		Tags:    config.Tags{Preset: "k8s", Labels: config.Labels{Deny: deniedLabels}, Nodes: config.Nodes{Enabled: true}},
		Targets: []config.Target{{Name: targetName, URL: s.sim.URL, APIKeyFile: keyFile, CAFile: simCA}},
		// The EKS load-balancer sandwich on the same emulated firewall.
		Sandwich: sandwichConfig(s.awsSrv.URL),
	}
	if s.opts.BatchInterval > 0 {
		cfg.BatchInterval = config.Duration{Duration: s.opts.BatchInterval}
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("aggregator config: %w", err)
	}

	caPEM, serverTLS, err := streamPKI()
	if err != nil {
		return err
	}
	if err := writeSecret(filepath.Join(s.secrets, "stream-ca.pem"), string(caPEM)); err != nil {
		return err
	}
	if s.streamLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return fmt.Errorf("aggregator stream listener: %w", err)
	}
	s.agg, err = aggregator.New(aggregator.Options{
		Config:         cfg,
		Client:         s.cluster.Client,
		StreamListener: s.streamLn,
		StreamTLS:      serverTLS,
		AgentUsers:     []string{"system:serviceaccount:" + systemNS + ":" + agentSA},
		SnapshotGrace:  10 * time.Second,
		// The simulated account's key, instead of the machine's AWS
		// credentials: the demo never calls the real AWS.
		SandwichAWSCredentials: credentials.NewStaticCredentialsProvider(awssim.AccessKeyID, awssim.SecretAccessKey, ""),
		Logger:                 s.log.With("component", "aggregator"),
	})
	if err != nil {
		return fmt.Errorf("aggregator: %w", err)
	}
	return nil
}

// buildAgents builds one agent per node, reading the API as the node's
// kubelet identity and streaming with its pod-bound token.
func (s *stack) buildAgents(ctx context.Context) error {
	tlsCfg, err := agentstream.TLSConfig(filepath.Join(s.secrets, "stream-ca.pem"), streamServerName)
	if err != nil {
		return fmt.Errorf("agent stream TLS: %w", err)
	}
	for i, n := range s.nodes {
		rc, err := s.cluster.NodeConfig(n)
		if err != nil {
			return fmt.Errorf("node %s identity: %w", n, err)
		}
		rc.UserAgent = "kubedag-agent/demo"
		src, err := kubeapi.New(rc)
		if err != nil {
			return fmt.Errorf("node %s client: %w", n, err)
		}
		a, err := agent.New(agent.Config{
			Source:   src,
			NodeName: n,
			IPSource: ipsource.ModeAPI,
			Stream: agentstream.Config{
				Addr: s.streamLn.Addr().String(), TLS: tlsCfg, TokenFile: s.tokenFiles[i],
				BackoffMin: 100 * time.Millisecond, BackoffMax: 2 * time.Second,
			},
			Logger: s.log.With("node", n), // its parts add their component
		})
		if err != nil {
			return fmt.Errorf("agent for %s: %w", n, err)
		}
		s.agents = append(s.agents, a)
	}
	return nil
}

// run runs the aggregator, the agents and the token refresher until ctx
// ends or one fails; it returns after all of them stopped.
func (s *stack) run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := s.agg.Run(ctx); err != nil && ctx.Err() == nil {
			return fmt.Errorf("aggregator: %w", err)
		}
		return nil
	})
	for i, a := range s.agents {
		g.Go(func() error {
			if err := a.Run(ctx); err != nil && ctx.Err() == nil {
				return fmt.Errorf("agent %s: %w", s.nodes[i], err)
			}
			return nil
		})
	}
	g.Go(func() error { return s.refreshTokens(ctx) })
	return g.Wait()
}

// waitConnected waits until every agent's stream is up and the target's
// pusher has done its first reconcile.
func (s *stack) waitConnected(ctx context.Context, timeout time.Duration) error {
	var why string
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		for i, a := range s.agents {
			if !a.Stream.Connected() {
				why = "agent of " + s.nodes[i] + " not connected"
				return false, nil
			}
		}
		sts := s.agg.Statuses()
		if len(sts) == 0 {
			why = "no pusher running"
			return false, nil
		}
		for _, st := range sts {
			if !st.Synced || !st.Healthy {
				why = fmt.Sprintf("target %s not synced (last error: %q)", st.Target, st.LastError)
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for kubedag to connect: %s: %w", why, err)
	}
	return nil
}

// stop closes the emulator and kills the control plane; safe on a partly
// started stack and to call twice.
func (s *stack) stop() error {
	var errs []error
	if s.streamLn != nil {
		_ = s.streamLn.Close() // already closed if the aggregator ran
	}
	if s.sim != nil {
		errs = append(errs, s.sim.Close())
	}
	if s.awsSrv != nil {
		s.awsSrv.Close()
	}
	if s.cluster != nil {
		errs = append(errs, s.cluster.Stop())
	}
	if s.secrets != "" {
		errs = append(errs, os.RemoveAll(s.secrets))
	}
	return errors.Join(errs...)
}

func writeSecret(path, content string) error {
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return nil
}

func since(t time.Time) time.Duration { return time.Since(t).Round(100 * time.Millisecond) }
