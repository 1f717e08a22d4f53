package userid

import (
	"context"
	"encoding/xml"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/kubedag/kubedag/tags/dagfilter"
)

// Scopes of a DAGLocation.
const (
	ScopeShared      = "shared"
	ScopeVsys        = "vsys"
	ScopeDeviceGroup = "device-group"
)

// DAGLocation is where an address group is defined: shared, a firewall
// vsys or a Panorama device group (Name is empty for shared).
type DAGLocation struct {
	Scope, Name string
}

func (l DAGLocation) String() string {
	if l.Scope == ScopeShared {
		return ScopeShared
	}
	return l.Scope + " " + l.Name
}

// DAGFilter is one Dynamic Address Group of a device's running config.
// Err is set (a *dagfilter.SyntaxError) when Filter does not parse; the
// group is reported, not skipped, so the caller can say which DAG it
// cannot honour.
type DAGFilter struct {
	Location DAGLocation
	Group    string
	Filter   string
	Expr     dagfilter.Expr
	Err      error
}

const localhost = "/config/devices/entry[@name='localhost.localdomain']"

// DAGFilters reads every Dynamic Address Group filter of the running
// config: shared and each vsys on a firewall, shared and each device group
// on Panorama (both lists are read, so the caller need not say which kind
// of device it is). Groups come sorted by location, then name. Static
// address groups are skipped. Reads are retried like Show.
func (c *Client) DAGFilters(ctx context.Context) ([]DAGFilter, error) {
	locs := []DAGLocation{{Scope: ScopeShared}}
	for _, scope := range []string{ScopeVsys, ScopeDeviceGroup} {
		names, err := c.entryNames(ctx, localhost+"/"+scope)
		if err != nil {
			return nil, fmt.Errorf("pan-os dag filters: list %s: %w", scope, err)
		}
		for _, n := range names {
			locs = append(locs, DAGLocation{Scope: scope, Name: n})
		}
	}
	var out []DAGFilter
	for _, l := range locs {
		xpath := "/config/shared/address-group"
		if l.Scope != ScopeShared {
			if strings.ContainsRune(l.Name, '\'') {
				// PAN-OS names cannot hold a quote; an XPath literal could not either.
				return nil, fmt.Errorf("pan-os dag filters: %s: name holds a quote", l)
			}
			xpath = localhost + "/" + l.Scope + "/entry[@name='" + l.Name + "']/address-group"
		}
		data, err := c.Show(ctx, xpath)
		if IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("pan-os dag filters: read %s: %w", l, err)
		}
		var groups struct {
			Entries []struct {
				Name   string  `xml:"name,attr"`
				Filter *string `xml:"dynamic>filter"`
			} `xml:"address-group>entry"`
		}
		if err := xml.Unmarshal(wrapResult(data), &groups); err != nil {
			return nil, fmt.Errorf("pan-os dag filters: decode %s: %w", l, err)
		}
		start := len(out)
		for _, g := range groups.Entries {
			if g.Filter == nil {
				continue // a static group
			}
			f := DAGFilter{Location: l, Group: g.Name, Filter: *g.Filter}
			f.Expr, f.Err = dagfilter.Parse(f.Filter)
			out = append(out, f)
		}
		sort.Slice(out[start:], func(i, j int) bool { return out[start+i].Group < out[start+j].Group })
	}
	return out, nil
}

// entryNames lists the names of the entries under container (running
// config), none when the container does not exist.
func (c *Client) entryNames(ctx context.Context, container string) ([]string, error) {
	data, err := c.Show(ctx, container+"/entry/@name")
	if IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var r struct {
		Entries []struct {
			Name string `xml:"name,attr"`
		} `xml:"entry"`
	}
	if err := xml.Unmarshal(wrapResult(data), &r); err != nil {
		return nil, fmt.Errorf("decode entry names: %w", err)
	}
	names := make([]string, 0, len(r.Entries))
	for _, e := range r.Entries {
		names = append(names, e.Name)
	}
	sort.Strings(names)
	return names, nil
}

// wrapResult makes the inner XML of <result> (several sibling elements)
// one document.
func wrapResult(inner []byte) []byte {
	return append(append([]byte("<result>"), inner...), "</result>"...)
}

// DeviceGroupParents reads Panorama's device-group hierarchy (op show
// dg-hierarchy): each device group's parent, "" for one at the top level
// (whose parent is shared). A DAG defined in a device group or any of its
// ancestors, or in shared, applies to the firewalls of that group.
func (c *Client) DeviceGroupParents(ctx context.Context) (map[string]string, error) {
	data, err := c.Op(ctx, "<show><dg-hierarchy></dg-hierarchy></show>")
	if err != nil {
		return nil, fmt.Errorf("pan-os device-group hierarchy: %w", err)
	}
	type dg struct {
		Name string `xml:"name,attr"`
		Kids []dg   `xml:"dg"`
	}
	var r struct {
		Top []dg `xml:"dg-hierarchy>dg"`
	}
	if err := xml.Unmarshal(wrapResult(data), &r); err != nil {
		return nil, fmt.Errorf("pan-os device-group hierarchy: decode: %w", err)
	}
	out := map[string]string{}
	var walk func(parent string, gs []dg)
	walk = func(parent string, gs []dg) {
		for _, g := range gs {
			out[g.Name] = parent
			walk(g.Name, g.Kids)
		}
	}
	walk("", r.Top)
	return out, nil
}

// LastCommit returns the id of the newest finished commit job (type
// Commit) in show jobs all, 0 when there is none: a cheap probe for "the
// running config may have changed", one call instead of re-reading every
// DAG. A device trims its job list, so only a change of the id means
// something, not its value.
func (c *Client) LastCommit(ctx context.Context) (int, error) {
	res, err := c.Op(ctx, "<show><jobs><all></all></jobs></show>")
	if err != nil {
		return 0, fmt.Errorf("pan-os last commit: %w", err)
	}
	var x struct {
		Job []xmlJob `xml:"job"`
	}
	if err := unmarshalFragment(res, &x); err != nil {
		return 0, fmt.Errorf("%w: jobs result: %v", ErrMalformed, err)
	}
	last := 0
	for _, j := range x.Job {
		if !strings.EqualFold(strings.TrimSpace(j.Type), "Commit") || !strings.EqualFold(strings.TrimSpace(j.Status), "FIN") {
			continue
		}
		id, err := strconv.Atoi(strings.TrimSpace(j.ID))
		if err != nil {
			return 0, fmt.Errorf("%w: job id %q", ErrMalformed, j.ID)
		}
		last = max(last, id)
	}
	return last, nil
}
