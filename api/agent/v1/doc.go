// Package agentv1 is the generated protobuf/gRPC code of the agent <->
// aggregator stream (agent.proto). Regenerate it with `make generate`.
package agentv1
