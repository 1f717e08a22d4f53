package userid

import (
	"context"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// RegisteredIPPage is how many entries RegisteredIPs asks for per call, the
// PAN-OS maximum.
const RegisteredIPPage = 500

// RegisteredIP is one IP the device holds tags for.
type RegisteredIP struct {
	IP netip.Addr
	// Tags in the device's order; Timeout is the remaining time where the
	// device reports one, 0 otherwise.
	Tags []Tag
	// Persistent is false for persistent="0" registrations, which a reboot
	// drops.
	Persistent bool
}

// RegisteredIPs lists the device's registered IPs (op show object
// registered-ip), all of them or only those carrying tag, paging 500 at a
// time until a short page. Config.ListConcurrency pages are in flight at
// once (consecutive start-points; as one answers the next is asked), so a
// large listing takes a fraction of the round trips' sum; pages are merged
// in order. Entries that are not single IPs (PAN-OS 10.0+ ranges and
// subnets) are skipped. The answer is sorted by IP; an IP reported twice
// (the set changed while paging) keeps its last answer. Equal tag names
// share one string.
func (c *Client) RegisteredIPs(ctx context.Context, tag string) ([]RegisteredIP, error) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }() // pages still in flight are not needed
	type answer struct {
		i   int // page index: start-point 1 + i*RegisteredIPPage
		p   registeredPage
		err error
	}
	window := c.cfg.ListConcurrency
	answers := make(chan answer, window) // never more in flight: sends do not block
	ready := make(map[int]registeredPage)
	var m registeredMerge
	skipped, next, merged, inFlight := 0, 0, 0, 0
	short := -1 // the first short page answered: the last one to ask for
	for {
		// Keep window pages in flight, at most 2*window pages ahead of
		// the merge (answers out of order wait in ready), none after a
		// short page.
		for inFlight < window && next < merged+2*window && (short < 0 || next <= short) {
			i := next
			next++
			inFlight++
			wg.Add(1)
			go func() {
				defer wg.Done()
				p, err := c.registeredPage(ctx, tag, 1+i*RegisteredIPPage)
				answers <- answer{i, p, err}
			}()
		}
		a := <-answers
		inFlight--
		if a.err != nil {
			return nil, a.err
		}
		ready[a.i] = a.p
		if a.p.n != RegisteredIPPage && (short < 0 || a.i < short) {
			short = a.i
		}
		for {
			p, ok := ready[merged]
			if !ok {
				break
			}
			delete(ready, merged)
			skipped += p.skipped
			added := m.add(p.entries)
			if p.n != RegisteredIPPage {
				// A short page ends the list (later pages are empty); a
				// longer one means the device ignores limit (no paging
				// before PAN-OS 8.0) and sent it all.
				if skipped > 0 {
					c.log.DebugContext(ctx, "skipped registered entries that are not single IPs", "count", skipped)
				}
				return m.result(), nil
			}
			if added == 0 && len(p.entries) > 0 {
				return nil, fmt.Errorf("list registered IPs: page at %d repeats earlier entries; the device ignores start-point", 1+merged*RegisteredIPPage)
			}
			merged++
		}
	}
}

// registeredMerge gathers a listing's pages. Devices list in address
// order, so while every page continues after the last one the entries are
// simply appended; out of order, a set of the IPs seen finds repeats, and
// the result is sorted at the end.
type registeredMerge struct {
	all      []RegisteredIP
	seen     map[netip.Addr]struct{} // nil while in order
	names    map[string]string       // the listing's interned tag names
	unsorted bool
}

// add appends a page's entries and returns how many IPs were new.
func (m *registeredMerge) add(entries []RegisteredIP) (added int) {
	if m.names == nil {
		m.names = make(map[string]string)
	}
	for i := range entries {
		// Pages intern their own names (in parallel); one string per
		// name over the whole listing.
		for j := range entries[i].Tags {
			t := &entries[i].Tags[j]
			if s, ok := m.names[t.Name]; ok {
				t.Name = s
			} else {
				m.names[t.Name] = t.Name
			}
		}
	}
	if m.seen == nil && inOrderAfter(m.all, entries) {
		m.all = append(m.all, entries...)
		return len(entries)
	}
	if m.seen == nil {
		m.seen = make(map[netip.Addr]struct{}, len(m.all)+len(entries))
		for _, r := range m.all {
			m.seen[r.IP] = struct{}{}
		}
		m.unsorted = true
	}
	for _, r := range entries {
		if _, ok := m.seen[r.IP]; !ok {
			m.seen[r.IP] = struct{}{}
			added++
		}
	}
	m.all = append(m.all, entries...)
	return added
}

