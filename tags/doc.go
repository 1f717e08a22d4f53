// Package tags derives PAN-OS tag names from Kubernetes identity.
//
// It is shared by the agent (which turns pods into Identities) and the
// aggregator (which turns Identities and Services into tag Sets), so a
// tag is computed the same way wherever it is computed.
package tags
