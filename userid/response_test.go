package userid

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestResponseShapes runs every canned response under testdata/responses
// through the envelope check and asserts how it is classified.
func TestResponseShapes(t *testing.T) {
	type want struct {
		fail       bool
		code       int
		msg        string // substring of the error (or of the message on success)
		auth       bool
		retryable  bool
		notFound   bool
		badRequest bool
		malformed  bool
	}
	cases := []struct {
		file   string
		status int
		want   want
	}{
		{"keygen_ok.xml", 200, want{}},
		{"keygen_403.xml", 403, want{fail: true, code: 403, msg: "Invalid Credential", auth: true}},
		{"error_bad_key.xml", 403, want{fail: true, code: 403, msg: "Invalid credentials.", auth: true}},
		{"write_ok.xml", 200, want{msg: "command succeeded"}},
		{"get_ok.xml", 200, want{}},
		{"get_missing.xml", 200, want{fail: true, code: 7, msg: "object not present", notFound: true}},
		{"error_invalid_object.xml", 200, want{fail: true, code: 12, msg: "x -> y is invalid", badRequest: true}},
		{"error_no_code.xml", 200, want{fail: true, msg: "No such node", notFound: true}},
		{"session_timeout.xml", 200, want{fail: true, code: 22, msg: "Session timed out", auth: true}},
		{"internal_error.xml", 200, want{fail: true, code: 21, msg: "try again later", retryable: true}},
		{"uid_ok.xml", 200, want{}},
		{"uid_partial_benign.xml", 200, want{fail: true}},
		{"commit_job.xml", 200, want{msg: "Commit job enqueued with jobid 4"}},
		{"commit_no_changes.xml", 200, want{msg: "There are no changes to commit."}},
		{"registered_ip.xml", 200, want{}},
		{"job_ok.xml", 200, want{}},
		{"not_xml.html", 502, want{fail: true, msg: "Bad Gateway", retryable: true}},
		{"not_xml.html", 200, want{fail: true, malformed: true, msg: "want <response>"}},
	}
	c, _ := newClient(t, "https://fw.example", nil)
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			resp, err := c.check("test", tc.status, readResponse(t, tc.file))
			w := tc.want
			if (err != nil) != w.fail {
				t.Fatalf("err = %v, want failure %v", err, w.fail)
			}
			if err == nil {
				if w.msg != "" && !strings.Contains(resp.Message, w.msg) {
					t.Errorf("message %q does not contain %q", resp.Message, w.msg)
				}
				return
			}
			if w.msg != "" && !strings.Contains(err.Error(), w.msg) {
				t.Errorf("error %q does not contain %q", err, w.msg)
			}
			var ae *APIError
			if errors.As(err, &ae) && ae.Code != w.code {
				t.Errorf("code = %d, want %d", ae.Code, w.code)
			}
			got := want{fail: true, code: w.code, msg: w.msg, auth: IsAuth(err), retryable: IsRetryable(err),
				notFound: IsNotFound(err), badRequest: IsBadRequest(err), malformed: errors.Is(err, ErrMalformed)}
			if got != w {
				t.Errorf("classification = %+v, want %+v (err %v)", got, w, err)
			}
		})
	}
}

func TestParseResponseMalformed(t *testing.T) {
	for _, body := range []string{
		"", "   ", "not xml", "<response", "<other/>", `<response status="error" code="abc"/>`,
		"<response><result><unclosed></result></response>",
	} {
		if _, err := parseResponse([]byte(body)); !errors.Is(err, ErrMalformed) {
			t.Errorf("parseResponse(%q) = %v, want ErrMalformed", body, err)
		}
	}
}

