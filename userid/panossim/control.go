package panossim

import (
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ScheduleOutage makes calls that arrive (by Config.Now) in [from, until)
// fail with HTTP 503, in addition to SetOutage. A zero until clears it.
func (s *Sim) ScheduleOutage(from, until time.Time) {
	s.mu.Lock()
	s.outageFrom, s.outageUntil = from, until
	s.mu.Unlock()
}

// inOutageLocked reports whether a call arriving now is refused.
func (s *Sim) inOutageLocked(now time.Time) bool {
	if s.outage {
		return true
	}
	return !s.outageUntil.IsZero() && !now.Before(s.outageFrom) && now.Before(s.outageUntil)
}

// serveControl serves the unauthenticated /_sim/ test-control endpoints
// (enabled by Config.Control) for tests that run the emulator as a process:
//
//	POST /_sim/reboot                  Reboot
//	POST /_sim/outage?down=true|false  SetOutage
//	POST /_sim/drop?on=true|false      SetDrop
//	POST /_sim/latency?d=50ms          SetLatency
//	POST /_sim/inject?code=22&n=3      InjectError
//	POST /_sim/fail-commits?n=1&details=TEXT        FailCommits
//	POST /_sim/fail-push?serial=S&n=1&details=TEXT   FailPush
//	GET  /_sim/device-config?serial=S               DeviceConfig (XML)
//	POST /_sim/reset-stats             ResetStats
//	GET  /_sim/stats                   Stats as JSON
//	GET  /_sim/registered              RegisteredIn(vsys, target) as JSON
func (s *Sim) serveControl(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/_sim/")
	q := r.URL.Query()
	bad := func(msg string) { http.Error(w, msg, http.StatusBadRequest) }
	read := name == "stats" || name == "registered" || name == "device-config"
	if read && r.Method != http.MethodGet || !read && r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	switch name {
	case "reboot":
		s.Reboot()
	case "outage":
		down, err := strconv.ParseBool(q.Get("down"))
		if err != nil {
			bad("down must be true or false")
			return
		}
		s.SetOutage(down)
	case "drop":
		on, err := strconv.ParseBool(q.Get("on"))
		if err != nil {
			bad("on must be true or false")
			return
		}
		s.SetDrop(on)
	case "latency":
		d, err := time.ParseDuration(q.Get("d"))
		if err != nil || d < 0 {
			bad("d must be a duration like 50ms")
			return
		}
		s.SetLatency(d)
	case "inject":
		code, err1 := strconv.Atoi(q.Get("code"))
		n, err2 := strconv.Atoi(q.Get("n"))
		if err1 != nil || err2 != nil || n < 1 {
			bad("code and n (>= 1) are required integers")
			return
		}
		s.InjectError(code, n)
	case "fail-commits":
		n, err := strconv.Atoi(q.Get("n"))
		if err != nil || n < 0 {
			bad("n must be an integer >= 0")
			return
		}
		s.FailCommits(n, q.Get("details"))
	case "fail-push":
		n, err := strconv.Atoi(q.Get("n"))
		if err != nil || n < 0 || q.Get("serial") == "" {
			bad("serial is required and n must be an integer >= 0")
			return
		}
		s.FailPush(q.Get("serial"), n, q.Get("details"))
	case "device-config":
		cfg, ok := s.DeviceConfig(q.Get("serial"))
		if !ok {
			http.Error(w, "no managed firewall with that serial", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", xmlContentType)
		_, _ = w.Write([]byte(cfg))
		return
	case "reset-stats":
		s.ResetStats()
	case "stats":
		writeJSON(w, s.Stats())
		return
	case "registered":
		reg := s.RegisteredIn(q.Get("vsys"), q.Get("target"))
		keys := make([]string, 0, len(reg))
		for k := range reg {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		type item struct {
			IP   string   `json:"ip"`
			Tags []string `json:"tags"`
		}
		out := make([]item, 0, len(keys))
		for _, k := range keys {
			out = append(out, item{k, reg[k]})
		}
		writeJSON(w, out)
		return
	default:
		http.NotFound(w, r)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
