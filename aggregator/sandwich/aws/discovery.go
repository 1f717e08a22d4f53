package aws

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/kubedag/kubedag/aggregator/sandwich"
)

// ErrNotYet is returned by Inventory before the first refresh ended.
var ErrNotYet = errors.New("aws discovery: no inventory read yet")

// filterChunk: EC2 accepts at most 200 values in one filter.
const filterChunk = 200

// Options are the runtime dependencies of a Discovery.
type Options struct {
	Logger *slog.Logger
	// Credentials replaces the SDK's default chain (tests); nil: the
	// default chain (env, shared files, IRSA web identity, EKS Pod
	// Identity, instance role), then RoleARN if set.
	Credentials awssdk.CredentialsProvider
	// OnChange is called (from Run's goroutine) after a refresh that
	// changed the inventory, e.g. the engine's Kick.
	OnChange func()
}

// Discovery is a sandwich.Source reading the inventory from AWS: a cache
// refreshed every RefreshInterval and on Refresh, owned by Run.
type Discovery struct {
	cfg   Config
	opts  Options
	log   *slog.Logger
	creds awssdk.CredentialsProvider
	eks   *eks.Client
	ec2   *ec2.Client
	elb   *elbv2.Client
	kick  chan struct{}

	problemsCounter  metric.Int64Counter
	refreshesCounter metric.Int64Counter

	mu       sync.Mutex
	inv      sandwich.Inventory
	have     bool
	err      error
	problems map[string]Problem // current, by key
	good     time.Time          // last successful refresh
}

var _ sandwich.Source = (*Discovery)(nil)

// New validates cfg and builds the SDK clients; it makes no call.
func New(ctx context.Context, cfg Config, opts Options) (*Discovery, error) {
	if err := cfg.Validate("sandwich.aws"); err != nil {
		return nil, err
	}
	cfg.defaults()
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.OnChange == nil {
		opts.OnChange = func() {}
	}
	load := []func(*config.LoadOptions) error{
		config.WithRegion(cfg.Region),
		config.WithRetryer(func() awssdk.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = cfg.MaxAttempts
				o.MaxBackoff = cfg.MaxBackoff
			})
		}),
	}
	if opts.Credentials != nil {
		load = append(load, config.WithCredentialsProvider(opts.Credentials))
	}
	if cfg.Endpoint != "" {
		load = append(load, config.WithBaseEndpoint(cfg.Endpoint))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, load...)
	if err != nil {
		return nil, fmt.Errorf("aws discovery: load SDK configuration: %w", err)
	}
	if cfg.RoleARN != "" {
		awsCfg.Credentials = awssdk.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(awsCfg), cfg.RoleARN,
			func(o *stscreds.AssumeRoleOptions) {
				o.RoleSessionName = sessionName(cfg.ClusterName)
				if cfg.ExternalID != "" {
					o.ExternalID = awssdk.String(cfg.ExternalID)
				}
			}))
	}
	d := &Discovery{cfg: cfg, opts: opts, log: opts.Logger.With("sandwich_cluster", cfg.ClusterName, "aws_region", cfg.Region),
		creds: awsCfg.Credentials, eks: eks.NewFromConfig(awsCfg), ec2: ec2.NewFromConfig(awsCfg), elb: elbv2.NewFromConfig(awsCfg),
		kick: make(chan struct{}, 1), problems: map[string]Problem{}}
	m := otel.Meter("kubedag/sandwich/aws")
	var e1, e2 error
	d.problemsCounter, e1 = m.Int64Counter("kubedag_sandwich_discovery_problems",
		metric.WithDescription("AWS discovery problems, counted once each time one appears, by kind (AccessDenied, ClusterNotFound, NoFirewalls, ...)."))
	d.refreshesCounter, e2 = m.Int64Counter("kubedag_sandwich_discovery_refreshes",
		metric.WithDescription("AWS discovery refreshes by result (ok, failed)."))
	if err := errors.Join(e1, e2); err != nil {
		return nil, fmt.Errorf("aws discovery metrics: %w", err)
	}
	return d, nil
}

// sessionName is the STS session name: the cluster, within STS's 64
// characters of [\w+=,.@-].
func sessionName(cluster string) string {
	s := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("+=,.@-_", r) {
			return r
		}
		return '-'
	}, "kubedag-"+cluster)
	return s[:min(len(s), 64)]
}

// Inventory returns the last good inventory, with the last refresh's error
// when it failed (sandwich.Source).
func (d *Discovery) Inventory(context.Context) (sandwich.Inventory, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.have && d.err == nil {
		return sandwich.Inventory{}, ErrNotYet
	}
	return d.inv, d.err
}

