// Package tags derives PAN-OS tag names from Kubernetes identity.
//
// It is shared by the agent (which turns pods into Identities) and the
// aggregator (which turns Identities and Services into tag Sets), so a
// tag is computed the same way wherever it is computed.
//
// # Usage
//
//	d, err := tags.NewDeriver(tags.Config{Cluster: "prod"}) // preset k8s
//	if err != nil { ... }                                  // names the bad field
//	in := tags.NewInterner()
//	set, problems := d.Tags(identity)
//	for _, p := range problems { log/count p.Reason }      // never ignore them
//	set = in.Intern(set)                                   // equal sets share storage;
//	...                                                    // in.Release(set) when dropped
//	...
//	if d.Owns(tagOnFirewall) { may unregister it }
//
// A Deriver is immutable and safe for concurrent use; Tags allocates only
// the resulting Set (three allocations) and the Problems, if any.
//
// # Presets
//
// Formats below use the default prefixes; <ns> is the namespace, <name>
// the object's name. Every tag is then sanitised (see Sanitising).
//
// Preset "k8s" (default) reproduces the Panorama Kubernetes plugin (the
// CN-series "IP-address-to-tag mapping of Kubernetes attributes"), so
// existing Dynamic Address Group match criteria keep working. Prefix:
// "k8s.cl_<cluster>".
//
//	namespace  k8s.cl_<cluster>.ns_<ns>                   pod IPs and service IPs of <ns>
//	owner      k8s.cl_<cluster>.ns_<ns>.rs_<replicaset>   pod IPs (OwnerKind ReplicaSet)
//	           k8s.cl_<cluster>.ns_<ns>.ds_<daemonset>    pod IPs (OwnerKind DaemonSet)
//	           k8s.cl_<cluster>.ns_<ns>.ss_<statefulset>  pod IPs (OwnerKind StatefulSet)
//	service    k8s.cl_<cluster>.ns_<ns>.svc_<service>     the service's IPs and its pods' IPs
//	label      k8s.cl_<cluster>.ns_<ns>.<key>.<value>     pod IPs (pod labels), service IPs (service labels)
//	           k8s.cl_<cluster>.ns_<ns>.<key>             the same, for a label with an empty value
//
// For example a pod of Deployment "web" in namespace "shop" of cluster
// "prod", labelled app=web, behind Service "web":
//
//	k8s.cl_prod.ns_shop
//	k8s.cl_prod.ns_shop.rs_web-6d4b9c7f5
//	k8s.cl_prod.ns_shop.svc_web
//	k8s.cl_prod.ns_shop.app.web
//
// and the Service's ClusterIP: k8s.cl_prod.ns_shop, k8s.cl_prod.ns_shop.svc_web
// and its label tags. Other owner kinds (Job, custom controllers) have no
// format; they are reported (ReasonUnsupportedOwner) and the pod keeps its
// other tags. The namespace, owner and service formats are the plugin's
// documented ones; the label format follows the same scheme and is
// namespaced so equal labels in two namespaces stay apart. Note that, as
// with the plugin, the formats can overlap: a label "rs_web" with value
// "1" gives the same tag as ReplicaSet "web.1".
//
// Preset "aks" reproduces the Panorama Azure plugin's AKS service tags.
// Prefix: "aks.<cluster>" (cannot be changed). By default only Services
// are tagged (Kinds: [Service]):
//
//	service    aks.<cluster>.<service>                     service IPs
//	label      aks.<cluster>.svc.<key>.<value>             service IPs (service labels)
//	selector   aks_<selector>.<cluster>.<service>          service IPs, if the service has a selector
//
// <selector> is the service's spec.selector as "key_value" pairs sorted by
// key and joined by "_", with every character outside [A-Za-z0-9_-]
// (including '.') replaced by '_', and cut with a hash beyond 48
// characters; for selector app=web: aks_app_web.east.web. The AKS formats
// carry no namespace: services of one name in two namespaces share tags.
// With Kinds including Pod (a kubedag extension), a pod gets
// aks.<cluster>.<service> for each of its services and
// aks.<cluster>.pod.<key>.<value> for its labels.
//
// Preset "custom" runs Config.Template, a Go text/template, on a
// TemplateData (the Identity, labels already filtered, plus .Cluster and
// .Prefix). Each non-blank output line, trimmed, is one tag suffix: the tag
// is Prefix + "." + line. Default prefix "kubedag.cl_<cluster>". Example:
//
//	ns.{{.Namespace}}
//	{{if .OwnerName}}wl.{{.OwnerName}}{{end}}
//	{{range $k, $v := .Labels}}{{$k}}.{{$v}}
//	{{end}}
//
// gives kubedag.cl_prod.ns.shop, kubedag.cl_prod.wl.web-6d4b9c7f5,
// kubedag.cl_prod.app.web for the pod above. A template that fails on an
// Identity gives it no tags and a ReasonTemplate Problem; NewDeriver
// rejects templates that fail on a sample pod.
//
// # Secondary (Multus) interfaces
//
// An IP of a pod's secondary interface (Identity.Network set: the network
// attachment's "namespace/name" from the pod's network-status annotation)
// carries the pod's tags plus a network tag, right after the namespace
// tag in priority:
//
//	k8s     k8s.cl_<cluster>.net_<nadns>.<attachment>
//	aks     aks.<cluster>.net_<nadns>.<attachment>     (with Kinds including Pod)
//	custom  the template's lines; .Network is the attachment's name
//
// <nadns> is the attachment's namespace, the pod's if the name has none:
// k8s.cl_prod.net_shop.macvlan-conf for "shop/macvlan-conf".
//
// # Nodes
//
// With Config.Nodes (off by default) the aggregator tags every Node's own
// addresses from its Node informer (NodeTags); agents never claim nodes,
// and a pod IP never gets node tags. The formats are the same in every
// preset (the custom Template is not used for nodes), <prefix> being the
// preset's prefix:
//
//	cluster node  <prefix>.nodes                    every InternalIP of every Node
//	              aks.<cluster>.cluster_nodes       the same, aks preset (a Service
//	                                                could be named "nodes"; none
//	                                                can contain '_')
//	external      <prefix>.nodes.external           every ExternalIP, with NodeExternalIPs
//	              aks.<cluster>.cluster_nodes.external
//	label         <prefix>.node.<key>.<value>       both, for the node labels NodeLabels
//	              <prefix>.node.<key>               allows (default: DefaultNodeLabels)
//
// For example node ip-10-0-1-5 of cluster "prod" in zone eu-west-1a, node
// group ng-1: its InternalIP carries k8s.cl_prod.nodes,
// k8s.cl_prod.node.topology.kubernetes.io_zone.eu-west-1a and
// k8s.cl_prod.node.eks.amazonaws.com_nodegroup.ng-1. A Dynamic Address
// Group with the match criterion 'k8s.cl_prod.nodes' holds exactly the
// cluster's nodes, as they come and go: it replaces the address group of
// the cluster's subnet that the Azure plugin's guide has users build by
// hand so node <-> control-plane traffic passes a restrictive policy.
// Priority: the cluster (or external) node tag, then labels by key.
//
// # Options
//
// LabelAllow / LabelDeny (glob patterns on label keys, '*' crossing '/'),
// Kinds (Pod, Service), Nodes, NodeExternalIPs, NodeLabels,
// NoNamespaceTags, NoOwnerTags, NoServiceTags, NoLabelTags (pods and
// services) and MaxTags select what is tagged; see Config. Every label or
// object left out by them is reported (ReasonDenied, ReasonKindExcluded).
//
// # Sanitising
//
// PAN-OS tag names are at most 127 characters; the allowed alphabet is
// taken conservatively as [A-Za-z0-9._-]. Every other character (one per
// UTF-8 character, or per byte of invalid UTF-8) becomes '_'
// (ReasonInvalidChars), so "app.kubernetes.io/name" appears in tags as
// "app.kubernetes.io_name". A longer name keeps its first 110 characters
// followed by "-" and 16 hex digits of the SHA-256 of the unsanitised name
// (ReasonTruncated): distinct long names get distinct tags even when they
// share those 110 characters, and a hashed name never equals an unhashed
// one (see Sanitize). The prefix (at most 64 characters) always survives.
//
// # Ownership
//
// Every tag starts with Prefix + "." (for aks, the aks_<selector> tags
// carry ".<cluster>." right after their dot-free first segment instead).
// Cluster names contain no '.', so cluster "prod" never owns the tags of
// cluster "prod2" or "prod.x": Owns is the test the aggregator applies
// before unregistering anything.
//
// # The 32-tag limit
//
// PAN-OS registers at most 32 tags per IP; Config.MaxTags (default 32)
// may lower it. Tags are kept in this priority order, and the rest are
// dropped and reported one by one (ReasonOverLimit):
//
//	nodes:  cluster (or external) node tag > labels (by label key), every preset
//	k8s:    namespace > network > owner > services (by service name) > labels (by label key)
//	        (a Service's own svc_ tag comes before its label tags)
//	aks:    service > selector > network > services of a pod (by name) > labels (by key)
//	custom: template output order
//
// Duplicate tags count once, at their highest priority. Priority decides
// only what is kept; a Set is always sorted.
//
// # Sets and interning
//
// A Set stores its tags once, as substrings of one joined key, with a hash
// so unequal sets compare in O(1) time. An Interner (an LRU of distinct
// sets) makes equal sets share that storage, so an IP costs one pointer
// and Equal on interned sets is a pointer comparison.
package tags
