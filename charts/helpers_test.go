package charts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// chartDir is the chart under test, relative to this package.
const chartDir = "kubedag"

// toolsDir returns the directory of the binaries `make tools` builds:
// $KUBEDAG_TOOLS_DIR, else what e2e/tools/tools.sh --print-dir prints.
func toolsDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("KUBEDAG_TOOLS_DIR"); d != "" {
		return d
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "bash", filepath.Join("..", "e2e", "tools", "tools.sh"), "--print-dir").Output()
	if err != nil {
		t.Fatalf("e2e/tools/tools.sh --print-dir: %v (run `make tools`)", err)
	}
	return strings.TrimSpace(string(out))
}

// tool returns the path of a binary built by `make tools`, failing the test
// (never skipping it) when it is missing.
func tool(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(toolsDir(t), name)
	st, err := os.Stat(p)
	if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		t.Fatalf("%s not found at %s: run `make tools` (e2e/tools/tools.sh) to build it", name, p)
	}
	return p
}

// run runs a command with a generous deadline and returns its stdout and
// stderr, and an error when it exits non-zero.
func run(t *testing.T, name string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var o, e bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &o, &e
	// Keep helm's state out of $HOME.
	home := t.TempDir()
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
	)
	err = cmd.Run()
	if err != nil {
		err = fmt.Errorf("%s %s: %w", filepath.Base(name), strings.Join(args, " "), err)
	}
	return o.String(), e.String(), err
}

// writeValues writes a values file for one test case and returns its path.
func writeValues(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// obj is one rendered Kubernetes object.
type obj map[string]any

func (o obj) kind() string { return str(o["kind"]) }
func (o obj) name() string { return str(get(o, "metadata", "name")) }

// parseDocs splits a multi-document YAML stream into objects, dropping
// empty documents.
func parseDocs(t *testing.T, manifest string) []obj {
	t.Helper()
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(manifest), 4096)
	var objs []obj
	for {
		var o obj
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("rendered manifest is not valid YAML: %v", err)
		}
		if len(o) == 0 {
			continue
		}
		objs = append(objs, o)
	}
	return objs
}

// find returns the one object of kind whose name ends with suffix.
func find(t *testing.T, objs []obj, kind, suffix string) obj {
	t.Helper()
	var found []obj
	for _, o := range objs {
		if o.kind() == kind && strings.HasSuffix(o.name(), suffix) {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want exactly one %s named *%s, found %d", kind, suffix, len(found))
	}
	return found[0]
}

func ofKind(objs []obj, kind string) []obj {
	var out []obj
	for _, o := range objs {
		if o.kind() == kind {
			out = append(out, o)
		}
	}
	return out
}

// get walks nested maps by key; it returns nil when a step is missing.
func get(v any, path ...string) any {
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			if o, ok2 := v.(obj); ok2 {
				m = o
			} else {
				return nil
			}
		}
		v = m[k]
	}
	return v
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}

// byName returns the element of a list of maps whose "name" is name.
func byName(l any, name string) map[string]any {
	for _, e := range list(l) {
		if m, ok := e.(map[string]any); ok && m["name"] == name {
			return m
		}
	}
	return nil
}

// flags turns --name=value args into a map; it fails on an arg of another
// shape and on a repeated flag.
func flags(t *testing.T, args []any) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, a := range args {
		s := str(a)
		if !strings.HasPrefix(s, "--") {
			t.Fatalf("arg %q is not a --flag=value", s)
		}
		k, v, ok := strings.Cut(strings.TrimPrefix(s, "--"), "=")
		if !ok {
			t.Fatalf("arg %q has no value: the chart always passes --flag=value", s)
		}
		if _, dup := out[k]; dup {
			t.Fatalf("flag --%s passed twice", k)
		}
		out[k] = v
	}
	return out
}

func readFile(p string) ([]byte, error) { return os.ReadFile(p) }