func TestUIDEntryFailures(t *testing.T) {
	cases := []struct {
		file   string
		found  bool
		failed []EntryError
	}{
		{"uid_ok.xml", false, nil},
		{"uid_partial_benign.xml", true, nil},
		{"uid_partial_failure.xml", true, []EntryError{
			{Op: "unregister", IP: netip.MustParseAddr("10.0.0.9"), Message: "Failed to unregister ip 10.0.0.9: internal error"},
			{Op: "register", IP: netip.MustParseAddr("10.0.0.7"), Message: "Failed to register ip 10.0.0.7: registered-ip capacity 1000 reached", CapacityFull: true},
			{Op: "register", IP: netip.MustParseAddr("10.0.0.8"), Message: "Failed to register ip 10.0.0.8: too many tags (max 32)"},
		}},
		{"uid_partial_cdata.xml", true, []EntryError{
			{Op: "register", IP: netip.MustParseAddr("10.0.0.8"), Message: "Failed to register ip 10.0.0.8: tag name too long (max 127)"},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			r, err := parseResponse(readResponse(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			failed, found, err := uidEntryFailures(r)
			if err != nil {
				t.Fatal(err)
			}
			if found != tc.found || !reflect.DeepEqual(failed, tc.failed) {
				t.Errorf("got found=%v %+v\nwant found=%v %+v", found, failed, tc.found, tc.failed)
			}
		})
	}
}

func TestParseRegisteredIPs(t *testing.T) {
	r, err := parseResponse(readResponse(t, "registered_ip.xml"))
	if err != nil {
		t.Fatal(err)
	}
	got, n, skipped, err := parseRegisteredIPs(r.Result)
	if err != nil {
		t.Fatal(err)
	}
	want := []RegisteredIP{
		{IP: netip.MustParseAddr("10.1.129.5"), Tags: []Tag{{Name: "a"}, {Name: "b"}}, Persistent: true},
		{IP: netip.MustParseAddr("10.1.129.6"), Tags: []Tag{{Name: "c", Timeout: time.Hour}}, Persistent: false},
	}
	if n != 3 || skipped != 1 || !reflect.DeepEqual(got, want) {
		t.Errorf("got n=%d skipped=%d %+v, want n=3 skipped=1 %+v", n, skipped, got, want)
	}
}

func TestParseJob(t *testing.T) {
	cases := []struct {
		file            string
		done, failed    bool
		id              int
		details, errSub string
	}{
		{"job_active.xml", false, true, 4, "", ""},
		{"job_ok.xml", true, false, 4, "Configuration committed successfully", ""},
		{"job_fail.xml", true, true, 5, "address -> web is invalid", "address -> web is invalid"},
		{"job_commitall_device_fail.xml", true, true, 9, "", "device 007200000000002: commit failed/FAIL: rule r1 references unknown zone"},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			r, err := parseResponse(readResponse(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			j, err := parseJob(r.Result)
			if err != nil {
				t.Fatal(err)
			}
			if j.ID != tc.id || j.Done() != tc.done || (j.Done() && j.Failed() != tc.failed) {
				t.Errorf("job %+v: want id %d done %v failed %v", j, tc.id, tc.done, tc.failed)
			}
			if tc.details != "" && !strings.Contains(strings.Join(j.Details, "\n"), tc.details) {
				t.Errorf("details %q lack %q", j.Details, tc.details)
			}
			if tc.errSub != "" {
				if msg := (&JobError{Job: j}).Error(); !strings.Contains(msg, tc.errSub) {
					t.Errorf("JobError %q lacks %q", msg, tc.errSub)
				}
			}
		})
	}
}

func TestParseCommit(t *testing.T) {
	for _, tc := range []struct {
		file string
		id   int
		ok   bool
	}{{"commit_job.xml", 4, true}, {"commit_no_changes.xml", 0, false}} {
		r, err := parseResponse(readResponse(t, tc.file))
		if err != nil {
			t.Fatal(err)
		}
		id, ok, err := parseCommit(r)
		if err != nil || id != tc.id || ok != tc.ok {
			t.Errorf("%s: got %d %v %v, want %d %v", tc.file, id, ok, err, tc.id, tc.ok)
		}
	}
	r, _ := parseResponse(readResponse(t, "write_ok.xml"))
	if _, _, err := parseCommit(r); !errors.Is(err, ErrMalformed) {
		t.Errorf("commit answer without job: err = %v, want ErrMalformed", err)
	}
}

// TestResponseFilesAreWellFormed keeps the canned XML honest.
func TestResponseFilesAreWellFormed(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "responses", "*.xml"))
	if len(files) < 15 {
		t.Fatalf("only %d response files", len(files))
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := parseResponse(b); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}
