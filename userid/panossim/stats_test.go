package panossim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
)

func TestStatsAndRequestLog(t *testing.T) {
	h := newHarness(t, Config{Users: map[string]string{"admin": "pa55-word"}})
	h.keygen(http.MethodPost, "admin", "pa55-word")
	h.keygen(http.MethodPost, "admin", "wrong-pass")
	h.key, _ = h.sim.APIKeyFor("admin")
	h.uid(regMsg(`<entry ip="10.0.0.1"><tag><member>a</member></tag></entry><entry ip="10.0.0.2"><tag><member>a</member></tag></entry>`))
	h.uid(`<uid-message><payload><unregister><entry ip="10.0.0.1"/></unregister><register><entry ip="10.0.0.3"><tag><member>a</member></tag></entry></register></payload></uid-message>`)
	h.op(`<show><object><registered-ip><all/></registered-ip></object></show>`)
	h.cfg("get", webXPath, "")
	// A call with the key in the query string, to check it is not logged.
	req, _ := http.NewRequest(http.MethodGet, h.srv.URL+"/api/?"+url.Values{"type": {"op"}, "cmd": {"<show><system><info/></system></show>"}, "key": {h.key}}.Encode(), nil)
	h.do(req)

	st := h.sim.Stats()
	want := Stats{Calls: 7, KeygenCalls: 2, UserIDCalls: 2, OpCalls: 2, ConfigCalls: 1,
		RegisterEntries: 3, UnregisterEntries: 1, MaxEntriesPerCall: 2, Errors: map[int]int{403: 1}}
	if fmt.Sprint(st) != fmt.Sprint(want) {
		t.Fatalf("Stats = %+v\nwant    %+v", st, want)
	}
	reqs := h.sim.Requests()
	if len(reqs) != 7 {
		t.Fatalf("%d requests logged, want 7", len(reqs))
	}
	if r := reqs[2]; r.Type != "user-id" || r.Entries != 2 || r.Status != "success" || r.User != "admin" || r.HTTPStatus != 200 {
		t.Fatalf("user-id log entry = %+v", r)
	}
	if r := reqs[1]; r.Type != "keygen" || r.Status != "error" || r.Code != 403 || r.HTTPStatus != 403 {
		t.Fatalf("failed keygen log entry = %+v", r)
	}
	if r := reqs[5]; r.XPath != webXPath || r.Action != "get" {
		t.Fatalf("config log entry = %+v", r)
	}
	dump := fmt.Sprintf("%+v", reqs)
	for _, secret := range []string{h.key, "pa55-word", "wrong-pass"} {
		if strings.Contains(dump, secret) {
			t.Fatalf("request log holds a secret %q: %s", secret, dump)
		}
	}
	h.sim.ResetStats()
	if st := h.sim.Stats(); st.Calls != 0 || len(st.Errors) != 0 || len(h.sim.Requests()) != 0 {
		t.Fatalf("after reset: %+v, %d requests", st, len(h.sim.Requests()))
	}
}

func TestRequestLogBounded(t *testing.T) {
	s := New(Config{})
	for i := range requestLogSize + 5 {
		s.logRequest(Request{Entries: i})
	}
	reqs := s.Requests()
	if len(reqs) != requestLogSize || reqs[0].Entries != 5 || reqs[len(reqs)-1].Entries != requestLogSize+4 {
		t.Fatalf("log of %d, first %d, last %d", len(reqs), reqs[0].Entries, reqs[len(reqs)-1].Entries)
	}
}

// TestConcurrentClients runs writers on disjoint IPs, readers and knobs at
// once (meant for -race) and checks the end state is exactly the writes.
func TestConcurrentClients(t *testing.T) {
	h := newHarness(t, Config{})
	const workers, rounds = 6, 20
	var wg sync.WaitGroup
	errs := make(chan string, workers*rounds*2)
	for w := range workers {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for r := range rounds {
				ip := fmt.Sprintf("10.%d.%d.1", w, r)
				msg := regMsg(fmt.Sprintf(`<entry ip="%s"><tag><member>w%d</member><member>gone</member></tag></entry>`, ip, w))
				if _, body := h.uid(msg); !strings.Contains(body, `status="success"`) {
					errs <- body
				}
				if _, body := h.uid(unregMsg(fmt.Sprintf(`<entry ip="%s"><tag><member>gone</member></tag></entry>`, ip))); !strings.Contains(body, `status="success"`) {
					errs <- body
				}
			}
		}()
		go func() {
			defer wg.Done()
			for range rounds {
				h.op(`<show><object><registered-ip><all/></registered-ip></object></show>`)
				h.cfg("set", webXPath, fmt.Sprintf(`<description>w%d</description>`, w))
				_ = h.sim.Registered()
				_ = h.sim.Stats()
				_ = h.sim.Requests()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("call failed: %s", e)
	}
	reg := h.sim.RegisteredIn("", "")
	if len(reg) != workers*rounds {
		t.Fatalf("%d IPs registered, want %d", len(reg), workers*rounds)
	}
	for w := range workers {
		for r := range rounds {
			ip := fmt.Sprintf("10.%d.%d.1", w, r)
			if got := reg[ip]; len(got) != 1 || got[0] != fmt.Sprintf("w%d", w) {
				t.Fatalf("%s = %v", ip, got)
			}
		}
	}
	if st := h.sim.Stats(); st.UserIDCalls != workers*rounds*2 || st.RegisterEntries != workers*rounds {
		t.Fatalf("stats = %+v", st)
	}
}

func TestControlEndpoints(t *testing.T) {
	h := newHarness(t, Config{Control: true})
	h.uid(regMsg(`<entry ip="10.0.0.1"><tag><member>p</member></tag></entry><entry ip="10.0.0.2" persistent="0"><tag><member>v</member></tag></entry>`))
	post := func(path string) int {
		resp, err := h.srv.Client().Post(h.srv.URL+path, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	get := func(path string, v any) {
		resp, err := h.srv.Client().Get(h.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	if c := post("/_sim/reboot"); c != http.StatusNoContent {
		t.Fatalf("reboot: %d", c)
	}
	var reg []struct {
		IP   string   `json:"ip"`
		Tags []string `json:"tags"`
	}
	get("/_sim/registered", &reg)
	if len(reg) != 1 || reg[0].IP != "10.0.0.1" {
		t.Fatalf("registered after reboot = %+v", reg)
	}
	if c := post("/_sim/inject?code=22&n=1"); c != http.StatusNoContent {
		t.Fatalf("inject: %d", c)
	}
	if _, body := h.op(`<show><system><info/></system></show>`); parseResp(t, body).Code != "22" {
		t.Fatalf("injected: %s", body)
	}
	post("/_sim/outage?down=true")
	if code, _ := h.op(`<show><system><info/></system></show>`); code != 503 {
		t.Fatalf("outage: %d", code)
	}
	post("/_sim/outage?down=false")
	var st Stats
	get("/_sim/stats", &st)
	if st.Errors[22] != 1 || st.Errors[503] != 1 {
		t.Fatalf("stats = %+v", st)
	}
	for _, bad := range []string{"/_sim/outage?down=maybe", "/_sim/latency?d=x", "/_sim/inject?code=1", "/_sim/fail-commits?n=-1"} {
		if c := post(bad); c != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", bad, c)
		}
	}
	if c := post("/_sim/nope"); c != http.StatusNotFound {
		t.Errorf("unknown control: %d", c)
	}
	// Without Control the endpoints do not exist.
	off := newHarness(t, Config{})
	resp, err := off.srv.Client().Post(off.srv.URL+"/_sim/reboot", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("control off: %d", resp.StatusCode)
	}
}
