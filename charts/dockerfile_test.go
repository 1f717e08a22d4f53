package charts

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// dockerInstr is one Dockerfile instruction with its continuation lines joined.
type dockerInstr struct {
	cmd  string // upper case: FROM, RUN, ...
	args string
}

type dockerStage struct {
	from, name string
	instrs     []dockerInstr
}

// parseDockerfile splits a Dockerfile into its global ARGs and stages.
func parseDockerfile(t *testing.T, path string) (globalArgs map[string]string, stages []dockerStage) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read Dockerfile: %v", err)
	}
	globalArgs = map[string]string{}
	var logical []string
	var cur strings.Builder
	for _, line := range strings.Split(string(b), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && cur.Len() == 0) {
			continue
		}
		if body, ok := strings.CutSuffix(trimmed, `\`); ok {
			cur.WriteString(body + " ")
			continue
		}
		cur.WriteString(trimmed)
		logical = append(logical, cur.String())
		cur.Reset()
	}
	for _, l := range logical {
		cmd, args, _ := strings.Cut(l, " ")
		in := dockerInstr{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		switch {
		case in.cmd == "FROM":
			f := strings.Fields(in.args)
			f = slices.DeleteFunc(f, func(s string) bool { return strings.HasPrefix(s, "--") })
			st := dockerStage{from: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.name = f[2]
			}
			stages = append(stages, st)
		case len(stages) == 0 && in.cmd == "ARG":
			k, v, _ := strings.Cut(in.args, "=")
			globalArgs[k] = v
		case len(stages) > 0:
			stages[len(stages)-1].instrs = append(stages[len(stages)-1].instrs, in)
		}
	}
	return globalArgs, stages
}

// shellWords splits a shell command line into words, honouring single and
// double quotes (enough for the build commands compared here).
func shellWords(s string) []string {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t' || r == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// goBuild is a `[ENV=v ...] go build ARGS PKG` command, normalised.
type goBuild struct {
	env     map[string]string
	flags   map[string]string // -flag -> value ("" for booleans)
	output  string
	pkgs    []string
	command string
}

var boolBuildFlags = []string{"-trimpath", "-race", "-a", "-v", "-x", "-n"}

// parseGoBuild finds the `go build` in a shell command and parses it.
func parseGoBuild(t *testing.T, command string) goBuild {
	t.Helper()
	w := shellWords(command)
	i := slices.IndexFunc(w, func(s string) bool { return s == "go" || strings.HasSuffix(s, "/go") })
	if i < 0 || i+1 >= len(w) || w[i+1] != "build" {
		t.Fatalf("no `go build` in %q", command)
	}
	g := goBuild{env: map[string]string{}, flags: map[string]string{}, command: command}
	for _, e := range w[:i] {
		if k, v, ok := strings.Cut(e, "="); ok {
			g.env[k] = v
		}
	}
	rest := w[i+2:]
	for j := 0; j < len(rest); j++ {
		a := rest[j]
		switch {
		case a == "-o":
			j++
			g.output = rest[j]
		case slices.Contains(boolBuildFlags, a):
			g.flags[a] = ""
		case strings.HasPrefix(a, "-"):
			if k, v, ok := strings.Cut(a, "="); ok {
				g.flags[k] = v
			} else {
				j++
				g.flags[a] = rest[j]
			}
		default:
			g.pkgs = append(g.pkgs, a)
		}
	}
	return g
}

// expand replaces ${NAME} and $NAME from vars.
func expand(s string, vars map[string]string) string {
	return os.Expand(s, func(k string) string { return vars[k] })
}

func repoMake(t *testing.T, env []string, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command("make", append([]string{"-s", "-C", ".."}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	return o.String(), e.String(), err
}

// TestDockerfileBuildsWhatMakeBuilds compares the Dockerfile's go build with
// the one `make build` runs: same package, same cgo setting, same flags and
// version stamping, and the runtime stage runs that binary as non-root.
func TestDockerfileBuildsWhatMakeBuilds(t *testing.T) {
	const version = "v0.0.0-test"
	makeOut, makeErr, err := repoMake(t, nil, "-n", "build", "VERSION="+version, "GO=go")
	if err != nil {
		t.Fatalf("make -n build: %v\n%s", err, makeErr)
	}
	var makeLine string
	for _, l := range strings.Split(makeOut, "\n") {
		if strings.Contains(l, "go build") {
			makeLine = l
		}
	}
	want := parseGoBuild(t, makeLine)

	globals, stages := parseDockerfile(t, filepath.Join("..", "Dockerfile"))
	if len(stages) < 2 {
		t.Fatalf("Dockerfile has %d stages, want a build stage and a runtime stage", len(stages))
	}
	build, runtime := stages[0], stages[len(stages)-1]

	// Build stage: the Go toolchain of go.mod, the module proxy.
	gomod, err := os.ReadFile(filepath.Join("..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goLine := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(string(gomod))
	if goLine == nil {
		t.Fatal("go.mod has no go directive")
	}
	pinned := regexp.MustCompile(`@sha256:[0-9a-f]{64}$`)
	if img := expand(build.from, globals); !strings.HasPrefix(img, "golang:"+goLine[1]+"@") || !pinned.MatchString(img) {
		t.Errorf("build stage FROM %s, want golang:%s@sha256:<digest> (go.mod's Go, pinned)", img, goLine[1])
	}
	vars := map[string]string{"VERSION": version}
	var got *goBuild
	proxy := false
	for _, in := range build.instrs {
		switch in.cmd {
		case "ARG":
			k, v, _ := strings.Cut(in.args, "=")
			if _, set := vars[k]; !set {
				vars[k] = v
			}
			if k == "GOPROXY" && strings.Contains(v, "proxy.golang.org") {
				proxy = true
			}
		case "RUN":
			if strings.Contains(in.args, "go build") {
				g := parseGoBuild(t, expand(in.args, vars))
				got = &g
			}
		}
	}
	if !proxy {
		t.Error("build stage does not fetch modules through the Go module proxy (ARG GOPROXY)")
	}
	if got == nil {
		t.Fatal("build stage has no `go build`")
	}
	if !slices.Equal(got.pkgs, want.pkgs) {
		t.Errorf("Dockerfile builds %v, make build builds %v", got.pkgs, want.pkgs)
	}
	if got.env["CGO_ENABLED"] != "0" || want.env["CGO_ENABLED"] != "0" {
		t.Errorf("CGO_ENABLED: Dockerfile %q, make %q; want 0 in both (static binary)", got.env["CGO_ENABLED"], want.env["CGO_ENABLED"])
	}
	if !mapsEqual(got.flags, want.flags) {
		t.Errorf("go build flags differ:\n Dockerfile %v\n make       %v", got.flags, want.flags)
	}
	if !strings.Contains(got.flags["-ldflags"], "main.version="+version) {
		t.Errorf("Dockerfile -ldflags %q do not stamp the version", got.flags["-ldflags"])
	}

	// Runtime stage: distroless static, non-root, the binary as entrypoint.
	if img := expand(runtime.from, globals); !strings.HasPrefix(img, "gcr.io/distroless/static") || !strings.Contains(img, ":nonroot@") || !pinned.MatchString(img) {
		t.Errorf("runtime stage FROM %s, want gcr.io/distroless/static...:nonroot@sha256:<digest>", img)
	}
	var user, entrypoint string
	copied := map[string]string{} // built file -> where the image has it
	for _, in := range runtime.instrs {
		switch in.cmd {
		case "USER":
			user = in.args
		case "ENTRYPOINT":
			entrypoint = in.args
		case "COPY":
			f := strings.Fields(in.args)
			if slices.Contains(f, "--from="+build.name) && len(f) == 3 {
				copied[f[1]] = f[2]
			}
		case "RUN":
			t.Errorf("runtime stage runs %q: distroless has no shell", in.args)
		}
	}
	if uid, _, _ := strings.Cut(user, ":"); uid != "65532" {
		t.Errorf("runtime USER %q, want 65532 (non-root)", user)
	}
	// go build -o DIR/ names each binary after its package's directory.
	if !strings.HasSuffix(got.output, "/") {
		t.Fatalf("Dockerfile go build -o %s, want a directory (one binary per command)", got.output)
	}
	for _, pkg := range got.pkgs {
		name := filepath.Base(pkg)
		if dst := copied[got.output+name]; dst != "/"+name {
			t.Errorf("runtime stage has the built %s at %q, want /%s", got.output+name, dst, name)
		}
	}
	if entrypoint != `["/kubedag"]` || copied[got.output+"kubedag"] != "/kubedag" {
		t.Errorf("ENTRYPOINT %s, want [\"/kubedag\"], the kubedag binary", entrypoint)
	}
	// The chart runs these; each must be built.
	for _, want := range []string{"./cmd/kubedag", "./cmd/kubedag-agent"} {
		if !slices.Contains(got.pkgs, want) {
			t.Errorf("Dockerfile does not build %s", want)
		}
	}

	// The target platform is BuildKit's: a default on TARGETOS/TARGETARCH
	// would override it (a --platform linux/arm64 build shipping amd64).
	for _, in := range build.instrs {
		if in.cmd != "ARG" {
			continue
		}
		if k, v, hasDefault := strings.Cut(in.args, "="); (k == "TARGETOS" || k == "TARGETARCH") && hasDefault {
			t.Errorf("ARG %s=%s: a default overrides the platform BuildKit passes", k, v)
		}
	}
	for _, env := range []string{"GOOS", "GOARCH"} {
		if v, ok := got.env[env]; !ok || v != "" {
			t.Errorf("go build %s=%q with no platform given, want it from ${TARGET...} (empty: the build host's)", env, v)
		}
	}
	// OCI labels, the version and revision from build args.
	labels := map[string]string{}
	rvars := map[string]string{"VERSION": version, "REVISION": "abc123"}
	for _, in := range runtime.instrs {
		if in.cmd == "LABEL" {
			for _, w := range shellWords(expand(in.args, rvars)) {
				if k, v, ok := strings.Cut(w, "="); ok {
					labels[k] = v
				}
			}
		}
	}
	for k, want := range map[string]string{
		"org.opencontainers.image.licenses": "Apache-2.0",
		"org.opencontainers.image.source":   "https://github.com/kubedag/kubedag",
		"org.opencontainers.image.version":  version,
		"org.opencontainers.image.revision": "abc123",
		"org.opencontainers.image.title":    "kubedag",
	} {
		if labels[k] != want {
			t.Errorf("image label %s=%q, want %q", k, labels[k], want)
		}
	}
	lic, err := os.ReadFile(filepath.Join("..", "LICENSE"))
	if err != nil || !strings.Contains(string(lic), "Apache License") || !strings.Contains(string(lic), "Version 2.0, January 2004") {
		t.Errorf("LICENSE is not the Apache License 2.0 the image label claims (%v)", err)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

// TestDockerignoreKeepsBuildInputs checks that the build context keeps
// go.mod, go.sum, the command and every file a //go:embed directive needs.
func TestDockerignoreKeepsBuildInputs(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", ".dockerignore"))
	if err != nil {
		t.Fatalf(".dockerignore: %v", err)
	}
	var excluded []string
	for _, line := range strings.Split(string(b), "\n") {
		p := strings.TrimSuffix(strings.TrimSpace(line), "/")
		if p == "" || strings.HasPrefix(p, "#") {
			continue
		}
		if strings.ContainsAny(p, "*?[!") {
			t.Errorf(".dockerignore pattern %q: only plain paths are checked by this test; extend it", p)
		}
		excluded = append(excluded, p)
	}
	isExcluded := func(path string) bool {
		for _, e := range excluded {
			if path == e || strings.HasPrefix(path, e+"/") {
				return true
			}
		}
		return false
	}
	// Every Go and embedded file of this module's packages that the binary
	// is built from.
	needed := []string{"go.mod", "go.sum"}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "list", "-deps", "-f",
		`{{if .Module}}{{if .Module.Main}}{{$d := .Dir}}{{range .GoFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}{{range .EmbedFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}{{end}}{{end}}`,
		"./cmd/kubedag")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps ./cmd/kubedag: %v", err)
	}
	for _, f := range strings.Fields(string(out)) {
		rel, err := filepath.Rel(root, f)
		if err != nil {
			t.Fatal(err)
		}
		needed = append(needed, filepath.ToSlash(rel))
	}
	if !slices.Contains(needed, "cmd/kubedag/main.go") {
		t.Fatalf("go list found no cmd/kubedag/main.go among %d files", len(needed))
	}
	for _, n := range needed {
		if isExcluded(n) {
			t.Errorf(".dockerignore excludes %s, which the image build needs", n)
		}
	}
}

func TestMakeImage(t *testing.T) {
	t.Run("no builder", func(t *testing.T) {
		_, stderr, err := repoMake(t, nil, "image", "CONTAINER_BUILDERS=kubedag-no-such-builder")
		if err == nil {
			t.Fatal("make image succeeded without a container builder")
		}
		for _, want := range []string{"no container builder found", "docker, podman or buildah"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("make image stderr lacks %q:\n%s", want, stderr)
			}
		}
	})
	buildArgs := []string{"--build-arg", "VERSION=v9.9.9", "--build-arg", "REVISION=r1"}
	for _, tc := range []struct {
		name, builder string
		extra         []string
		want          []string
	}{
		{"fake builder", "kubedag-fake-builder", nil, slices.Concat([]string{"build"}, buildArgs, []string{"-t", "example.com/kubedag:t1", "."})},
		{"multi-platform docker", "docker", []string{"PLATFORMS=linux/amd64,linux/arm64"},
			slices.Concat([]string{"buildx", "build", "--platform", "linux/amd64,linux/arm64"}, buildArgs, []string{"-t", "example.com/kubedag:t1", "."})},
		{"multi-platform podman", "podman", []string{"PLATFORMS=linux/amd64,linux/arm64"},
			slices.Concat([]string{"build", "--platform", "linux/amd64,linux/arm64"}, buildArgs, []string{"--manifest", "example.com/kubedag:t1", "."})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			record := filepath.Join(dir, "record")
			script := "#!/bin/sh\n{ pwd; printf '%s\\n' \"$@\"; } > " + record + "\n"
			if err := os.WriteFile(filepath.Join(dir, tc.builder), []byte(script), 0o755); err != nil {
				t.Fatal(err)
			}
			_, stderr, err := repoMake(t, []string{"PATH=" + dir + string(os.PathListSeparator) + os.Getenv("PATH")},
				append([]string{"image", "CONTAINER_BUILDER=" + filepath.Join(dir, tc.builder), "IMAGE=example.com/kubedag:t1", "VERSION=v9.9.9", "REVISION=r1"}, tc.extra...)...)
			if err != nil {
				t.Fatalf("make image: %v\n%s", err, stderr)
			}
			b, err := os.ReadFile(record)
			if err != nil {
				t.Fatalf("the builder was not run: %v", err)
			}
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			root, _ := filepath.Abs("..")
			if lines[0] != root || !slices.Equal(lines[1:], tc.want) {
				t.Errorf("builder ran in %s with %q, want %s with %q", lines[0], lines[1:], root, tc.want)
			}
		})
	}
}
