package sandwich

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/kubedag/kubedag/userid"
)

// Status is what `kubedag sandwich status` shows.
type Status struct {
	Cluster  string          `json:"cluster"`
	Services []ServiceStatus `json:"services"`
	Targets  []TargetStatus  `json:"targets"`
	// Inventory is what the inventory source holds.
	Inventory *InventoryStatus `json:"inventory,omitempty"`
}

// InventoryStatus is the inventory in use and how it was read.
type InventoryStatus struct {
	// Source is "static" or "aws".
	Source string `json:"source"`
	// Subnets are "id cidr zone"; Firewalls "id zone trust-subnet via gateway".
	Subnets       []string `json:"subnets,omitempty"`
	Firewalls     []string `json:"firewalls,omitempty"`
	LoadBalancers int      `json:"loadBalancers"`
	// ReadAt is when the inventory in use was read (discovery only).
	ReadAt time.Time `json:"readAt,omitzero"`
	// Error is the last read's failure (the previous inventory stays in use).
	Error string `json:"error,omitempty"`
	// Problems are what is wrong with the inventory: subnets the engine
	// leaves out (e.g. IPv6SubnetUnsupported) and what the last discovery
	// read found.
	Problems []string `json:"problems,omitempty"`
}

// NewInventoryStatus describes inv as read from source, with the read's error.
func NewInventoryStatus(source string, inv Inventory, err error) *InventoryStatus {
	st := &InventoryStatus{Source: source, LoadBalancers: len(inv.LoadBalancers)}
	for _, s := range inv.Subnets {
		st.Subnets = append(st.Subnets, strings.TrimSpace(s.ID+" "+s.CIDR.String()+" "+s.Zone))
	}
	for _, f := range inv.Firewalls {
		st.Firewalls = append(st.Firewalls, strings.TrimSpace(f.ID+" "+f.Zone+" "+f.TrustSubnet.String()+" via "+f.TrustGateway.String()))
	}
	for _, p := range SubnetProblems(inv) {
		st.Problems = append(st.Problems, p.Reason+": "+p.Message)
	}
	if err != nil {
		st.Error = err.Error()
	}
	return st
}

// ServiceStatus is one labelled Service.
type ServiceStatus struct {
	Namespace  string `json:"namespace"`
	Name       string `json:"name"`
	Port       int    `json:"port,omitempty"`
	TargetPort int    `json:"targetPort,omitempty"`
	Hostname   string `json:"hostname,omitempty"`
	// Problems keep the Service from being programmed (empty when it is).
	Problems []string `json:"problems,omitempty"`
}

// TargetStatus is one target's state.
type TargetStatus struct {
	Name string `json:"name"`
	// Managed is the number of entries kubedag keeps on the target.
	Managed int `json:"managed"`
	// Entries lists "kind name" per Service key ("" for the ownership tag
	// and subnet entries).
	Entries   map[string][]string `json:"entries,omitempty"`
	LastSync  time.Time           `json:"lastSync"`
	LastError string              `json:"lastError,omitempty"`
	// LastCommit and LastPush are the last jobs (push: Panorama only).
	LastCommit *JobStatus `json:"lastCommit,omitempty"`
	LastPush   *JobStatus `json:"lastPush,omitempty"`
}

// JobStatus is a commit or push job's outcome.
type JobStatus struct {
	ID      int            `json:"id"`
	Result  string         `json:"result"`
	Details []string       `json:"details,omitempty"`
	Devices []DeviceStatus `json:"devices,omitempty"`
	At      time.Time      `json:"at"`
}

// DeviceStatus is one firewall's part of a push.
type DeviceStatus struct {
	Name    string   `json:"name"`
	Serial  string   `json:"serial"`
	Result  string   `json:"result"`
	Details []string `json:"details,omitempty"`
}

func (l *loop) setStatus(f func(*TargetStatus)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f(&l.status)
}

func (l *loop) recordJob(kind string, id int, job *userid.Job, err error) {
	js := &JobStatus{ID: id, Result: "UNKNOWN", At: l.e.opts.Now()}
	if job != nil {
		js.Result = job.Result
		js.Details = job.Details
		for _, d := range job.Devices {
			js.Devices = append(js.Devices, DeviceStatus{Name: d.Name, Serial: d.Serial, Result: d.Result, Details: d.Details})
		}
	} else if err != nil {
		js.Details = []string{err.Error()}
	}
	l.setStatus(func(s *TargetStatus) {
		if kind == "push" {
			s.LastPush = js
		} else {
			s.LastCommit = js
		}
	})
}

// Targets returns every target's status, by name.
func (e *Engine) Targets() []TargetStatus {
	out := make([]TargetStatus, 0, len(e.loops))
	for _, l := range e.loops {
		l.mu.Lock()
		s := l.status
		s.Name = l.t.Name
		l.mu.Unlock()
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b TargetStatus) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Managed returns the number of entries kubedag keeps per target.
func (e *Engine) Managed() map[string]int {
	out := make(map[string]int, len(e.loops))
	for _, s := range e.Targets() {
		out[s.Name] = s.Managed
	}
	return out
}

// StatusHandler serves the status as JSON (GET only).
func StatusHandler(status func() Status) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			http.Error(w, "GET only", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(status())
	})
}
