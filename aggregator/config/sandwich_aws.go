package config

import (
	"errors"

	sandwichaws "github.com/kubedag/kubedag/aggregator/sandwich/aws"
)

// SandwichAWS is the sandwich.aws section: read the sandwich's inventory
// (cluster subnets, firewall set, internal NLBs) from AWS instead of
// sandwich.inventory. Credentials come from the SDK's default chain (EKS
// Pod Identity, IRSA, instance role, AWS_* variables), never from this file.
type SandwichAWS struct {
	// Region of the cluster. Required.
	Region string `json:"region"`
	// ClusterName is the EKS cluster's name (not necessarily kubedag's
	// cluster name). Required.
	ClusterName string `json:"clusterName"`
	// RoleARN is assumed through STS when set; ExternalID goes with it.
	RoleARN    string `json:"roleARN,omitempty"`
	ExternalID string `json:"externalID,omitempty"`
	// The firewalls, by one of: the CloudFormation stack of Palo Alto's
	// template (ASG "<stack>-PANW-Firewall-ASG"), an ASG name, or tags.
	FirewallStack string            `json:"firewallStack,omitempty"`
	FirewallASG   string            `json:"firewallASG,omitempty"`
	FirewallTags  map[string]string `json:"firewallTags,omitempty"`
	// TrustDeviceIndex of the firewalls' trust ENI (default 2, ethernet1/2),
	// or TrustInterfaceTag "key=value" on it.
	TrustDeviceIndex  *int   `json:"trustDeviceIndex,omitempty"`
	TrustInterfaceTag string `json:"trustInterfaceTag,omitempty"`
	// RefreshInterval between full re-reads (default 1m); a labelled
	// Service's change also triggers one.
	RefreshInterval Duration `json:"refreshInterval,omitempty"`
	// Endpoint replaces the AWS endpoints of EKS, EC2, ELBv2 and STS (a
	// proxy, or the local simulator of the demo). Default: AWS's own.
	Endpoint string `json:"endpoint,omitempty"`
}

// Discovery returns the discovery settings (validated by Config.Validate).
func (a *SandwichAWS) Discovery() sandwichaws.Config {
	return sandwichaws.Config{
		Region: a.Region, ClusterName: a.ClusterName, RoleARN: a.RoleARN, ExternalID: a.ExternalID,
		FirewallStack: a.FirewallStack, FirewallASG: a.FirewallASG, FirewallTags: a.FirewallTags,
		TrustDeviceIndex: a.TrustDeviceIndex, TrustInterfaceTag: a.TrustInterfaceTag,
		RefreshInterval: a.RefreshInterval.Duration, Endpoint: a.Endpoint,
	}
}

func (s *Sandwich) validateAWS() error {
	if !s.Enabled || s.AWS == nil {
		return nil
	}
	if len(s.Inventory.Subnets) > 0 || len(s.Inventory.Firewalls) > 0 {
		return errors.New("sandwich.aws: set sandwich.aws or sandwich.inventory, not both")
	}
	return s.AWS.Discovery().Validate("sandwich.aws")
}
