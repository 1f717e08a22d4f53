package panossim

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Defaults of Config.
const (
	DefaultCapacity = 100000
	DefaultSerial   = "007200000000001"
	// DefaultPanoramaSerial is the serial of an emulated Panorama.
	DefaultPanoramaSerial = "000702100000001"
	DefaultSWVersion      = "11.1.6"
	DefaultMaxBodyBytes   = 5 << 20
	// MaxTagTimeout is the largest per-tag timeout PAN-OS accepts (30 days).
	MaxTagTimeout = 2592000 * time.Second
	// MaxTagsPerIP is the number of tags PAN-OS keeps on one registered IP.
	MaxTagsPerIP = 32
	// MaxTagNameLen is the longest tag name PAN-OS accepts.
	MaxTagNameLen = 127
	// DefaultPageLimit is the page size of show object registered-ip.
	DefaultPageLimit = 500
	// requestLogSize bounds the request log.
	requestLogSize = 10000
)

// Config configures a Sim. The zero value is a firewall with user admin/admin.
type Config struct {
	// Users maps user name to password; default {"admin": "admin"}.
	Users map[string]string
	// APIPermissions limits what users may do, as an admin role's XML API
	// permissions do: user -> the request types allowed ("config", "op",
	// "commit", "user-id", ...; keygen and version are always allowed).
	// Users not listed have every permission (superuser). A refused type
	// answers 403 "Type [T] not authorized for user role."
	APIPermissions map[string][]string
	// Capacity is the registered-IP capacity (IPs, ranges and subnets each
	// count as one); default DefaultCapacity. A register that would exceed it
	// fails that entry.
	Capacity int
	// Panorama makes the Sim behave as Panorama: device-group and template
	// config, commit-all push jobs, target= on user-id calls.
	Panorama bool
	// Serial is this device's serial; default DefaultSerial on a firewall,
	// DefaultPanoramaSerial on Panorama.
	Serial string
	// Devices are the firewalls a Panorama manages (ignored on a firewall);
	// default one, DefaultSerial, named "panos-sim-fw".
	Devices []Device
	// Model is the model show system info and type=version report; default
	// "PA-VM" ("Panorama" in Panorama mode).
	Model string
	// SWVersion is the PAN-OS version reported (and the config's version
	// attribute); default DefaultSWVersion.
	SWVersion string
	// Hostname is the device's hostname; default "panos-sim".
	Hostname string
	// AdvancedRouting models a PAN-OS 11 firewall with advanced routing on:
	// the default config holds logical-router "default" instead of
	// virtual-router "default", and show system info says so.
	AdvancedRouting bool
	// Now is the clock for tag-timeout expiry and timestamps; default time.Now.
	Now func() time.Time
	// MaxBodyBytes caps a request body; default DefaultMaxBodyBytes (5 MiB).
	MaxBodyBytes int
	// JobPolls is the number of show-jobs polls a commit job answers ACT
	// before FIN; default 1. Negative means FIN at once.
	JobPolls int
	// Control serves unauthenticated test-control endpoints under /_sim/
	// (reboot, outage, latency, error injection, stats); see serveControl.
	Control bool
	// Logger receives one debug line per request (never keys or passwords);
	// default: discard.
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if len(c.Users) == 0 {
		c.Users = map[string]string{"admin": "admin"}
	}
	if c.Capacity <= 0 {
		c.Capacity = DefaultCapacity
	}
	if c.Serial == "" {
		c.Serial = DefaultSerial
		if c.Panorama {
			c.Serial = DefaultPanoramaSerial
		}
	}
	if c.Panorama && len(c.Devices) == 0 {
		c.Devices = []Device{{Serial: DefaultSerial, Name: "panos-sim-fw"}}
	}
	if !c.Panorama {
		c.Devices = nil
	}
	for i := range c.Devices {
		if c.Devices[i].Name == "" {
			c.Devices[i].Name = "fw-" + c.Devices[i].Serial
		}
	}
	if c.Model == "" {
		c.Model = "PA-VM"
		if c.Panorama {
			c.Model = "Panorama"
		}
	}
	if c.SWVersion == "" {
		c.SWVersion = DefaultSWVersion
	}
	if c.Hostname == "" {
		c.Hostname = "panos-sim"
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.JobPolls == 0 {
		c.JobPolls = 1
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Device is a firewall managed by an emulated Panorama.
type Device struct {
	Serial string
	Name   string // hostname reported in push job reports; default "fw-" + Serial
}

// Stats counts what the Sim has served since New or ResetStats.
type Stats struct {
	Calls             int         // every request on /api/
	KeygenCalls       int         // type=keygen
	UserIDCalls       int         // type=user-id
	OpCalls           int         // type=op
	ConfigCalls       int         // type=config
	CommitCalls       int         // type=commit
	RegisterEntries   int         // uid-message register entries received
	UnregisterEntries int         // uid-message unregister entries received
	MaxEntriesPerCall int         // largest entry count (every section) of one user-id call
	Dropped           int         // calls aborted without an answer (SetDrop)
	Errors            map[int]int // error responses by PAN-OS code (HTTP status for non-XML failures)
}

// Request is one entry of the request log. It never holds a key or password.
type Request struct {
	Time       time.Time
	Method     string
	Type       string // type= parameter
	Action     string // action= parameter
	XPath      string // xpath= of config calls
	User       string // authenticated user, if any
	Entries    int    // entries of a user-id call, every section
	Status     string // "success" or "error"
	Code       int    // PAN-OS code of the answer, 0 when none
	HTTPStatus int
	Duration   time.Duration
}

// Sim is the emulated device. Create it with New; it is safe for concurrent
// use and starts no goroutines.
type Sim struct {
	cfg     Config
	secret  []byte    // per-Sim secret the API keys derive from
	started time.Time // by Config.Now, for uptime

	mu      sync.Mutex
	keys    map[string]string // valid key -> user
	userKey map[string]string // user -> current key
	keyGen  map[string]uint64 // user -> key generation
	latency time.Duration
	outage  bool
	drop    bool
	// outage window by Config.Now, see ScheduleOutage
	outageFrom, outageUntil time.Time
	inject                  []injection
	failJobs                int
	failMsg                 string
	stats                   Stats
	reqs                    []Request // ring buffer of requestLogSize
	reqNext                 int
	reqFull                 bool
	reg                     *registry
	users                   map[string]*userScope // by scopeKey: mappings, user tags, groups
	cfgTree                 configTrees
	jobs                    map[int]*job
	nextJob                 int
	changes                 []change                // candidate writes not yet committed, oldest first
	locks                   []adminLock             // config and commit locks, oldest first (oplocks.go)
	uuidSeed, uuidSeq       uint64                  // rule uuids
	devices                 map[string]*deviceState // Panorama: managed firewalls by serial
	failPush                map[string]*pushFail
}

type injection struct {
	code int
	left int
}

// New returns a Sim for cfg (defaults filled in). It starts no goroutines.
func New(cfg Config) *Sim {
	users := make(map[string]string, len(cfg.Users))
	for u, p := range cfg.Users {
		users[u] = p
	}
	cfg.Users = users // the caller may reuse its map
	cfg.Devices = append([]Device(nil), cfg.Devices...)
	perms := make(map[string][]string, len(cfg.APIPermissions))
	for u, p := range cfg.APIPermissions {
		perms[u] = append([]string(nil), p...)
	}
	cfg.APIPermissions = perms
	cfg.setDefaults()
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		panic("panossim: crypto/rand: " + err.Error()) // never fails on supported platforms
	}
	s := &Sim{
		cfg:     cfg,
		secret:  secret,
		started: cfg.Now(),
		keys:    map[string]string{},
		userKey: map[string]string{},
		keyGen:  map[string]uint64{},
		reg:     newRegistry(),
		jobs:    map[int]*job{},
		nextJob: 1,
	}
	s.cfgTree = newConfigTrees(cfg)
	s.uuidSeed = binary.BigEndian.Uint64(secret[:8])
	s.devices = map[string]*deviceState{}
	s.failPush = map[string]*pushFail{}
	for _, d := range cfg.Devices {
		s.devices[d.Serial] = newDeviceState(cfg, d)
	}
	s.stats.Errors = map[int]int{}
	return s
}

// Config returns the effective configuration (defaults filled in).
func (s *Sim) Config() Config { return s.cfg }

// SetLatency delays every later API call by d before it is answered.
func (s *Sim) SetLatency(d time.Duration) {
	s.mu.Lock()
	s.latency = d
	s.mu.Unlock()
}

// SetOutage makes every later call fail with HTTP 503 while down is true.
func (s *Sim) SetOutage(down bool) {
	s.mu.Lock()
	s.outage = down
	s.mu.Unlock()
}

// SetDrop makes every later call, while on is true, end with the connection
// closed and no answer (a transport error for the client, unlike the 503 of
// SetOutage).
func (s *Sim) SetDrop(on bool) {
	s.mu.Lock()
	s.drop = on
	s.mu.Unlock()
}

// InjectError makes the next n authenticated API calls (keygen excluded)
// fail with PAN-OS error code code, in the shape the device answers it.
func (s *Sim) InjectError(code int, n int) {
	if n <= 0 {
		return
	}
	s.mu.Lock()
	s.inject = append(s.inject, injection{code: code, left: n})
	s.mu.Unlock()
}

// FailCommits makes the next n commit / commit-all jobs finish with result
// FAIL and details as the job's details line (a default text when empty).
func (s *Sim) FailCommits(n int, details string) {
	s.mu.Lock()
	s.failJobs = n
	s.failMsg = details
	s.mu.Unlock()
}

// Reboot simulates a device restart: registrations made with persistent="0"
// are dropped; persistent ones, the config and API keys survive. Pending
// jobs are finished.
func (s *Sim) Reboot() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reg.dropNonPersistent()
	for _, j := range s.jobs {
		j.polls = 1 << 30
	}
}

// Registered returns the unexpired registrations of single IPs in all scopes
// (vsys and Panorama targets merged): IP -> sorted tags.
func (s *Sim) Registered() map[netip.Addr][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	out := map[netip.Addr][]string{}
	for _, sc := range s.reg.scopes {
		for _, e := range sc.entries {
			if !e.addr.single {
				continue
			}
			tags := e.liveTags(now)
			if len(tags) == 0 {
				continue
			}
			out[e.addr.start] = mergeSorted(out[e.addr.start], tags)
		}
	}
	return out
}

// RegisteredIn returns the unexpired registrations of one scope keyed by the
// registered address as PAN-OS prints it (an IP, a CIDR or a range a-b).
// vsys "" means vsys1; target is the Panorama target serial ("" = Panorama
// itself or a firewall).
func (s *Sim) RegisteredIn(vsys, target string) map[string][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	out := map[string][]string{}
	sc := s.reg.scopes[scopeKey(vsys, target)]
	if sc == nil {
		return out
	}
	for k, e := range sc.entries {
		if tags := e.liveTags(now); len(tags) > 0 {
			out[k] = tags
		}
	}
	return out
}

func mergeSorted(a, b []string) []string {
	if len(a) == 0 {
		return b
	}
	seen := map[string]bool{}
	var out []string
	for _, t := range append(append([]string{}, a...), b...) {
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	sort.Strings(out)
	return out
}

// Stats returns a copy of the counters.
func (s *Sim) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Errors = make(map[int]int, len(s.stats.Errors))
	for k, v := range s.stats.Errors {
		st.Errors[k] = v
	}
	return st
}

// ResetStats zeroes the counters and empties the request log.
func (s *Sim) ResetStats() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats = Stats{Errors: map[int]int{}}
	s.reqs = nil
	s.reqNext = 0
	s.reqFull = false
}

