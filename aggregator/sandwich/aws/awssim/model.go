package awssim

import (
	"maps"
	"slices"
)

// Model is the simulated account's state in one region. Tests and the demo
// change it through Server.Update; the server reads it under the same lock.
type Model struct {
	Clusters      map[string]*Cluster      // by name
	VPCs          map[string]*VPC          // by ID
	Subnets       map[string]*Subnet       // by ID
	Instances     map[string]*Instance     // by ID
	LoadBalancers map[string]*LoadBalancer // by ARN
	TargetGroups  map[string]*TargetGroup  // by ARN
	// Roles are the role ARNs that AssumeRole grants.
	Roles map[string]bool
}

// Cluster is an EKS cluster.
type Cluster struct {
	Name      string
	VPC       string
	SubnetIDs []string
	// Status is ACTIVE unless set (CREATING, DELETING, FAILED, ...).
	Status string
	// IPFamily is ipv4 unless set to ipv6.
	IPFamily string
}

// VPC is a VPC. Each has a default security group (DefaultSecurityGroup),
// which its instances, their interfaces and its application load
// balancers are in.
type VPC struct {
	ID   string
	CIDR string // primary IPv4 block
	Tags map[string]string
}

// Subnet is a VPC subnet.
type Subnet struct {
	ID   string
	VPC  string
	CIDR string // IPv4; empty for an IPv6-only subnet
	// IPv6CIDRs are associated IPv6 blocks.
	IPv6CIDRs []string
	Zone      string
	Tags      map[string]string
}

// Instance is an EC2 instance with its attached network interfaces.
type Instance struct {
	ID   string
	VPC  string
	Zone string
	// State is running unless set (pending, stopping, stopped, terminated, ...).
	State string
	Tags  map[string]string
	ENIs  []ENI
}

// ENI is a network interface attached to an instance.
type ENI struct {
	ID          string
	SubnetID    string
	DeviceIndex int
	PrivateIP   string
	Tags        map[string]string
}

// LoadBalancer is an ELBv2 load balancer.
type LoadBalancer struct {
	ARN     string
	Name    string
	DNSName string
	Type    string // network, application, gateway
	Scheme  string // internal, internet-facing
	VPC     string
	// State is active unless set.
	State string
	// Subnets are the subnets it has a node in, one per zone (its
	// AvailabilityZones).
	Subnets []string
	// SecurityGroups are its security group IDs: an application load
	// balancer always has one (its VPC's default group unless given),
	// a network load balancer only if it was created with them.
	SecurityGroups []string
}

// TargetGroup is an ELBv2 target group. Each load balancer it names has
// one listener forwarding to it, on its port and protocol.
type TargetGroup struct {
	ARN      string
	Name     string
	Protocol string // HTTP, HTTPS, TCP, ...
	Port     int
	VPC      string
	// TargetType is instance unless set (ip).
	TargetType string
	// LoadBalancers are the ARNs of the load balancers forwarding to it.
	LoadBalancers []string
	Targets       []Target
}

// Target is a registered target: an instance ID or an IP address, and
// the port it receives on.
type Target struct {
	ID   string
	Port int
}

// NewModel returns an empty model.
func NewModel() *Model {
	return &Model{
		Clusters:      map[string]*Cluster{},
		VPCs:          map[string]*VPC{},
		Subnets:       map[string]*Subnet{},
		Instances:     map[string]*Instance{},
		LoadBalancers: map[string]*LoadBalancer{},
		TargetGroups:  map[string]*TargetGroup{},
		Roles:         map[string]bool{},
	}
}

// clone deep-copies the model, so a test's Snapshot cannot race the server.
func (m *Model) clone() *Model {
	c := NewModel()
	for k, v := range m.Clusters {
		x := *v
		x.SubnetIDs = slices.Clone(v.SubnetIDs)
		c.Clusters[k] = &x
	}
	for k, v := range m.VPCs {
		x := *v
		x.Tags = maps.Clone(v.Tags)
		c.VPCs[k] = &x
	}
	for k, v := range m.Subnets {
		x := *v
		x.IPv6CIDRs = slices.Clone(v.IPv6CIDRs)
		x.Tags = maps.Clone(v.Tags)
		c.Subnets[k] = &x
	}
	for k, v := range m.Instances {
		x := *v
		x.Tags = maps.Clone(v.Tags)
		x.ENIs = slices.Clone(v.ENIs)
		for i := range x.ENIs {
			x.ENIs[i].Tags = maps.Clone(v.ENIs[i].Tags)
		}
		c.Instances[k] = &x
	}
	for k, v := range m.LoadBalancers {
		x := *v
		x.Subnets = slices.Clone(v.Subnets)
		x.SecurityGroups = slices.Clone(v.SecurityGroups)
		c.LoadBalancers[k] = &x
	}
	for k, v := range m.TargetGroups {
		x := *v
		x.LoadBalancers = slices.Clone(v.LoadBalancers)
		x.Targets = slices.Clone(v.Targets)
		c.TargetGroups[k] = &x
	}
	c.Roles = maps.Clone(m.Roles)
	return c
}

// sortedKeys returns a map's keys in order: AWS answers in a stable order,
// which pagination tokens depend on.
func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
