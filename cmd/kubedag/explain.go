package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/kubedag/kubedag/aggregator/explain"
)

// explainOptions are the flags of `kubedag explain`.
type explainOptions struct {
	kubeconfig string
	context    string
	namespace  string
	output     string
	// Where the aggregator's explain endpoint is: its Service and port.
	kubedagNamespace string
	service          string
	port             string
}

func newExplainCmd() *cobra.Command {
	o := &explainOptions{}
	root := pluginName(os.Args[0])
	cmd := &cobra.Command{
		Use:   "explain (pod|service) [NAMESPACE/]NAME | explain ip ADDRESS",
		Short: "Explain the tags of a pod, Service or IP on every firewall target",
		Long: `Explain why a pod, Service or IP has the tags it has ("why can't my pod reach
the database?"): the tags kubedag wants and where each comes from (namespace,
owner, Service, label), which were dropped by the per-IP tag limit or left out by
the label allow/deny lists, who claims each IP (IP-reuse conflicts, agent claims
the API server did not confirm), what each target holds now and when that was
last confirmed, the last tag latency, and which Dynamic Address Groups on each
target the IP is in now and once pending changes land.

The aggregator answers through the API server's service proxy, with your
kubeconfig's credentials: you need get on services/proxy of the aggregator's
Service (the chart's kubedag-explain Role), and you see only the pods and
Services you may get. Your kubeconfig must authenticate with a bearer token
(OIDC, an exec plugin such as aws eks get-token, a ServiceAccount token): the
aggregator checks it with TokenReview. Also usable as a kubectl plugin
(kubectl kubedag explain ...) by installing the binary as kubectl-kubedag.

Examples:
  ` + root + ` explain pod shop/web-6d4b9c7f5-x1
  ` + root + ` explain pod web-6d4b9c7f5-x1 -n shop -o yaml
  ` + root + ` explain service shop/db
  ` + root + ` explain ip 10.0.1.5 -o json`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			q, err := o.query(args, cmd.Flags().Changed("namespace"))
			if err != nil {
				return err
			}
			return o.Run(cmd, q)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
	f.StringVar(&o.context, "context", "", "kubeconfig context (default: the current one)")
	f.StringVarP(&o.namespace, "namespace", "n", "", "namespace of a pod or Service named without one (default: the context's)")
	f.StringVarP(&o.output, "output", "o", "text", "output format: text, json or yaml")
	f.StringVar(&o.kubedagNamespace, "kubedag-namespace", explain.DefaultNamespace, "namespace kubedag is installed in")
	f.StringVar(&o.service, "kubedag-service", explain.DefaultService, "the aggregator's Service")
	f.StringVar(&o.port, "kubedag-port", explain.DefaultPort, "the Service's explain port (name or number)")
	return cmd
}

// query parses the arguments; nsSet says whether -n was given.
func (o *explainOptions) query(args []string, nsSet bool) (explain.Query, error) {
	switch o.output {
	case "text", "json", "yaml":
	default:
		return explain.Query{}, fmt.Errorf("-o %q: want text, json or yaml", o.output)
	}
	kind, arg := strings.ToLower(args[0]), args[1]
	switch kind {
	case "ip":
		ip, err := netip.ParseAddr(arg)
		if err != nil {
			return explain.Query{}, fmt.Errorf("ip %q: not an IP address", arg)
		}
		return explain.Query{Kind: explain.KindIP, IP: ip.Unmap().WithZone("")}, nil
	case "pod", "pods", "po":
		kind = explain.KindPod
	case "service", "services", "svc":
		kind = explain.KindService
	default:
		return explain.Query{}, fmt.Errorf("cannot explain %q: want pod, service or ip", args[0])
	}
	q := explain.Query{Kind: kind, Name: arg}
	if ns, name, ok := strings.Cut(arg, "/"); ok {
		if nsSet && ns != o.namespace {
			return explain.Query{}, fmt.Errorf("%s names namespace %q but -n says %q", arg, ns, o.namespace)
		}
		q.Namespace, q.Name = ns, name
	} else if nsSet {
		q.Namespace = o.namespace
	}
	if q.Name == "" || strings.Contains(q.Name, "/") || (q.Namespace == "" && strings.Contains(arg, "/")) {
		return explain.Query{}, fmt.Errorf("%s %q: want [NAMESPACE/]NAME", kind, arg)
	}
	return q, nil
}

// Run asks the aggregator and prints the answer.
func (o *explainOptions) Run(cmd *cobra.Command, q explain.Query) error {
	cfg, ctxNS, err := explain.RESTConfig(o.kubeconfig, o.context)
	if err != nil {
		return err
	}
	if q.Kind != explain.KindIP && q.Namespace == "" {
		q.Namespace = ctxNS
	}
	if cfg.BearerToken == "" && cfg.BearerTokenFile == "" && cfg.ExecProvider == nil && cfg.AuthProvider == nil {
		return errors.New("explain: your kubeconfig has no bearer token (client certificates cannot be passed on to the aggregator): use a context with a token, OIDC or an exec plugin")
	}
	cl, err := explain.NewClient(cfg)
	if err != nil {
		return err
	}
	cl.Namespace, cl.Service, cl.Port = o.kubedagNamespace, o.service, o.port
	r, err := cl.Explain(cmd.Context(), q)
	if err != nil {
		return err
	}
	return writeReport(cmd.OutOrStdout(), r, o.output)
}

func writeReport(w io.Writer, r explain.Report, format string) error {
	switch format {
	case "json":
		b, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	case "yaml":
		b, err := yaml.Marshal(r)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	return explain.Render(w, r)
}

// pluginName is how the binary is invoked: "kubectl kubedag" when it is
// installed as the kubectl plugin kubectl-kubedag, else "kubedag".
func pluginName(argv0 string) string {
	if strings.HasPrefix(filepath.Base(argv0), "kubectl-") {
		return "kubectl " + strings.TrimPrefix(filepath.Base(argv0), "kubectl-")
	}
	return "kubedag"
}
