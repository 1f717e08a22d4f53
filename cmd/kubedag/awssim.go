package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kubedag/kubedag/aggregator/sandwich/aws/awssim"
)

// awsSimOptions are the flags of kubedag aws-sim.
type awsSimOptions struct {
	Listen    string
	Region    string
	Cluster   string
	Stack     string
	Zones     int
	Firewalls int
	NLBs      []string // name=dns-name
	Verbose   bool

	nlbs [][2]string
}

func newAWSSimCmd() *cobra.Command {
	o := &awsSimOptions{}
	cmd := &cobra.Command{
		Use:   "aws-sim",
		Short: "Run the AWS API emulator (EKS, EC2, ELBv2, STS) with an EKS sandwich layout",
		Long: `aws-sim serves the AWS APIs kubedag's sandwich discovery calls, on one plain-HTTP
endpoint, in AWS's wire protocols (EC2 query, ELBv2 query, EKS REST-JSON, STS
query) with SigV4 checked: EKS DescribeCluster and ListClusters, EC2
DescribeInstances, DescribeSubnets and DescribeNetworkInterfaces (filters,
paging), ELBv2 DescribeLoadBalancers, STS GetCallerIdentity, AssumeRole and
AssumeRoleWithWebIdentity. It holds one EKS cluster with a subnet per zone and
a firewall autoscaling group as Palo Alto's template builds it (one firewall
per zone in the first --firewalls zones, ENIs at device index 0 management,
1 untrust, 2 trust). It is what kubedag's tests and demo run discovery
against; any AWS SDK or the AWS CLI can call it with --endpoint-url.

Examples:
  kubedag aws-sim
  kubedag aws-sim --listen 127.0.0.1:4566 --region eu-west-1 --cluster prod --nlb web=web-0123.elb.eu-west-1.amazonaws.com`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Listen, "listen", "127.0.0.1:4566", "address to serve on (plain HTTP)")
	f.StringVar(&o.Region, "region", "us-east-1", "the region the endpoint answers for (requests signed for another are refused, as AWS does)")
	f.StringVar(&o.Cluster, "cluster", "prod", "the EKS cluster's name")
	f.StringVar(&o.Stack, "stack", "kubedag-fw", `the firewall stack: the ASG is "<stack>-PANW-Firewall-ASG"`)
	f.IntVar(&o.Zones, "zones", 3, "availability zones, each with one cluster subnet (1-6)")
	f.IntVar(&o.Firewalls, "firewalls", 2, "firewalls, one in each of the first N zones (0 to --zones)")
	f.StringSliceVar(&o.NLBs, "nlb", nil, "internal network load balancers to add, name=dns-name (what the AWS load balancer controller makes for a Service)")
	f.BoolVar(&o.Verbose, "verbose", false, "log every request (never credentials) to stderr")
	return cmd
}

var (
	regionRE = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]$`)
	// ELBv2 load balancer names: 1-32 alphanumerics and hyphens, no hyphen at either end.
	lbNameRE = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9-]{0,30}[a-zA-Z0-9])?$`)
)

// Validate checks the flags, naming the one at fault.
func (o *awsSimOptions) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(o.Listen); err != nil {
		errs = append(errs, fmt.Errorf("--listen: %q: want host:port", o.Listen))
	}
	if !regionRE.MatchString(o.Region) {
		errs = append(errs, fmt.Errorf("--region: %q is not an AWS region name (e.g. us-east-1)", o.Region))
	}
	if o.Cluster == "" {
		errs = append(errs, errors.New("--cluster: required"))
	}
	if o.Stack == "" {
		errs = append(errs, errors.New("--stack: required"))
	}
	if o.Zones < 1 || o.Zones > 6 {
		errs = append(errs, fmt.Errorf("--zones: %d is not 1-6", o.Zones))
	}
	if o.Firewalls < 0 || o.Firewalls > o.Zones {
		errs = append(errs, fmt.Errorf("--firewalls: %d is not 0 to --zones (%d)", o.Firewalls, o.Zones))
	}
	o.nlbs = nil
	seen := map[string]bool{}
	for _, n := range o.NLBs {
		name, dns, ok := strings.Cut(n, "=")
		switch {
		case !ok || dns == "":
			errs = append(errs, fmt.Errorf("--nlb: %q: want name=dns-name", n))
		case !lbNameRE.MatchString(name):
			errs = append(errs, fmt.Errorf("--nlb: %q: a load balancer name is 1-32 letters, digits and hyphens, not starting or ending with a hyphen", name))
		case dns != strings.ToLower(dns) || strings.ContainsAny(dns, " /:"):
			errs = append(errs, fmt.Errorf("--nlb: %q: want a lower-case DNS name", dns))
		case seen[name]:
			errs = append(errs, fmt.Errorf("--nlb: %q given twice", name))
		default:
			seen[name] = true
			o.nlbs = append(o.nlbs, [2]string{name, dns})
		}
	}
	return errors.Join(errs...)
}

