package userid_test

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/kubedag/kubedag/tags/dagfilter"
	"github.com/kubedag/kubedag/userid"
	"github.com/kubedag/kubedag/userid/panossim"
)

func commitAndWait(t *testing.T, ctx context.Context, c *userid.Client) {
	t.Helper()
	id, err := c.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if id > 0 {
		if _, err := c.WaitJob(ctx, id, 10*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
}

func dag(name, filter string) string {
	return `<entry name="` + name + `"><dynamic><filter>` + filter + `</filter></dynamic></entry>`
}

// summary renders DAGFilters' result as "location/group: canonical filter"
// or "location/group: ERROR offset N".
func summary(t *testing.T, fs []userid.DAGFilter) []string {
	t.Helper()
	var out []string
	for _, f := range fs {
		if f.Err != nil {
			se, ok := f.Err.(*dagfilter.SyntaxError)
			if !ok {
				t.Fatalf("%s/%s: error %v is not a *dagfilter.SyntaxError", f.Location, f.Group, f.Err)
			}
			out = append(out, fmt.Sprintf("%s/%s: ERROR offset %d", f.Location, f.Group, se.Offset))
			continue
		}
		out = append(out, fmt.Sprintf("%s/%s: %s", f.Location, f.Group, f.Expr))
	}
	return out
}

func TestDAGFiltersFirewall(t *testing.T) {
	srv := startSim(t, panossim.Config{})
	c := simClient(t, srv, nil)
	ctx := t.Context()

	if fs, err := c.DAGFilters(ctx); err != nil || len(fs) != 0 {
		t.Fatalf("default config: %v %v, want no DAGs", fs, err)
	}
	vsys2 := "/config/devices/entry[@name='localhost.localdomain']/vsys/entry[@name='vsys2']"
	for _, s := range []struct{ xpath, element string }{
		{"/config/shared/address-group", dag("all-shop", `'k8s.cl_prod.ns_shop'`)},
		{"/config/shared/address-group", dag("broken", `'a' and not 'b'`)},
		{vsysPrefix + "/address-group", dag("web", `'k8s.cl_prod.ns_shop.svc_web' and ('k8s.cl_prod.ns_shop.app.web' or 'web (legacy)')`)},
		{vsysPrefix + "/address-group", dag("bare", `internal AND ntp`)},
		{vsysPrefix + "/address", `<entry name="h1"><fqdn>h1.example</fqdn></entry>`},
		{vsysPrefix + "/address-group", `<entry name="static"><static><member>h1</member></static></entry>`},
		{vsys2 + "/address-group", dag("db", `'k8s.cl_prod.ns_db' and 'k8s.cl_prod.ns_db.app.pg'`)},
	} {
		if err := c.Set(ctx, s.xpath, s.element); err != nil {
			t.Fatalf("set %s: %v", s.xpath, err)
		}
	}
	if fs, err := c.DAGFilters(ctx); err != nil || len(fs) != 0 {
		t.Fatalf("before commit: %v %v, want none (DAGs apply from the running config)", summary(t, fs), err)
	}
	commitAndWait(t, ctx, c)
	// Uncommitted changes stay invisible.
	if err := c.Set(ctx, vsysPrefix+"/address-group", dag("pending", `'x'`)); err != nil {
		t.Fatal(err)
	}

	fs, err := c.DAGFilters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"shared/all-shop: 'k8s.cl_prod.ns_shop'",
		"shared/broken: ERROR offset 8",
		"vsys vsys1/bare: 'internal' and 'ntp'",
		"vsys vsys1/web: 'k8s.cl_prod.ns_shop.svc_web' and ('k8s.cl_prod.ns_shop.app.web' or 'web (legacy)')",
		"vsys vsys2/db: 'k8s.cl_prod.ns_db' and 'k8s.cl_prod.ns_db.app.pg'",
	}
	if got := summary(t, fs); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("DAGFilters:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if fs[1].Filter != `'a' and not 'b'` {
		t.Errorf("unparsable filter reported as %q, want the stored text", fs[1].Filter)
	}
}

func TestDAGFiltersPanorama(t *testing.T) {
	srv := startSim(t, panossim.Config{Panorama: true})
	c := simClient(t, srv, nil)
	ctx := t.Context()
	dgs := "/config/devices/entry[@name='localhost.localdomain']/device-group"
	for _, s := range []struct{ xpath, element string }{
		{"/config/shared/address-group", dag("ns-shop", `'k8s.cl_prod.ns_shop'`)},
		{dgs + "/entry[@name='eks']/address-group", dag("web", `'k8s.cl_prod.ns_shop.svc_web' or 'k8s.cl_prod.ns_shop.app.web'`)},
		{dgs + "/entry[@name='dev']/address-group", dag("any", `'k8s.cl_dev.ns_a' or ('k8s.cl_dev.ns_b' and 'k8s.cl_dev.ns_b.tier.fe')`)},
		{dgs + "/entry[@name='empty']/description", `<description>no groups</description>`},
	} {
		if err := c.Set(ctx, s.xpath, s.element); err != nil {
			t.Fatalf("set %s: %v", s.xpath, err)
		}
	}
	commitAndWait(t, ctx, c)
	for _, p := range [][2]string{{"dev", "eks"}, {"empty", "dev"}} {
		if err := srv.Sim.SetDeviceGroupParent(p[0], p[1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.Sim.SetDeviceGroupParent("eks", "empty"); err == nil {
		t.Fatal("emulator accepted a device-group cycle")
	}
	parents, err := c.DeviceGroupParents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"eks": "", "dev": "eks", "empty": "dev"}; !maps.Equal(parents, want) {
		t.Fatalf("DeviceGroupParents = %v, want %v", parents, want)
	}
	fs, err := c.DAGFilters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"shared/ns-shop: 'k8s.cl_prod.ns_shop'",
		"device-group dev/any: 'k8s.cl_dev.ns_a' or 'k8s.cl_dev.ns_b' and 'k8s.cl_dev.ns_b.tier.fe'",
		"device-group eks/web: 'k8s.cl_prod.ns_shop.svc_web' or 'k8s.cl_prod.ns_shop.app.web'",
	}
	if got := summary(t, fs); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("DAGFilters:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestLastCommit(t *testing.T) {
	srv := startSim(t, panossim.Config{})
	c := simClient(t, srv, nil)
	ctx := t.Context()
	if id, err := c.LastCommit(ctx); err != nil || id != 0 {
		t.Fatalf("fresh device: %d %v, want 0", id, err)
	}
	if err := c.Set(ctx, vsysPrefix+"/address-group", dag("a", `'a'`)); err != nil {
		t.Fatal(err)
	}
	id, err := c.Commit(ctx)
	if err != nil || id <= 0 {
		t.Fatalf("commit: %d %v", id, err)
	}
	if _, err := c.WaitJob(ctx, id, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if got, err := c.LastCommit(ctx); err != nil || got != id {
		t.Fatalf("LastCommit = %d %v, want %d", got, err, id)
	}
}