// Requests returns the request log, oldest first (at most the last 10,000).
func (s *Sim) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.reqFull {
		return append([]Request(nil), s.reqs...)
	}
	out := make([]Request, 0, len(s.reqs))
	out = append(out, s.reqs[s.reqNext:]...)
	return append(out, s.reqs[:s.reqNext]...)
}

func (s *Sim) logRequest(r Request) {
	if len(s.reqs) < requestLogSize {
		s.reqs = append(s.reqs, r)
		return
	}
	s.reqFull = true
	s.reqs[s.reqNext] = r
	s.reqNext = (s.reqNext + 1) % requestLogSize
}

// ServeHTTP serves the XML API on /api/ (and /api).
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Control && strings.HasPrefix(r.URL.Path, "/_sim/") {
		s.serveControl(w, r)
		return
	}
	start := time.Now()
	rec := Request{Time: s.cfg.Now(), Method: r.Method}
	res := s.serve(w, r, &rec)
	rec.Status, rec.Code, rec.HTTPStatus = res.status, res.code, res.httpStatus
	rec.Duration = time.Since(start)

	s.mu.Lock()
	s.stats.Calls++
	if res.dropped {
		s.stats.Dropped++
	} else if res.status != "success" {
		code := res.code
		if code == 0 {
			code = res.httpStatus
		}
		s.stats.Errors[code]++
	}
	s.logRequest(rec)
	s.mu.Unlock()
	s.cfg.Logger.Debug("panos-sim request", "method", rec.Method, "type", rec.Type,
		"action", rec.Action, "user", rec.User, "entries", rec.Entries,
		"status", rec.Status, "code", rec.Code, "http_status", rec.HTTPStatus)
	if res.send != nil {
		res.send()
	}
	if res.dropped {
		// net/http closes the connection without an answer and logs nothing.
		panic(http.ErrAbortHandler)
	}
}