// layout is the model aws-sim serves.
func (o *awsSimOptions) layout() awssim.Layout {
	l := awssim.DefaultLayout(o.Region, o.Cluster)
	l.Stack = o.Stack
	l.Zones = nil
	for i := range o.Zones {
		l.Zones = append(l.Zones, o.Region+string(rune('a'+i)))
	}
	l.Firewalls = o.Firewalls
	return l
}

// Run serves until ctx ends.
func (o *awsSimOptions) Run(ctx context.Context, out, errOut io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	level := slog.LevelInfo
	if o.Verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(errOut, &slog.HandlerOptions{Level: level}))
	sim := awssim.New(o.Region)
	l := o.layout()
	sim.Update(l.Apply)
	for _, n := range o.nlbs {
		sim.Update(func(m *awssim.Model) { l.AddNLB(m, n[0], n[1], true) })
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", o.Listen, err)
	}
	var h http.Handler = sim
	if o.Verbose {
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// Method, path and the query protocol's Action only: a
			// presigned URL's query carries its signature.
			logger.Debug("request", "method", r.Method, "path", r.URL.Path, "action", queryAction(r))
			sim.ServeHTTP(w, r)
		})
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	endpoint := "http://" + ln.Addr().String()
	o.printUsage(out, endpoint, l, sim)
	logger.Info("aws-sim serving", "url", endpoint, "region", o.Region, "cluster", o.Cluster)
	select {
	case <-ctx.Done():
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return fmt.Errorf("stop emulator: %w", err)
	}
	<-served
	logger.Info("aws-sim stopped")
	return nil
}

// queryAction is the Action of an EC2, ELBv2 or STS query request (form
// body or URL query), "" for EKS's REST calls. The body is put back for
// the emulator.
func queryAction(r *http.Request) string {
	if a := r.URL.Query().Get("Action"); a != "" {
		return a
	}
	if r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		return ""
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), r.Body))
	if err != nil {
		return ""
	}
	v, _ := url.ParseQuery(string(body))
	return v.Get("Action")
}

func (o *awsSimOptions) printUsage(w io.Writer, endpoint string, l awssim.Layout, sim *awssim.Server) {
	c := sim.Credentials()
	var fws []string
	for i := range l.Firewalls {
		fws = append(fws, awssim.Firewall(i))
	}
	if len(fws) == 0 {
		fws = []string{"none"}
	}
	// The emulator's fixed key pair is public test data, not a secret.
	fmt.Fprintf(w, `AWS API emulator (EKS, EC2, ELBv2, STS; region %s) listening on %s
EKS cluster %q in %s, %d zones; firewalls %s (ASG %s-PANW-Firewall-ASG, trust ENI at device index 2)

Credentials it accepts (its own; any other key is refused as AWS would):
  export AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s AWS_REGION=%s AWS_DEFAULT_REGION=%s

Try:
  aws --endpoint-url %s eks describe-cluster --name %s
  aws --endpoint-url %s ec2 describe-instances --filters Name=tag:aws:autoscaling:groupName,Values=%s-PANW-Firewall-ASG
  aws --endpoint-url %s elbv2 describe-load-balancers

The aggregator's config to discover the sandwich from it (credentials from the variables above):
  sandwich:
    aws: {region: %s, clusterName: %s, firewallStack: %s, endpoint: "%s"}

`, o.Region, endpoint, o.Cluster, l.VPC, len(l.Zones), strings.Join(fws, ", "), o.Stack,
		c.AccessKeyID, c.SecretAccessKey, o.Region, o.Region,
		endpoint, o.Cluster, endpoint, o.Stack, endpoint,
		o.Region, o.Cluster, o.Stack, endpoint)
}
