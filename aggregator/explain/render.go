package explain

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Render writes r for humans: each object's tags and where they come
// from, then each IP's claims and every target's state and DAGs. Times
// are shown relative to r.At.
func Render(w io.Writer, r Report) error {
	p := &printer{w: w, at: r.At}
	for i, o := range r.Objects {
		if i > 0 {
			p.line("")
		}
		p.object(o)
	}
	for _, ip := range r.IPs {
		p.line("")
		p.ip(ip)
	}
	if r.Hidden > 0 {
		p.line("")
		p.line("%d owner(s) or claim(s) of these IPs are hidden: you may not get them", r.Hidden)
	}
	if len(r.Notes) > 0 {
		p.line("")
		for _, n := range r.Notes {
			p.line("Note: %s", n)
		}
	}
	return p.err
}

type printer struct {
	w   io.Writer
	at  time.Time
	err error
}

func (p *printer) line(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format+"\n", args...)
	}
}

// table writes rows of tab-separated cells, aligned, indented by indent.
func (p *printer) table(indent string, rows [][]string) {
	if p.err != nil || len(rows) == 0 {
		return
	}
	tw := tabwriter.NewWriter(p.w, 0, 4, 2, ' ', 0)
	for _, r := range rows {
		fmt.Fprintln(tw, indent+strings.Join(r, "\t"))
	}
	p.err = tw.Flush()
}

func (p *printer) object(o Object) {
	head := fmt.Sprintf("%s %s/%s", o.Kind, o.Namespace, o.Name)
	var facts []string
	if o.Node != "" {
		facts = append(facts, "node "+o.Node)
	}
	if o.Owner != "" {
		facts = append(facts, "owner "+strings.Replace(o.Owner, "/", " ", 1))
	}
	if len(o.Services) > 0 {
		facts = append(facts, "in Services "+strings.Join(o.Services, ", "))
	}
	if len(facts) > 0 {
		head += " (" + strings.Join(facts, ", ") + ")"
	}
	p.line("%s", head)
	if len(o.IPs) > 0 {
		p.line("  IPs: %s", strings.Join(o.IPs, ", "))
	}
	p.line("  Tags wanted (preset %s, at most %d per IP, highest priority first):", o.Preset, o.MaxTags)
	var rows [][]string
	for _, t := range o.Tags {
		status := "kept"
		switch t.Status {
		case "over-limit":
			status = fmt.Sprintf("DROPPED: over the %d-tag limit", o.MaxTags)
		case "duplicate":
			status = "duplicate of a tag above"
		}
		if len(t.Repaired) > 0 {
			status += " (repaired: " + strings.Join(t.Repaired, ", ") + ")"
		}
		rows = append(rows, []string{t.Tag, "from " + t.From, status})
	}
	if len(rows) == 0 {
		p.line("    none")
	}
	p.table("    ", rows)
	if len(o.NotTagged) > 0 {
		p.line("  Not tagged:")
		rows = rows[:0]
		for _, n := range o.NotTagged {
			what := n.Reason
			if n.Label != "" {
				what = "label " + n.Label
			}
			rows = append(rows, []string{what, n.Reason, n.Detail})
		}
		p.table("    ", rows)
	}
}

func (p *printer) ip(ip IP) {
	head := "IP " + ip.IP
	if ip.Conflict {
		head += "  CONFLICT: several owners claim it (IP reuse); only the tags they share are registered"
	}
	p.line("%s", head)
	if len(ip.Claims) == 0 {
		p.line("  Claimed by: nobody you may see")
	}
	for _, c := range ip.Claims {
		seen := ""
		if c.FirstSeen != nil {
			seen = ", changed " + p.ago(*c.FirstSeen)
		}
		p.line("  Claimed by: %s via %s%s (%d tags)", c.Owner, c.Source, seen, len(c.Tags))
	}
	for _, a := range ip.AgentClaims {
		s := fmt.Sprintf("  Agent on node %s claims it for pod %s: %s", a.Node, a.Pod, a.State)
		if a.Reason != "" {
			s += " (" + a.Reason + ")"
		}
		if a.Deadline != nil {
			s += ", refused " + p.in(*a.Deadline) + " unless the API server confirms it"
		}
		p.line("%s", s)
	}
	p.line("  Desired: %d tags", len(ip.Desired))
	if ip.HiddenTags > 0 {
		p.line("  (%d tags of owners you may not see are left out)", ip.HiddenTags)
	}
	for _, t := range ip.Targets {
		p.target(t)
	}
}