// inOrderAfter reports whether page is strictly increasing and after all.
func inOrderAfter(all, page []RegisteredIP) bool {
	if len(page) == 0 {
		return true
	}
	if len(all) > 0 && all[len(all)-1].IP.Compare(page[0].IP) >= 0 {
		return false
	}
	for i := 1; i < len(page); i++ {
		if page[i-1].IP.Compare(page[i].IP) >= 0 {
			return false
		}
	}
	return true
}

// result returns the entries sorted by IP, the last answer for each.
func (m *registeredMerge) result() []RegisteredIP {
	if !m.unsorted {
		return m.all
	}
	slices.SortStableFunc(m.all, func(a, b RegisteredIP) int { return a.IP.Compare(b.IP) })
	out := m.all[:0]
	for i, r := range m.all {
		if i+1 < len(m.all) && m.all[i+1].IP == r.IP {
			continue // a later answer for the same IP follows
		}
		out = append(out, r)
	}
	return out
}

// registeredPage is one page of a registered-IP listing.
type registeredPage struct {
	entries    []RegisteredIP
	n, skipped int
}

// registeredPage fetches the page at start (1-based).
func (c *Client) registeredPage(ctx context.Context, tag string, start int) (registeredPage, error) {
	params := url.Values{"type": {"op"}, "cmd": {registeredIPCmd(tag, RegisteredIPPage, start)}}
	if c.cfg.Vsys != "" {
		params.Set("vsys", c.cfg.Vsys)
	}
	if c.cfg.Target != "" {
		params.Set("target", c.cfg.Target)
	}
	var (
		page registeredPage
		read bool // by the last attempt's fast path
	)
	names := make(map[string]string)
	fast := func(body []byte) bool {
		page, read = fastRegisteredPage(body, names)
		return read
	}
	resp, err := c.do(ctx, request{op: "show registered-ip", params: params, safe: true, fast: fast})
	if err != nil {
		return registeredPage{}, fmt.Errorf("list registered IPs from %d: %w", start, err)
	}
	if read {
		return page, nil
	}
	entries, n, skipped, err := parseRegisteredIPs(resp.Result)
	if err != nil {
		return registeredPage{}, fmt.Errorf("list registered IPs from %d: %w", start, err)
	}
	return registeredPage{entries: entries, n: n, skipped: skipped}, nil
}

// registeredIPCmd builds the op command for one page; start is 1-based.
func registeredIPCmd(tag string, limit, start int) string {
	var b strings.Builder
	b.WriteString("<show><object><registered-ip>")
	if tag == "" {
		b.WriteString("<all/>")
	} else {
		b.WriteString(`<tag><entry name="`)
		b.WriteString(xmlEscape(tag))
		b.WriteString(`"/></tag>`)
	}
	fmt.Fprintf(&b, "<limit>%d</limit><start-point>%d</start-point>", limit, start)
	b.WriteString("</registered-ip></object></show>")
	return b.String()
}

type xmlRegisteredResult struct {
	Entries []struct {
		IP         string `xml:"ip,attr"`
		Persistent string `xml:"persistent,attr"`
		Members    []struct {
			Name    string `xml:",chardata"`
			Timeout string `xml:"timeout,attr"`
		} `xml:"tag>member"`
	} `xml:"entry"`
}

// parseRegisteredIPs parses the <result> of show object registered-ip. n
// counts all entries of the page (including skipped non-IP ones), for the
// short-page test.
func parseRegisteredIPs(result []byte) (out []RegisteredIP, n, skipped int, err error) {
	if result == nil {
		return nil, 0, 0, fmt.Errorf("%w: registered-ip answer has no <result>", ErrMalformed)
	}
	var x xmlRegisteredResult
	if err := unmarshalFragment(result, &x); err != nil {
		return nil, 0, 0, fmt.Errorf("%w: registered-ip result: %v", ErrMalformed, err)
	}
	for _, e := range x.Entries {
		ip, perr := netip.ParseAddr(strings.TrimSpace(e.IP))
		if perr != nil {
			skipped++
			continue
		}
		r := RegisteredIP{IP: ip.Unmap(), Persistent: strings.TrimSpace(e.Persistent) != "0"}
		for _, m := range e.Members {
			t := Tag{Name: strings.TrimSpace(m.Name)}
			if t.Name == "" {
				continue
			}
			if secs, err := strconv.ParseInt(strings.TrimSpace(m.Timeout), 10, 64); err == nil && secs > 0 && secs <= int64(MaxTagTimeout/time.Second) {
				t.Timeout = time.Duration(secs) * time.Second
			}
			r.Tags = append(r.Tags, t)
		}
		out = append(out, r)
	}
	return out, len(x.Entries), skipped, nil
}
