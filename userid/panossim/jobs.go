package panossim

import (
	"net/http"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

const maxJobs = 1000

type job struct {
	id       int
	typ      string // Commit or CommitAll
	user     string
	enqueued time.Time
	polls    int
	fail     bool
	details  []string // job details lines (a commit's; a push's are per device)
	// description is the commit's or push's <description>.
	description string
	// Panorama pushes.
	pushType string // shared-policy, template-stack or template
	dgName   string
	devices  []jobDevice
}

// jobDevice is one firewall's part of a push.
type jobDevice struct {
	serial, name string
	fail         bool
	lines        []string // errors lines of the device's commit
}

// commitRequest is a parsed <commit> command.
type commitRequest struct {
	partial  bool
	force    bool            // commit even when nothing is pending
	admins   map[string]bool // nil: every admin
	excluded map[string]bool // "device", "shared", "policy" (policy-and-objects)
	named    map[string]map[string]bool
	xpaths   [][]xpathStep // object-xpaths: only changes to these objects
	// touches reports whether change c writes the object at xpath x.
	touches     func(c change, x []xpathStep) bool
	description string
}

// partialLocations are the location lists a partial commit may name, by
// device kind (true: Panorama): the firewall's vsys; Panorama's device
// groups, templates and stacks, and the log collectors and WildFire
// appliances pango and pan-os-python name (the emulator has none, so no
// change lies there).
var partialLocations = map[bool]map[string]bool{
	false: {"vsys": true},
	true: {"device-group": true, "template": true, "template-stack": true,
		"log-collector": true, "log-collector-group": true,
		"wildfire-appliance": true, "wildfire-appliance-cluster": true},
}

// parseCommit parses the commit forms clients send:
//
//	<commit>[<description>D</description>][<partial>P</partial>][<force/>]</commit>
//	<commit>[<description>D</description>]<force>[<description>D</description>][<partial>P</partial>]</force></commit>
//
// (the documented <commit><force></force></commit>; pango, pan-python and
// pan-os-python's FirewallCommit nest a forced partial in <force>,
// pan-os-python's PanoramaCommit puts <force/> beside it, PowerPAN puts its
// description in <force> or <partial>). It returns the path of an
// unexpected element.
func parseCommit(cmd *node, panorama bool) (commitRequest, []string) {
	var req commitRequest
	var walk func(n *node, path []string) []string
	walk = func(n *node, path []string) []string {
		for _, c := range n.children {
			at := append(append([]string(nil), path...), c.name)
			switch {
			case c.name == "description":
				req.description = c.text
			case c.name == "force" && len(path) == 1:
				req.force = true
				if bad := walk(c, at); bad != nil {
					return bad
				}
			case c.name == "partial" && !req.partial:
				req.partial = true
				if bad := req.parsePartial(c, at, partialLocations[panorama]); bad != nil {
					return bad
				}
			default:
				return at
			}
		}
		return nil
	}
	return req, walk(cmd, []string{"commit"})
}

// parsePartial parses the children of <partial>.
func (req *commitRequest) parsePartial(partial *node, path []string, locations map[string]bool) []string {
	memberSet := func(p *node) (map[string]bool, []string) {
		set := map[string]bool{}
		for _, m := range p.children {
			if m.name != "member" {
				return nil, append(append([]string(nil), path...), p.name, m.name)
			}
			set[m.text] = true
		}
		return set, nil
	}
	for _, p := range partial.children {
		switch {
		case p.name == "description":
			req.description = p.text
		case p.name == "admin":
			set, bad := memberSet(p)
			if bad != nil {
				return bad
			}
			req.admins = set
		case p.name == "device-and-network" || p.name == "shared-object" || p.name == "policy-and-objects":
			// pan-os-python's commit_device_and_network and
			// commit_policy_and_objects send the element empty.
			if p.text != "excluded" && p.text != "" {
				return append(append([]string(nil), path...), p.name, p.text)
			}
			if req.excluded == nil {
				req.excluded = map[string]bool{}
			}
			req.excluded[map[string]string{"device-and-network": "device", "shared-object": "shared", "policy-and-objects": "policy"}[p.name]] = true
		case locations[p.name]:
			set, bad := memberSet(p)
			if bad != nil {
				return bad
			}
			if req.named == nil {
				req.named = map[string]map[string]bool{}
			}
			req.named[p.name] = set
		case p.name == "object-xpaths":
			for _, m := range p.children {
				steps, err := parseXPath(m.text)
				if m.name != "member" || err != nil {
					return append(append([]string(nil), path...), p.name, m.name)
				}
				req.xpaths = append(req.xpaths, steps)
			}
		case p.name == "no-vsys" || p.name == "novsys" || p.name == "no-template" ||
			p.name == "no-template-stack" || p.name == "no-device-group":
		default:
			return append(append([]string(nil), path...), p.name)
		}
	}
	return nil
}

// takes reports whether a partial commit request takes change c: made by
// one of its admins, and in a location it includes. Once any location is
// named, only changes in named locations (and shared and device settings,
// unless excluded) are taken; with object xpaths, only changes to those
// objects.
func (req *commitRequest) takes(c change) bool {
	if !req.partial {
		return true
	}
	if req.admins != nil && !req.admins[c.admin] {
		return false
	}
	if req.xpaths != nil {
		return slices.ContainsFunc(req.xpaths, func(x []xpathStep) bool { return req.touches(c, x) })
	}
	switch c.loc.kind {
	case "shared":
		return !req.excluded["shared"]
	case "device":
		return !req.excluded["device"]
	case "vsys":
		if req.excluded["policy"] {
			return false
		}
	}
	if req.named == nil {
		return true
	}
	set, ok := req.named[c.loc.kind]
	return ok && set[c.loc.name]
}

// touchesLocked reports whether change c writes the object at xpath x: it
// lies at or under x, or (a set of the object under its parent, as clients
// write objects) at an ancestor of x and changes what running holds there.
func (s *Sim) touchesLocked(c change, x []xpathStep) bool {
	if under(c.steps, x) {
		return true
	}
	if !under(x, c.steps) {
		return false
	}
	at := func(root *node) string {
		if n, _ := lookup(root, x); n != nil {
			return n.String()
		}
		return ""
	}
	tmp := s.cfgTree.running.clone()
	c.apply(tmp)
	return at(tmp) != at(s.cfgTree.running)
}

// under reports whether xpath steps lie at or under prefix.
func under(steps, prefix []xpathStep) bool {
	if len(steps) < len(prefix) {
		return false
	}
	for i, st := range prefix {
		if st.name != steps[i].name || !reflect.DeepEqual(st.preds, steps[i].preds) {
			return false
		}
	}
	return true
}

func (s *Sim) commit(w http.ResponseWriter, r *http.Request, user string) result {
	s.mu.Lock()
	s.stats.CommitCalls++
	s.mu.Unlock()
	action := r.Form.Get("action")
	switch action {
	case "", "partial", "all":
	default:
		return writeBadRequest(w, http.StatusBadRequest, `Illegal value for parameter "action" [`+action+`].`)
	}
	all := action == "all"
	nodes, err := parseNodes(r.Form.Get("cmd"))
	if err != nil || len(nodes) != 1 {
		return writeError(w, http.StatusOK, 18, "Malformed Request")
	}
	cmd := nodes[0]
	want := "commit"
	if all {
		want = "commit-all"
	}
	if cmd.name != want || (all && !s.cfg.Panorama) {
		return writeErrorCDATA(w, 17, " "+cmd.name+"  is unexpected")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.commitLockedByOtherLocked(user) { // oplocks.go
		return writeError(w, http.StatusOK, 14, "Other administrators are holding device wide commit locks.")
	}
	if all {
		return s.commitAllLocked(w, cmd, user)
	}
	req, bad := parseCommit(cmd, s.cfg.Panorama)
	if bad != nil {
		return unexpected(w, bad...)
	}
	req.touches = s.touchesLocked
	// A partial commit is documented as type=commit&action=partial, but
	// pan-os-python and pango send <partial> without it (devices take
	// it); action=partial without <partial> has nothing to scope.
	if action == "partial" && !req.partial {
		return writeErrorCDATA(w, 17, " commit -> partial  is missing (action=partial)")
	}
	// An accepted commit ends the committer's locks (oplocks.go).
	s.releaseLocksLocked(user)

	// The config the commit would make running.
	var taken []int
	next := s.cfgTree.candidate.clone()
	if req.partial {
		next = s.cfgTree.running.clone()
		for i, c := range s.changes {
			if req.takes(c) {
				c.apply(next)
				taken = append(taken, i)
			}
		}
		copyUUIDs(next, s.cfgTree.candidate)
		s.stampUUIDs(next)
	}
	if !req.force && next.String() == s.cfgTree.running.String() {
		// Writes that cancel out (a set then its delete) leave nothing to
		// commit; they are forgotten.
		if req.partial {
			s.dropChanges(taken)
		} else {
			s.changes = nil
		}
		return writeXML(w, http.StatusOK, "success", 19,
			`<response status="success" code="19"><msg>There are no changes to commit.</msg></response>`)
	}

	j := s.newJobLocked("Commit", user)
	j.description = req.description
	if s.failJobs > 0 {
		s.failJobs--
		j.fail = true
		j.details = []string{s.failMsg}
		if s.failMsg == "" {
			j.details = []string{"Validation Error: commit failed (injected)"}
		}
	} else if errs := s.validate(next); len(errs) > 0 {
		j.fail = true
		j.details = append(append([]string{"Validation Error:"}, errs...), "Commit failed")
	}
	if !j.fail {
		// The running config changes when the job is accepted; the job
		// then only reports.
		s.cfgTree.running = next
		if req.partial {
			s.dropChanges(taken)
			if len(s.changes) == 0 {
				s.cfgTree.candidate = s.cfgTree.running.clone()
			}
		} else {
			s.changes = nil
		}
		j.details = []string{"Configuration committed successfully"}
	}
	id := strconv.Itoa(j.id)
	return writeXML(w, http.StatusOK, "success", 19,
		`<response status="success" code="19"><result><msg><line>Commit job enqueued with jobid `+id+`</line></msg><job>`+id+`</job></result></response>`)
}

// dropChanges removes the changes at the ascending indexes idx.
func (s *Sim) dropChanges(idx []int) {
	kept := s.changes[:0]
	for i, c := range s.changes {
		if len(idx) > 0 && idx[0] == i {
			idx = idx[1:]
			continue
		}
		kept = append(kept, c)
	}
	s.changes = kept
}

func (s *Sim) newJobLocked(typ, user string) *job {
	j := &job{id: s.nextJob, typ: typ, user: user, enqueued: s.cfg.Now()}
	s.nextJob++
	s.jobs[j.id] = j
	if len(s.jobs) > maxJobs {
		delete(s.jobs, j.id-maxJobs)
	}
	return j
}

// showJobLocked answers show jobs id N; each poll moves the job on.
func (s *Sim) showJobLocked(w http.ResponseWriter, idText string) result {
	id, err := strconv.Atoi(strings.TrimSpace(idText))
	j := s.jobs[id]
	if err != nil || j == nil {
		return writeError(w, http.StatusOK, 0, "job "+strings.TrimSpace(idText)+" not found")
	}
	j.polls++
	var b strings.Builder
	b.WriteString(`<response status="success"><result>`)
	s.writeJobLocked(&b, j)
	b.WriteString(`</result></response>`)
	return writeXML(w, http.StatusOK, "success", 0, b.String())
}

// showJobsAllLocked answers show jobs all: every kept job, newest first.
func (s *Sim) showJobsAllLocked(w http.ResponseWriter) result {
	ids := make([]int, 0, len(s.jobs))
	for id := range s.jobs {
		ids = append(ids, id)
	}
	sort.Sort(sort.Reverse(sort.IntSlice(ids)))
	var b strings.Builder
	b.WriteString(`<response status="success"><result>`)
	for _, id := range ids {
		s.writeJobLocked(&b, s.jobs[id])
	}
	b.WriteString(`</result></response>`)
	return writeXML(w, http.StatusOK, "success", 0, b.String())
}

// writeJobLocked writes one <job> in the shape and field order devices use
// (recorded answers of PAN-OS 10.x/11.x firewalls and Panorama).
func (s *Sim) writeJobLocked(b *strings.Builder, j *job) {
	done := s.cfg.JobPolls < 0 || j.polls > s.cfg.JobPolls
	ts := func(t time.Time) string { return t.Format("2006/01/02 15:04:05") }
	b.WriteString(`<job><tenq>` + ts(j.enqueued) + `</tenq><tdeq>` + j.enqueued.Format("15:04:05") + `</tdeq>`)
	b.WriteString(`<id>` + strconv.Itoa(j.id) + `</id><user>` + escape(j.user) + `</user><type>` + j.typ + `</type>`)
	status, res, progress, tfin := "ACT", "PEND", "50", "Still Active"
	if done {
		status, progress, res, tfin = "FIN", "100", "OK", ts(s.cfg.Now())
		if j.fail {
			res = "FAIL"
		}
	}
	b.WriteString(`<status>` + status + `</status><queued>NO</queued><stoppable>no</stoppable><result>` + res + `</result>`)
	b.WriteString(`<tfin>` + tfin + `</tfin>`)
	if j.description == "" {
		b.WriteString(`<description/>`)
	} else {
		b.WriteString(`<description>` + escape(j.description) + `</description>`)
	}
	b.WriteString(`<positionInQ>0</positionInQ><progress>` + progress + `</progress>`)
	if j.typ != "CommitAll" {
		writeLines(b, "details", doneLines(done, j.details))
		b.WriteString(`<warnings/></job>`)
		return
	}
	if !done {
		b.WriteString(`<warnings/><details/></job>`)
		return
	}
	b.WriteString(`<push_type>` + j.pushType + `</push_type>`)
	if j.dgName != "" {
		b.WriteString(`<dgname>` + escape(j.dgName) + `</dgname>`)
	}
	b.WriteString(`<warnings/>`)
	if len(j.details) > 0 {
		writeLines(b, "details", j.details)
	}
	b.WriteString(`<devices>`)
	id := strconv.Itoa(j.id)
	for _, d := range j.devices {
		dstatus, dres, mres := "commit succeeded", "OK", "success"
		if d.fail {
			dstatus, dres, mres = "commit failed", "FAIL", "failure"
		}
		b.WriteString(`<entry><serial-no>` + escape(d.serial) + `</serial-no><devicename>` + escape(d.name) + `</devicename>`)
		b.WriteString(`<multi-vsys>no</multi-vsys><vsys/><status>` + dstatus + `</status><result>` + dres + `</result>`)
		b.WriteString(`<tstart>` + j.enqueued.Format("15:04:05") + `</tstart><tfin>` + s.cfg.Now().Format("15:04:05") + `</tfin>`)
		b.WriteString(`<details><msg cmd="push-data" dname="` + escapeAttr(d.serial) + `"`)
		if j.dgName != "" {
			b.WriteString(` dgname="` + escapeAttr(j.dgName) + `"`)
		}
		b.WriteString(` jobid="` + id + `" result="` + mres + `">`)
		writeLines(b, "errors", d.lines)
		b.WriteString(`<warnings/></msg></details></entry>`)
	}
	b.WriteString(`</devices></job>`)
}

func doneLines(done bool, lines []string) []string {
	if !done {
		return nil
	}
	return lines
}

// writeLines writes <name><line>..</line>...</name>, or <name/>.
func writeLines(b *strings.Builder, name string, lines []string) {
	if len(lines) == 0 {
		b.WriteString("<" + name + "/>")
		return
	}
	b.WriteString("<" + name + ">")
	for _, l := range lines {
		b.WriteString(`<line>` + escape(l) + `</line>`)
	}
	b.WriteString("</" + name + ">")
}