// serve handles one request and writes its answer.
func (s *Sim) serve(w http.ResponseWriter, r *http.Request, rec *Request) result {
	if r.URL.Path != "/api/" && r.URL.Path != "/api" {
		return writeRaw(w, http.StatusNotFound, "error", 0, "404 page not found\n", "text/plain; charset=utf-8")
	}
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		return writeRaw(w, http.StatusMethodNotAllowed, "error", 0, "405 method not allowed\n", "text/plain; charset=utf-8")
	}
	s.mu.Lock()
	latency, outage, drop := s.latency, s.inOutageLocked(s.cfg.Now()), s.drop
	s.mu.Unlock()
	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return result{status: "error", httpStatus: 499}
		}
	}
	if drop {
		return result{status: "error", dropped: true}
	}
	if outage {
		return writeRaw(w, http.StatusServiceUnavailable, "error", 0, "503 Service Unavailable\n", "text/plain; charset=utf-8")
	}

	r.Body = http.MaxBytesReader(w, r.Body, int64(s.cfg.MaxBodyBytes))
	var err error
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "multipart/form-data" {
		err = r.ParseMultipartForm(int64(s.cfg.MaxBodyBytes))
		if r.MultipartForm != nil {
			defer func() { _ = r.MultipartForm.RemoveAll() }()
		}
	} else {
		err = r.ParseForm()
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return writeBadRequest(w, http.StatusRequestEntityTooLarge, "Request body too large")
		}
		return writeBadRequest(w, http.StatusBadRequest, "Malformed Request")
	}
	typ := r.Form.Get("type")
	rec.Type = typ
	rec.Action = r.Form.Get("action")
	if typ == "keygen" {
		s.mu.Lock()
		s.stats.KeygenCalls++
		s.mu.Unlock()
		return s.keygen(w, r, rec)
	}
	user, ok := s.authenticate(r)
	if !ok {
		return writeInvalidCredential(w)
	}
	rec.User = user
	if perms, limited := s.cfg.APIPermissions[user]; limited && typ != "version" && !slices.Contains(perms, typ) && knownType[typ] {
		return writeXML(w, http.StatusForbidden, "error", 403,
			`<response status = 'error' code = '403'><result><msg>Type [`+escape(typ)+`] not authorized for user role.</msg></result></response>`)
	}
	if code, ok := s.takeInjection(); ok {
		return writeInjected(w, code)
	}
	switch typ {
	case "user-id":
		return s.userID(w, r, rec)
	case "op":
		return s.op(w, r, user)
	case "config":
		rec.XPath = r.Form.Get("xpath")
		return s.config(w, r, user)
	case "commit":
		return s.commit(w, r, user)
	case "version":
		return s.version(w)
	case "":
		return writeBadRequest(w, http.StatusBadRequest, "Missing type parameter")
	default:
		return writeBadRequest(w, http.StatusBadRequest, `Illegal value for parameter "type" [`+typ+`].`)
	}
}

