package system

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	agentv1 "github.com/kubedag/kubedag/api/agent/v1"
	"github.com/kubedag/kubedag/e2e/cluster"
)

// TestStreamFromAnotherServiceAccountRefused: a pod of another
// ServiceAccount holds a perfectly valid token (audience kubedag, bound to
// a pod on a real node), yet the aggregator, started with --agent-users as
// the chart starts it, refuses its stream before any claim is read: no pod
// can spoof tags for its node's IPs.
func TestStreamFromAnotherServiceAccountRefused(t *testing.T) {
	e := sys
	ctx := t.Context()
	ns := e.newNamespace(t, "intruder")
	node := e.webNodes[0]
	cs := e.c.Client
	if _, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "intruder"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "intruder"},
		Spec: corev1.PodSpec{
			NodeName:                      node,
			ServiceAccountName:            "intruder",
			AutomountServiceAccountToken:  new(false),
			TerminationGracePeriodSeconds: new(int64(0)),
			Containers:                    []corev1.Container{{Name: "c", Image: "intruder:e2e"}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "intruder", &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{
			Audiences:         []string{cluster.KubedagAudience},
			ExpirationSeconds: new(int64(600)),
			BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("TokenRequest: %v", err)
	}

	caPEM, err := os.ReadFile(filepath.Join(e.dir, "stream-ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("stream-ca.pem holds no certificate")
	}
	conn, err := grpc.NewClient(e.aggStreamAddr(), grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sctx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tr.Status.Token)
	s, err := agentv1.NewAgentStreamClient(conn).Sync(sctx)
	if err != nil {
		t.Fatal(err)
	}
	// A snapshot for the token's own node: only the ServiceAccount is wrong.
	if err := s.Send(&agentv1.AgentMessage{Msg: &agentv1.AgentMessage_Snapshot{Snapshot: &agentv1.Snapshot{Epoch: 1, Final: true, Node: node}}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if _, err = s.Recv(); err != nil {
			break
		}
	}
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "system:serviceaccount:"+ns+":intruder") {
		t.Fatalf("stream with another ServiceAccount's token: %v, want PermissionDenied naming the user", err)
	}
	if strings.Contains(err.Error(), tr.Status.Token) {
		t.Fatal("the refusal carries the token")
	}
}