// Refresh asks Run for a re-read soon, at most once per MinRefreshInterval.
// It never blocks.
func (d *Discovery) Refresh() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// Problems are the problems of the last refresh, sorted.
func (d *Discovery) Problems() []Problem {
	d.mu.Lock()
	defer d.mu.Unlock()
	ps := slices.Collect(maps.Values(d.problems))
	slices.SortFunc(ps, func(a, b Problem) int { return strings.Compare(a.key(), b.key()) })
	return ps
}

// LastGood is when the inventory in use was read (zero: never).
func (d *Discovery) LastGood() time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.good
}

// Run refreshes at once, then every RefreshInterval and on Refresh, until
// ctx ends.
func (d *Discovery) Run(ctx context.Context) error {
	timer := time.NewTimer(0)
	defer timer.Stop()
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		case <-d.kick:
			if wait := d.cfg.MinRefreshInterval - time.Since(last); wait > 0 {
				// Coalesce: the pending timer fires at the earliest allowed time.
				timer.Reset(wait)
				continue
			}
		}
		last = time.Now()
		d.refresh(ctx)
		timer.Reset(d.cfg.RefreshInterval)
	}
}

// refresh reads everything, builds, and swaps the cache unless the read
// failed; problems that are new are logged and counted once.
func (d *Discovery) refresh(ctx context.Context) {
	inv, problems := d.read(ctx)
	if ctx.Err() != nil {
		return
	}
	var fatal error
	for _, p := range problems {
		if p.Fatal {
			fatal = errors.Join(fatal, p)
		}
	}
	d.mu.Lock()
	old := d.problems
	d.problems = make(map[string]Problem, len(problems))
	for _, p := range problems {
		d.problems[p.key()] = p
	}
	changed := false
	if fatal == nil {
		changed = !d.have || !reflect.DeepEqual(inv, d.inv)
		d.inv, d.have, d.good = inv, true, time.Now()
	}
	changed = changed || (d.err == nil) != (fatal == nil)
	d.err = nil
	if fatal != nil {
		d.err = fmt.Errorf("aws discovery of cluster %s: %w", d.cfg.ClusterName, fatal)
	}
	have := d.have
	d.mu.Unlock()

	for k, p := range d.problems {
		if _, seen := old[k]; seen {
			continue
		}
		d.problemsCounter.Add(ctx, 1, metric.WithAttributes(attribute.String("kind", p.Kind)))
		args := []any{"kind", p.Kind, "problem", p.Message}
		if p.Subject != "" {
			args = append(args, "subject", p.Subject)
		}
		if p.Fatal && have {
			args = append(args, "effect", "keeping the last good inventory")
		}
		d.log.Warn("sandwich AWS discovery problem", args...)
	}
	for k, p := range old {
		if _, still := d.problems[k]; !still {
			d.log.Info("sandwich AWS discovery problem resolved", "kind", p.Kind, "problem", p.Message)
		}
	}
	result := "ok"
	if fatal != nil {
		result = "failed"
	}
	d.refreshesCounter.Add(ctx, 1, metric.WithAttributes(attribute.String("result", result)))
	if fatal == nil {
		d.log.Debug("sandwich AWS discovery refreshed", "subnets", len(inv.Subnets), "firewalls", len(inv.Firewalls), "loadBalancers", len(inv.LoadBalancers))
	}
	if changed {
		d.opts.OnChange()
	}
}

