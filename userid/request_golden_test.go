package userid

import (
	"context"
	"encoding/xml"
	"flag"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden request files under testdata/requests")

// cannedFor answers a request like a device would, by its type.
func cannedFor(t testing.TB, r recorded) []byte {
	f := r.Form
	switch get := func(k string) string {
		if v := f[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}; {
	case get("type") == "keygen":
		return readResponse(t, "keygen_ok.xml")
	case get("type") == "user-id":
		return readResponse(t, "uid_ok.xml")
	case get("type") == "op" && strings.Contains(get("cmd"), "registered-ip"):
		return readResponse(t, "registered_ip.xml")
	case get("type") == "op" && strings.Contains(get("cmd"), "<jobs>"):
		return readResponse(t, "job_ok.xml")
	case get("type") == "op":
		return []byte(`<response status="success"><result><system><hostname>fw</hostname></system></result></response>`)
	case get("type") == "config" && (get("action") == "get" || get("action") == "show"):
		return readResponse(t, "get_ok.xml")
	case get("type") == "config":
		return readResponse(t, "write_ok.xml")
	case get("type") == "commit":
		return readResponse(t, "commit_job.xml")
	}
	return []byte(`<response status="error" code="1"><msg>unknown command</msg></response>`)
}

// renderRequest prints a request for a golden file: method, path, the
// headers that matter, then the form fields sorted by name, values raw.
func renderRequest(r recorded) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s\n", r.Method, r.Path)
	fmt.Fprintf(&b, "Content-Type: %s\n", r.Header.Get("Content-Type"))
	switch k := r.Header.Get("X-PAN-KEY"); k {
	case "":
		b.WriteString("X-PAN-KEY: (none)\n")
	case testKey:
		b.WriteString("X-PAN-KEY: (test key)\n")
	default:
		b.WriteString("X-PAN-KEY: (unexpected value)\n")
	}
	fmt.Fprintf(&b, "query: %q\n", r.Query)
	keys := make([]string, 0, len(r.Form))
	for k := range r.Form {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range r.Form[k] {
			fmt.Fprintf(&b, "%s=%s\n", k, v)
		}
	}
	return b.String()
}

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

func TestRequestGoldens(t *testing.T) {
	dg := "DG-1"
	addr := "/config/devices/entry[@name='localhost.localdomain']/vsys/entry[@name='vsys1']/address/entry[@name='web']"
	elem := `<entry name="web"><fqdn>internal-ilb-123.elb.us-east-1.amazonaws.com</fqdn><tag><member>t</member></tag></entry>`
	cases := []struct {
		name string
		mod  func(*Config)
		call func(context.Context, *Client) error
	}{
		{"keygen", func(c *Config) { c.APIKey, c.Username, c.Password = "", "admin", "admin" },
			func(ctx context.Context, c *Client) error { return c.Keygen(ctx) }},
		{"uid_register", nil, func(ctx context.Context, c *Client) error {
			_, err := c.Update(ctx, Update{Register: []Entry{
				{IP: ip("10.0.0.1"), Tags: []Tag{{Name: "tag01"}, {Name: "tag03", Timeout: time.Hour}}},
				{IP: ip("10.0.0.2"), Tags: []Tag{{Name: "tag01"}}, NonPersistent: true},
				{IP: ip("fd00::1"), Tags: []Tag{{Name: `k8s.cl_a.ns_b&"c"`, Timeout: 1500 * time.Millisecond}}},
			}})
			return err
		}},
		{"uid_unregister_register_vsys", func(c *Config) { c.Vsys = "vsys2" }, func(ctx context.Context, c *Client) error {
			_, err := c.Update(ctx, Update{
				Unregister: []Entry{{IP: ip("10.0.0.1"), Tags: []Tag{{Name: "old", Timeout: time.Hour}}, NonPersistent: true}},
				Register:   []Entry{{IP: ip("10.0.0.1"), Tags: []Tag{{Name: "new", Timeout: time.Hour}}}},
			})
			return err
		}},
		{"uid_panorama_target", func(c *Config) { c.Target = "007200000000001" }, func(ctx context.Context, c *Client) error {
			_, err := c.Update(ctx, Update{Unregister: []Entry{{IP: ip("10.0.0.3"), Tags: []Tag{{Name: "gone"}}}}})
			return err
		}},
		{"registered_ip_all", func(c *Config) { c.ListConcurrency = 1 }, func(ctx context.Context, c *Client) error {
			_, err := c.RegisteredIPs(ctx, "")
			return err
		}},
		{"registered_ip_tag_vsys", func(c *Config) { c.Vsys = "vsys1"; c.ListConcurrency = 1 }, func(ctx context.Context, c *Client) error {
			_, err := c.RegisteredIPs(ctx, "k8s.cl_a.ns_b")
			return err
		}},
		{"config_get", nil, func(ctx context.Context, c *Client) error { _, err := c.Get(ctx, addr); return err }},
		{"config_show", nil, func(ctx context.Context, c *Client) error { _, err := c.Show(ctx, addr); return err }},
		{"config_set", nil, func(ctx context.Context, c *Client) error {
			return c.Set(ctx, "/config/devices/entry[@name='localhost.localdomain']/vsys/entry[@name='vsys1']/address",
				elem)
		}},
		{"config_edit", nil, func(ctx context.Context, c *Client) error { return c.Edit(ctx, addr, elem) }},
		{"config_delete", nil, func(ctx context.Context, c *Client) error { return c.Delete(ctx, addr) }},
		{"commit", nil, func(ctx context.Context, c *Client) error { _, err := c.Commit(ctx); return err }},
		{"config_move_before", nil, func(ctx context.Context, c *Client) error {
			return c.Move(ctx, "/config/devices/entry[@name='localhost.localdomain']/vsys/entry[@name='vsys1']/rulebase/nat/rules/entry[@name='kd.prod.web-82-inbound']", MoveBefore, "deny all")
		}},
		{"config_move_top", nil, func(ctx context.Context, c *Client) error {
			return c.Move(ctx, "/config/devices/entry[@name='localhost.localdomain']/vsys/entry[@name='vsys1']/rulebase/nat/rules/entry[@name='r']", MoveTop, "")
		}},
		{"commit_partial_admin", nil, func(ctx context.Context, c *Client) error {
			_, err := c.CommitPartial(ctx, Partial{Admins: []string{"kubedag"}})
			return err
		}},
		{"commit_partial_panorama", nil, func(ctx context.Context, c *Client) error {
			_, err := c.CommitPartial(ctx, Partial{Admins: []string{"kubedag"}, DeviceGroups: []string{dg}, TemplateStacks: []string{"eks&stack"}})
			return err
		}},
		{"commit_all_template_stack", nil, func(ctx context.Context, c *Client) error {
			_, err := c.PushTemplateStack(ctx, "eks-stack")
			return err
		}},
		{"commit_all", nil, func(ctx context.Context, c *Client) error { _, err := c.CommitAll(ctx, dg, true); return err }},
		{"commit_all_no_template", nil, func(ctx context.Context, c *Client) error { _, err := c.CommitAll(ctx, dg, false); return err }},
		{"dag_filters", nil, func(ctx context.Context, c *Client) error { _, err := c.DAGFilters(ctx); return err }},
		{"dg_hierarchy", nil, func(ctx context.Context, c *Client) error { _, err := c.DeviceGroupParents(ctx); return err }},
		{"last_commit", nil, func(ctx context.Context, c *Client) error { _, err := c.LastCommit(ctx); return err }},
		{"show_job", nil, func(ctx context.Context, c *Client) error { _, err := c.WaitJob(ctx, 4, time.Millisecond); return err }},
		{"op", nil, func(ctx context.Context, c *Client) error {
			_, err := c.Op(ctx, "<show><system><info/></system></show>")
			return err
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, func(_ int, r recorded, w http.ResponseWriter) { _, _ = w.Write(cannedFor(t, r)) })
			c, _ := newClient(t, ts.URL, tc.mod)
			if err := tc.call(t.Context(), c); err != nil {
				t.Fatalf("call: %v", err)
			}
			var got strings.Builder
			for i, r := range ts.requests() {
				if i > 0 {
					got.WriteString("---\n")
				}
				got.WriteString(renderRequest(r))
				// Every XML parameter must be well-formed.
				for _, k := range []string{"cmd", "element"} {
					if v, ok := r.Form[k]; ok {
						if err := xml.Unmarshal([]byte(v[0]), new(struct{})); err != nil {
							t.Errorf("%s is not well-formed XML: %v", k, err)
						}
					}
				}
			}
			path := filepath.Join("testdata", "requests", tc.name+".txt")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(got.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -run TestRequestGoldens -update)", err)
			}
			if got.String() != string(want) {
				t.Errorf("request differs from %s (go test -update rewrites it)\ngot:\n%s\nwant:\n%s", path, got.String(), want)
			}
		})
	}
}