func (p *printer) target(t Target) {
	health := "healthy"
	switch {
	case t.CapacityFull:
		health = "FULL: registered-IP capacity reached"
	case !t.Healthy && t.LastError != "":
		health = "UNHEALTHY: " + t.LastError
	case !t.Healthy:
		health = "unhealthy"
	}
	p.line("  Target %s (%s):", t.Name, health)
	if !t.Known {
		p.line("    holds: unknown (%s)", t.Error)
	} else {
		s := fmt.Sprintf("    holds %d kubedag tags", len(t.Holds))
		if len(t.Register) == 0 && len(t.Unregister) == 0 && !t.Uncertain {
			s += ", in sync"
		}
		if t.Confirmed != nil {
			s += fmt.Sprintf("; confirmed %s (%s)", p.ago(*t.Confirmed), t.ConfirmedBy)
		}
		if t.Expires != nil {
			s += "; expires " + p.in(*t.Expires)
		}
		p.line("%s", s)
		for _, tag := range t.Pruned {
			p.line("      pruned (no DAG uses it): %s", tag)
		}
		for _, tag := range t.Register {
			p.line("      pending register:   %s", tag)
		}
		for _, tag := range t.Unregister {
			p.line("      pending unregister: %s", tag)
		}
		if t.Uncertain {
			p.line("      the last call's outcome is unknown: the IP is re-sent in full")
		}
	}
	if t.LastLatency != "" {
		p.line("    last tag latency: %s", t.LastLatency)
	}
	if t.Refusals > 0 || t.LastRefusal != "" {
		p.line("    REFUSED by the target (%d in a row): %s", t.Refusals, t.LastRefusal)
	}
	if t.DAGsReadAt == nil {
		p.line("    DAGs: not read from this target (yet)")
		return
	}
	if len(t.DAGs) == 0 {
		p.line("    DAGs: in none (filters read %s)", p.ago(*t.DAGsReadAt))
		return
	}
	p.line("    DAGs (filters read %s):", p.ago(*t.DAGsReadAt))
	var rows [][]string
	for _, d := range t.DAGs {
		var state string
		switch {
		case d.Error != "":
			state = "CANNOT EVALUATE: " + d.Error
		case d.Now && d.AfterPending:
			state = "member"
		case d.Now:
			state = "member now, LEAVES once pending changes land"
		default:
			state = "JOINS once pending changes land"
		}
		if d.Foreign {
			state += " (filter uses tags kubedag does not manage)"
		}
		rows = append(rows, []string{d.Location, d.Name, state, d.Filter})
	}
	p.table("      ", rows)
}

func (p *printer) ago(t time.Time) string {
	d := p.at.Sub(t)
	switch {
	case d >= time.Minute:
		d = d.Round(time.Second)
	case d >= time.Second:
		d = d.Round(100 * time.Millisecond)
	default:
		d = d.Round(time.Millisecond)
	}
	if d < 0 {
		return t.UTC().Format(time.RFC3339)
	}
	return fmt.Sprintf("%s ago (%s)", d, t.UTC().Format(time.RFC3339))
}

func (p *printer) in(t time.Time) string {
	d := t.Sub(p.at).Round(time.Second)
	if d < 0 {
		return "at " + t.UTC().Format(time.RFC3339)
	}
	return "in " + d.String()
}