// read makes the calls of one refresh, every list through the SDK's
// paginators, and builds the inventory.
func (d *Discovery) read(ctx context.Context) (sandwich.Inventory, []Problem) {
	if _, err := d.creds.Retrieve(ctx); err != nil {
		// A failed STS call (AssumeRole denied, STS unreachable) is
		// classified as such; anything else (the chain's last resort, IMDS,
		// included) means the chain found nothing.
		var oe *smithy.OperationError
		p := Classify(err)
		if !errors.As(err, &oe) || oe.Service() == "ec2imds" {
			p = Problem{Kind: KindNoCredentials, Fatal: true, Message: "no AWS credentials: give the aggregator's ServiceAccount an IAM role " +
				"(IRSA annotation eks.amazonaws.com/role-arn, or an EKS Pod Identity association), or set AWS_* variables: " + err.Error()}
		}
		return sandwich.Inventory{}, []Problem{p}
	}
	var a Answers
	cl, err := d.eks.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: awssdk.String(d.cfg.ClusterName)})
	if err != nil {
		return sandwich.Inventory{}, []Problem{Classify(err)}
	}
	a.Cluster = cl.Cluster
	vpc := ClusterVPC(a)
	if vpc == "" && a.Cluster != nil && a.Cluster.ResourcesVpcConfig != nil {
		// No vpcId in the answer: learn it from the cluster's subnets
		// first, so firewalls are still looked for in that VPC only.
		subnets, p := d.describeSubnets(ctx, a.Cluster.ResourcesVpcConfig.SubnetIds)
		if p != nil {
			return sandwich.Inventory{}, []Problem{*p}
		}
		vpc = ClusterVPC(Answers{Cluster: a.Cluster, Subnets: subnets})
	}

	filters := []ec2types.Filter{{Name: awssdk.String("instance-state-name"), Values: []string{"running"}}}
	if vpc != "" {
		filters = append(filters, ec2types.Filter{Name: awssdk.String("vpc-id"), Values: []string{vpc}})
	}
	if asg := d.cfg.ASGName(); asg != "" {
		filters = append(filters, ec2types.Filter{Name: awssdk.String("tag:aws:autoscaling:groupName"), Values: []string{asg}})
	}
	for _, k := range slices.Sorted(maps.Keys(d.cfg.FirewallTags)) {
		filters = append(filters, ec2types.Filter{Name: awssdk.String("tag:" + k), Values: []string{d.cfg.FirewallTags[k]}})
	}
	ip := ec2.NewDescribeInstancesPaginator(d.ec2, &ec2.DescribeInstancesInput{Filters: filters, MaxResults: awssdk.Int32(1000)})
	for ip.HasMorePages() {
		out, err := ip.NextPage(ctx)
		if err != nil {
			return sandwich.Inventory{}, []Problem{Classify(err)}
		}
		for _, r := range out.Reservations {
			a.Instances = append(a.Instances, r.Instances...)
		}
	}

	trust := d.cfg.Trust()
	if trust.Tag != "" && len(a.Instances) > 0 {
		k, v, _ := strings.Cut(trust.Tag, "=")
		var ids []string
		for _, in := range a.Instances {
			ids = append(ids, awssdk.ToString(in.InstanceId))
		}
		for chunk := range slices.Chunk(ids, filterChunk) {
			np := ec2.NewDescribeNetworkInterfacesPaginator(d.ec2, &ec2.DescribeNetworkInterfacesInput{MaxResults: awssdk.Int32(1000), Filters: []ec2types.Filter{
				{Name: awssdk.String("attachment.instance-id"), Values: chunk},
				{Name: awssdk.String("tag:" + k), Values: []string{v}},
			}})
			for np.HasMorePages() {
				out, err := np.NextPage(ctx)
				if err != nil {
					return sandwich.Inventory{}, []Problem{Classify(err)}
				}
				a.Interfaces = append(a.Interfaces, out.NetworkInterfaces...)
			}
		}
	}

	subnets, p := d.describeSubnets(ctx, SubnetIDs(a, trust))
	if p != nil {
		return sandwich.Inventory{}, []Problem{*p}
	}
	a.Subnets = subnets

	lp := elbv2.NewDescribeLoadBalancersPaginator(d.elb, &elbv2.DescribeLoadBalancersInput{PageSize: awssdk.Int32(400)})
	for lp.HasMorePages() {
		out, err := lp.NextPage(ctx)
		if err != nil {
			return sandwich.Inventory{}, []Problem{Classify(err)}
		}
		a.LoadBalancers = append(a.LoadBalancers, out.LoadBalancers...)
	}
	return Build(a, trust)
}

// describeSubnets describes the subnets ids, filtering by subnet-id (not
// SubnetIds) so a deleted subnet is missing from the answer, reported by
// Build, instead of failing the call.
func (d *Discovery) describeSubnets(ctx context.Context, ids []string) ([]ec2types.Subnet, *Problem) {
	var subnets []ec2types.Subnet
	for chunk := range slices.Chunk(ids, filterChunk) {
		sp := ec2.NewDescribeSubnetsPaginator(d.ec2, &ec2.DescribeSubnetsInput{MaxResults: awssdk.Int32(1000),
			Filters: []ec2types.Filter{{Name: awssdk.String("subnet-id"), Values: chunk}}})
		for sp.HasMorePages() {
			out, err := sp.NextPage(ctx)
			if err != nil {
				p := Classify(err)
				return nil, &p
			}
			subnets = append(subnets, out.Subnets...)
		}
	}
	return subnets, nil
}
