package userid

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParseResponse feeds arbitrary bodies through the envelope parser and
// every result parser: none may panic, and every failure must be an
// ErrMalformed or APIError, never a silent success with garbage.
// Seeds: testdata/fuzz/FuzzParseResponse (the canned responses).
func FuzzParseResponse(f *testing.F) {
	c, _ := newClient(f, "https://fw.example", nil)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, status := range []int{200, 403, 503} {
			resp, err := c.check("fuzz", status, data)
			if err != nil {
				var ae *APIError
				if !errors.Is(err, ErrMalformed) && !errors.As(err, &ae) {
					t.Fatalf("unclassified error %T: %v", err, err)
				}
				if err.Error() == "" {
					t.Fatal("empty error text")
				}
			}
			if err == nil && resp == nil {
				t.Fatal("nil response without error")
			}
		}
		r, err := parseResponse(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("parseResponse error not ErrMalformed: %v", err)
			}
			return
		}
		if r.failed() != (r.err() != nil) {
			t.Fatal("failed() and err() disagree")
		}
		_, _, _ = uidEntryFailures(r)
		_, _ = parseKey(r)
		_, _, _ = parseCommit(r)
		if r.Result != nil {
			ips, n, skipped, err := parseRegisteredIPs(r.Result)
			if err == nil && len(ips)+skipped != n {
				t.Fatalf("registered-ip count mismatch: %d + %d != %d", len(ips), skipped, n)
			}
			for _, ip := range ips {
				if !ip.IP.IsValid() {
					t.Fatal("invalid IP returned")
				}
			}
			if j, err := parseJob(r.Result); err == nil && j == nil {
				t.Fatal("nil job without error")
			}
		}
	})
}

// FuzzParseUIDResponse feeds arbitrary uid-response text (as a result and
// as a partial-failure line) to the User-ID entry parser.
// Seeds: testdata/fuzz/FuzzParseUIDResponse.
func FuzzParseUIDResponse(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, r := range []*response{{Result: data}, {MsgLines: [][]byte{data}}} {
			failed, found, err := uidEntryFailures(r)
			if err != nil {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("error not ErrMalformed: %v", err)
				}
				continue
			}
			if len(failed) > 0 && !found {
				t.Fatal("failures reported without a uid-response")
			}
			for _, e := range failed {
				if e.Op != "register" && e.Op != "unregister" {
					t.Fatalf("bad op %q", e.Op)
				}
				if e.Message == "" || benign(e.Message) {
					t.Fatalf("bad message %q", e.Message)
				}
				if e.CapacityFull != strings.Contains(strings.ToLower(e.Message), "capacity") {
					t.Fatal("CapacityFull disagrees with message")
				}
			}
		}
	})
}
