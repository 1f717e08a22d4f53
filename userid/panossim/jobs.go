package panossim

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

const maxJobs = 1000

type job struct {
	id          int
	typ         string // Commit or CommitAll
	user        string
	deviceGroup string
	enqueued    time.Time
	polls       int
	fail        bool
	details     string
}

func (s *Sim) commit(w http.ResponseWriter, r *http.Request, user string) result {
	s.mu.Lock()
	s.stats.CommitCalls++
	s.mu.Unlock()
	all := r.Form.Get("action") == "all"
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
	j := &job{id: s.nextJob, typ: "Commit", user: user, enqueued: s.cfg.Now()}
	if all {
		j.typ = "CommitAll"
		if sp := cmd.child("shared-policy"); sp != nil {
			if dg := sp.child("device-group"); dg != nil {
				if e := dg.child("entry"); e != nil {
					j.deviceGroup, _ = e.attr("name")
				}
			}
		}
		if j.deviceGroup == "" {
			return writeErrorCDATA(w, 17, " commit-all -> shared-policy -> device-group  is missing")
		}
		dg, _ := lookup(s.cfgTree.running, []xpathStep{step("config", ""), step("devices", ""),
			step("entry", "localhost.localdomain"), step("device-group", ""), step("entry", j.deviceGroup)})
		if dg == nil {
			// Panorama pushes its running config: a device group that was
			// never committed cannot be pushed.
			return writeErrorCDATA(w, 17, " device-group "+j.deviceGroup+" does not exist in the running configuration")
		}
	} else if s.cfgTree.candidate.String() == s.cfgTree.running.String() {
		return writeXML(w, http.StatusOK, "success", 19,
			`<response status="success" code="19"><msg>There are no changes to commit.</msg></response>`)
	}
	if s.failJobs > 0 {
		s.failJobs--
		j.fail = true
		j.details = s.failMsg
		if j.details == "" {
			j.details = "Validation Error: commit failed (injected)"
		}
	}
	if !all && !j.fail {
		// The running config changes when the job is accepted; the job
		// then only reports.
		s.cfgTree.running = s.cfgTree.candidate.clone()
	}
	s.nextJob++
	s.jobs[j.id] = j
	if len(s.jobs) > maxJobs {
		delete(s.jobs, j.id-maxJobs)
	}
	label := "Commit job enqueued with jobid "
	if all {
		label = "Job enqueued with jobid "
	}
	id := strconv.Itoa(j.id)
	return writeXML(w, http.StatusOK, "success", 19,
		`<response status="success" code="19"><result><msg><line>`+label+id+`</line></msg><job>`+id+`</job></result></response>`)
}

// showJobLocked answers show jobs id N; each poll moves the job on.
func (s *Sim) showJobLocked(w http.ResponseWriter, idText string) result {
	id, err := strconv.Atoi(strings.TrimSpace(idText))
	j := s.jobs[id]
	if err != nil || j == nil {
		return writeError(w, http.StatusOK, 0, "job "+strings.TrimSpace(idText)+" not found")
	}
	j.polls++
	done := s.cfg.JobPolls < 0 || j.polls > s.cfg.JobPolls
	ts := func(t time.Time) string { return t.Format("2006/01/02 15:04:05") }
	var b strings.Builder
	b.WriteString(`<response status="success"><result><job><tenq>` + ts(j.enqueued) + `</tenq>`)
	b.WriteString(`<tdeq>` + j.enqueued.Format("15:04:05") + `</tdeq>`)
	b.WriteString(`<id>` + strconv.Itoa(j.id) + `</id><user>` + escape(j.user) + `</user><type>` + j.typ + `</type>`)
	status, res, progress := "ACT", "PEND", "50"
	if done {
		status, progress = "FIN", "100"
		res = "OK"
		if j.fail {
			res = "FAIL"
		}
	}
	b.WriteString(`<status>` + status + `</status><queued>NO</queued><stoppable>no</stoppable><result>` + res + `</result>`)
	if done {
		b.WriteString(`<tfin>` + ts(s.cfg.Now()) + `</tfin>`)
	} else {
		b.WriteString(`<tfin/>`)
	}
	b.WriteString(`<description/><positionInQ>0</positionInQ><progress>` + progress + `</progress>`)
	if done {
		line := "Configuration committed successfully"
		if j.fail {
			line = j.details
		}
		b.WriteString(`<details><line>` + escape(line) + `</line></details>`)
	} else {
		b.WriteString(`<details/>`)
	}
	b.WriteString(`<warnings/>`)
	if j.typ == "CommitAll" {
		dstatus, dres := "ACT", "PEND"
		if done {
			dstatus, dres = "FIN", "OK"
			if j.fail {
				dres = "FAIL"
			}
		}
		b.WriteString(`<devices>`)
		for _, d := range s.cfg.Devices {
			b.WriteString(`<entry><serial-no>` + escape(d.Serial) + `</serial-no><devicename>` + escape(d.Name) + `</devicename>`)
			b.WriteString(`<vsys>vsys1</vsys><status>` + dstatus + `</status><result>` + dres + `</result><progress>` + progress + `</progress>`)
			if done {
				line := "Configuration committed successfully"
				if j.fail {
					line = j.details
				}
				b.WriteString(`<details><msg><errors><line>` + escape(line) + `</line></errors></msg></details>`)
			}
			b.WriteString(`</entry>`)
		}
		b.WriteString(`</devices>`)
	}
	b.WriteString(`</job></result></response>`)
	return writeXML(w, http.StatusOK, "success", 0, b.String())
}
