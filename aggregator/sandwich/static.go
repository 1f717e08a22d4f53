package sandwich

import (
	"context"
	"slices"
)

// Static is a Source that returns a fixed inventory (from configuration).
// Its LoadBalancers are nil: every ILB hostname is taken as given.
type Static struct {
	inv Inventory
}

// NewStatic returns a Source for inv.
func NewStatic(inv Inventory) *Static {
	inv.Subnets = slices.Clone(inv.Subnets)
	inv.Firewalls = slices.Clone(inv.Firewalls)
	inv.LoadBalancers = nil
	return &Static{inv: inv}
}

// Inventory returns the configured inventory.
func (s *Static) Inventory(context.Context) (Inventory, error) {
	inv := s.inv
	inv.Subnets = slices.Clone(inv.Subnets)
	inv.Firewalls = slices.Clone(inv.Firewalls)
	return inv, nil
}

// Refresh does nothing: the inventory never changes.
func (s *Static) Refresh() {}
