package demo

import (
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// printer writes the demo's terminal output: progress lines and step
// tables, each stamped with the time of day.
type printer struct {
	mu  sync.Mutex
	out io.Writer
	now func() time.Time
}

func (p *printer) stamp() string { return p.now().Format("15:04:05.000") }

// progress prints a stamped line.
func (p *printer) progress(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.out, "%s  %s\n", p.stamp(), fmt.Sprintf(format, args...))
}

// note prints an indented, unstamped line.
func (p *printer) note(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.out, "              %s\n", fmt.Sprintf(format, args...))
}

func (p *printer) raw(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	io.WriteString(p.out, s)
}

// row is one IP as the firewall holds it, with the object holding it.
type row struct {
	Owner string // "pod/web-...", "svc/web"
	Node  string
	Tags  []string
}

// table renders what the firewall holds for the demo namespace after each
// step, marking what changed since the previous step. It remembers the last
// owner of every IP it has shown, so a freed IP taken by another object is
// shown as reused.
type table struct {
	preset preset
	ns     string
	prev   map[netip.Addr]row
	owners map[netip.Addr]string // last owner of each IP ever shown
}

func newTable(p preset, ns string) *table {
	return &table{preset: p, ns: ns, prev: map[netip.Addr]row{}, owners: map[netip.Addr]string{}}
}

// Change markers in the first column.
const (
	markNew     = "+"
	markGone    = "-"
	markChanged = "~"
	markReused  = "↺"
)

// render returns the table for w's firewall state (namespace registrations
// only) and a summary of the other registrations, and remembers the state.
func (t *table) render(w world) string {
	mine := t.preset.inNamespace(t.ns, w.Firewall)
	cur := make(map[netip.Addr]row, len(mine))
	for ip, tags := range mine {
		r := row{Owner: "(unknown)", Tags: tags}
		if o, ok := w.byIP(ip); ok {
			r.Owner, r.Node = o.ref(), o.Node
		}
		cur[ip] = r
	}
	ips := make([]netip.Addr, 0, len(cur)+len(t.prev))
	for ip := range cur {
		ips = append(ips, ip)
	}
	for ip := range t.prev {
		if _, ok := cur[ip]; !ok {
			ips = append(ips, ip)
		}
	}
	slices.SortFunc(ips, func(a, b netip.Addr) int {
		// Services (their ClusterIPs) last, then by address.
		sa, sb := strings.HasPrefix(rowOf(cur, t.prev, a).Owner, "svc/"), strings.HasPrefix(rowOf(cur, t.prev, b).Owner, "svc/")
		if sa != sb {
			if sa {
				return 1
			}
			return -1
		}
		return a.Compare(b)
	})

	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "   \tIP\tHELD BY\tNODE\tTAGS\tCHANGE\n")
	for _, ip := range ips {
		r, now := cur[ip]
		p, before := t.prev[ip]
		mark, change := "", ""
		switch {
		case !now:
			mark, change, r = markGone, "unregistered", p
		case before && p.Owner != r.Owner:
			mark, change = markReused, "IP reused, was "+p.Owner+"; "+tagDiff(t.short(p.Tags), t.short(r.Tags))
		case !before && t.owners[ip] != "" && t.owners[ip] != r.Owner:
			mark, change = markReused, "IP reused, was "+t.owners[ip]
		case !before:
			mark, change = markNew, "registered"
		case !slices.Equal(p.Tags, r.Tags):
			mark, change = markChanged, tagDiff(t.short(p.Tags), t.short(r.Tags))
		}
		node := r.Node
		if node == "" {
			node = "-"
		}
		tags := strings.Join(t.short(r.Tags), " ")
		if !now {
			tags = "(none)"
		}
		fmt.Fprintf(tw, " %s\t%s\t%s\t%s\t%s\t%s\n", mark, ip, r.Owner, node, tags, change)
	}
	tw.Flush()
	if other := t.others(w.Firewall, mine); other != "" {
		fmt.Fprintf(&b, "     also registered: %s\n", other)
	}
	for ip, r := range cur {
		t.owners[ip] = r.Owner
	}
	t.prev = cur
	return b.String()
}

func rowOf(cur, prev map[netip.Addr]row, ip netip.Addr) row {
	if r, ok := cur[ip]; ok {
		return r
	}
	return prev[ip]
}

// short abbreviates tags for the table: the namespace tag
// k8s.cl_demo.ns_shop shows as ns_shop, the tags under it as their suffix
// (k8s.cl_demo.ns_shop.app.web as .app.web), others without the cluster
// prefix.
func (t *table) short(tags []string) []string {
	base := t.preset.nsTag(t.ns)
	out := make([]string, len(tags))
	for i, s := range tags {
		switch {
		case s == base:
			out[i] = "ns_" + t.ns
		case strings.HasPrefix(s, base+"."):
			out[i] = strings.TrimPrefix(s, base)
		default:
			out[i] = strings.TrimPrefix(s, t.preset.prefix()+".")
		}
	}
	return out
}

// legend explains the abbreviations of short.
func (t *table) legend() string {
	base := t.preset.nsTag(t.ns)
	return fmt.Sprintf("tags are abbreviated: ns_%s is %s, .app.web is %s.app.web; %s new IP, %s tags changed, %s IP reused by another object, %s unregistered",
		t.ns, base, base, markNew, markChanged, markReused, markGone)
}

// others summarises registrations outside the demo namespace (the
// default/kubernetes ClusterIP, the aggregator's reboot canary, ...).
func (t *table) others(fw, mine map[netip.Addr][]string) string {
	var parts []string
	for ip, tags := range fw {
		if _, ok := mine[ip]; ok {
			continue
		}
		short := t.short(tags)
		if len(short) > 1 {
			short = []string{short[0], fmt.Sprintf("+%d", len(short)-1)}
		}
		parts = append(parts, fmt.Sprintf("%s [%s]", ip, strings.Join(short, " ")))
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

// tagDiff renders the tags added (+) and removed (-) between two sets.
func tagDiff(before, after []string) string {
	var parts []string
	for _, s := range after {
		if !slices.Contains(before, s) {
			parts = append(parts, "+"+s)
		}
	}
	for _, s := range before {
		if !slices.Contains(after, s) {
			parts = append(parts, "-"+s)
		}
	}
	if len(parts) == 0 {
		return "same tags"
	}
	return strings.Join(parts, " ")
}