// knownType are the request types of the XML API (an unknown one is
// refused as such, whatever the role).
var knownType = map[string]bool{"config": true, "op": true, "commit": true, "user-id": true, "report": true,
	"log": true, "export": true, "import": true}

func (s *Sim) takeInjection() (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.inject) > 0 {
		in := &s.inject[0]
		if in.left <= 0 {
			s.inject = s.inject[1:]
			continue
		}
		in.left--
		code := in.code
		if in.left == 0 {
			s.inject = s.inject[1:]
		}
		return code, true
	}
	return 0, false
}

// target returns the request's Panorama target serial: "" on a firewall
// (which ignores target=) or when none is given; ok is false when Panorama
// does not manage the named device.
func (s *Sim) target(r *http.Request) (target string, ok bool) {
	if !s.cfg.Panorama {
		return "", true
	}
	target = strings.TrimSpace(r.Form.Get("target"))
	return target, target == "" || s.device(target) != nil
}

// device returns the managed firewall with serial, or nil.
func (s *Sim) device(serial string) *Device {
	for i := range s.cfg.Devices {
		if s.cfg.Devices[i].Serial == serial {
			return &s.cfg.Devices[i]
		}
	}
	return nil
}

func writeUnknownTarget(w http.ResponseWriter, target string) result {
	return writeError(w, http.StatusOK, 13, "target "+target+" is not a device managed by this Panorama")
}

// scopeKey names a registration scope: a vsys, on Panorama possibly behind a
// target serial.
func scopeKey(vsys, target string) string {
	if vsys == "" {
		vsys = "vsys1"
	}
	return strings.TrimSpace(target) + "/" + vsys
}
