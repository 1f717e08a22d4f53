package explain

import "time"

// Report is the answer to one explain query; its JSON form is the
// endpoint's response and `kubedag explain -o json`.
type Report struct {
	// Query is what was asked, e.g. "pod shop/web-1".
	Query string `json:"query"`
	// At is when the report was built.
	At time.Time `json:"at"`
	// Leader is true when the answering replica pushes to the targets;
	// otherwise what targets hold is not known here.
	Leader bool `json:"leader"`
	// Objects are the pods and Services the report is about: the one
	// asked for, or an IP's owners the caller may see.
	Objects []Object `json:"objects,omitempty"`
	// IPs are the object's IPs, or the IP asked for.
	IPs []IP `json:"ips,omitempty"`
	// Hidden counts owners or claims the caller may not see.
	Hidden int `json:"hidden,omitempty"`
	// Notes are remarks for the reader (e.g. a pod without IPs).
	Notes []string `json:"notes,omitempty"`
}

// Object is a pod or Service and the tags kubedag derives for it.
type Object struct {
	Kind      string `json:"kind"` // Pod or Service
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	UID       string `json:"uid,omitempty"`
	Node      string `json:"node,omitempty"`
	// Owner is a pod's controller, "Kind/name".
	Owner string `json:"owner,omitempty"`
	// Services are the Services whose EndpointSlices list the pod.
	Services []string `json:"services,omitempty"`
	IPs      []string `json:"ips,omitempty"`
	// Preset and MaxTags are the tag configuration in force.
	Preset  string `json:"preset"`
	MaxTags int    `json:"maxTags"`
	// Tags are every tag derived, in priority order, kept or not.
	Tags []Tag `json:"tags,omitempty"`
	// NotTagged are labels and properties that gave no tag, and why.
	NotTagged []Problem `json:"notTagged,omitempty"`
}

// Tag is one derived tag and where it comes from.
type Tag struct {
	Tag string `json:"tag"`
	// From says what the tag was derived from, e.g. "label app=web".
	From   string `json:"from"`
	Source string `json:"source"` // namespace, owner, service, selector, label, template
	// Status is "kept", "over-limit" (dropped by the per-IP tag limit) or
	// "duplicate" (equal to a tag of higher priority).
	Status   string   `json:"status"`
	Repaired []string `json:"repaired,omitempty"` // invalid-chars, truncated
}

// Problem is something that could not be tagged as written.
type Problem struct {
	Reason string `json:"reason"`
	Label  string `json:"label,omitempty"`
	Tag    string `json:"tag,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// IP is one IP's state: claims, desired tags and every target.
type IP struct {
	IP string `json:"ip"`
	// Claims are the store's claims on the IP the caller may see.
	Claims []Claim `json:"claims,omitempty"`
	// Conflict: owners disagree (IP reuse); only the intersection of
	// their tags is registered until it resolves.
	Conflict bool `json:"conflict,omitempty"`
	// Desired are the tags kubedag registers on the IP (before pruning).
	Desired []string `json:"desired"`
	// AgentClaims are node agents' claims and where they stand.
	AgentClaims []AgentClaim `json:"agentClaims,omitempty"`
	Targets     []Target     `json:"targets,omitempty"`
	// HiddenTags counts tags left out because they belong to owners the
	// caller may not see.
	HiddenTags int `json:"hiddenTags,omitempty"`
}

// Claim is one source's claim on an IP.
type Claim struct {
	// Source is "node/<name>" (an agent) or "services".
	Source string `json:"source"`
	// Owner is the claiming object, "Pod ns/name" or "Service ns/name".
	Owner     string     `json:"owner"`
	UID       string     `json:"uid,omitempty"`
	FirstSeen *time.Time `json:"firstSeen,omitempty"`
	Tags      []string   `json:"tags"`
}

// AgentClaim is a node agent's claim as the claim gate sees it.
type AgentClaim struct {
	Node string `json:"node"`
	Pod  string `json:"pod"` // ns/name claimed
	// State is "confirmed" (forwarded to the store), "waiting" (for the
	// API server to confirm it, until Deadline) or "refused".
	State    string     `json:"state"`
	Reason   string     `json:"reason,omitempty"` // why refused or not confirmed yet
	Deadline *time.Time `json:"deadline,omitempty"`
}

// Target is what one PAN-OS target holds for the IP.
type Target struct {
	Name string `json:"name"`
	// Known is false when this replica cannot tell (not the leader, the
	// pusher busy, no listing yet); Error says why.
	Known bool   `json:"known"`
	Error string `json:"error,omitempty"`
	// Holds are kubedag's tags the target holds for the IP.
	Holds   []string   `json:"holds"`
	Expires *time.Time `json:"expires,omitempty"`
	// Pruning: the target registers only the tags its DAGs reference;
	// Pruned are the desired tags it therefore leaves out.
	Pruning bool     `json:"pruning,omitempty"`
	Pruned  []string `json:"pruned,omitempty"`
	// Register and Unregister are the pending changes: wanted tags the
	// target lacks and tags it holds that are no longer wanted.
	Register   []string `json:"register,omitempty"`
	Unregister []string `json:"unregister,omitempty"`
	// Uncertain: a call's outcome is unknown; the IP is re-sent in full.
	Uncertain bool `json:"uncertain,omitempty"`
	// Refusals counts the target's refusals of the IP's entries in a row;
	// LastRefusal is its last message.
	Refusals    int    `json:"refusals,omitempty"`
	LastRefusal string `json:"lastRefusal,omitempty"`
	// Confirmed is when the target last confirmed what it holds for the
	// IP, and ConfirmedBy how: "update" (an acknowledged change of this
	// IP) or "reconcile" (a full listing of the target).
	Confirmed   *time.Time `json:"confirmed,omitempty"`
	ConfirmedBy string     `json:"confirmedBy,omitempty"`
	// LastLatency is the tag latency of the IP's last change on this
	// target: from the change seen on the node to the target's ack.
	LastLatency string `json:"lastLatency,omitempty"`
	// Healthy, LastError, CapacityFull: the target's status.
	Healthy      bool   `json:"healthy"`
	LastError    string `json:"lastError,omitempty"`
	CapacityFull bool   `json:"capacityFull,omitempty"`
	// DAGs are the Dynamic Address Groups the IP falls into now or once
	// the pending changes land, and those that could not be evaluated.
	DAGs []DAG `json:"dags,omitempty"`
	// DAGsReadAt is when the target's DAG filters were read (nil: not
	// read, so DAG membership is unknown).
	DAGsReadAt *time.Time `json:"dagsReadAt,omitempty"`
}

// DAG is a Dynamic Address Group and whether the IP falls into it.
type DAG struct {
	Location string `json:"location"` // shared, vsys1, device-group dg1, ...
	Name     string `json:"name"`
	Filter   string `json:"filter"`
	Now      bool   `json:"now"`
	// AfterPending is membership once the pending changes land.
	AfterPending bool `json:"afterPending"`
	// Foreign: the filter names tags kubedag does not manage; the target
	// may hold those too, so membership is judged on kubedag's tags only.
	Foreign bool `json:"foreign,omitempty"`
	// Error is set when the filter could not be parsed: membership unknown.
	Error string `json:"error,omitempty"`
}
