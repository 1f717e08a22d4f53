package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// ToolsDirEnv names the environment variable that points at the directory
// holding the control-plane binaries; `make` exports it.
const ToolsDirEnv = "KUBEDAG_TOOLS_DIR"

// Binaries that Start runs. Kwok is needed only when Options.Kwok is set.
const (
	Etcd                  = "etcd"
	KubeAPIServer         = "kube-apiserver"
	KubeControllerManager = "kube-controller-manager"
	KubeScheduler         = "kube-scheduler"
	Kwok                  = "kwok"
	Kubectl               = "kubectl"
	Helm                  = "helm"
)

// ToolsDir returns the directory holding the control-plane binaries built by
// `make tools`: $KUBEDAG_TOOLS_DIR when set, otherwise the directory that
// e2e/tools/tools.sh --print-dir reports, found by walking up from the
// working directory to the kubedag module root. It fails when the directory
// cannot be determined or does not exist; it does not check single binaries
// (ToolPath does).
func ToolsDir() (string, error) {
	dir := os.Getenv(ToolsDirEnv)
	if dir == "" {
		var err error
		dir, err = toolsDirFromScript()
		if err != nil {
			return "", err
		}
	}
	st, err := os.Stat(dir)
	if err != nil {
		return "", fmt.Errorf("control-plane tools directory %s: %w (run `make tools` to build the binaries)", dir, err)
	}
	if !st.IsDir() {
		return "", fmt.Errorf("control-plane tools directory %s is not a directory (run `make tools`)", dir)
	}
	return dir, nil
}

// ToolPath returns the path of one binary (Etcd, KubeAPIServer, ..., Helm) in
// ToolsDir, or an error telling the caller to run `make tools` when it is
// missing or not executable.
func ToolPath(name string) (string, error) {
	dir, err := ToolsDir()
	if err != nil {
		return "", err
	}
	return toolIn(dir, name)
}

func toolIn(dir, name string) (string, error) {
	p := filepath.Join(dir, name)
	st, err := os.Stat(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("%s is missing from %s: run `make tools` (e2e/tools/tools.sh) to build the control-plane binaries", name, dir)
		}
		return "", fmt.Errorf("%s: %w (run `make tools`)", p, err)
	}
	if st.IsDir() || st.Mode()&0o111 == 0 {
		return "", fmt.Errorf("%s is not an executable file: run `make tools` to rebuild it", p)
	}
	return p, nil
}

// toolsDirFromScript asks e2e/tools/tools.sh where the binaries live.
func toolsDirFromScript() (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", fmt.Errorf("locate control-plane tools: %w; set %s or run from the kubedag checkout after `make tools`", err, ToolsDirEnv)
	}
	script := filepath.Join(root, "e2e", "tools", "tools.sh")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "bash", script, "--print-dir")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s --print-dir: %w: %s", script, err, strings.TrimSpace(stderr.String()))
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		return "", fmt.Errorf("%s --print-dir printed nothing", script)
	}
	return dir, nil
}

// moduleRoot walks up from the working directory to the directory holding
// the kubedag go.mod (one that has e2e/tools/tools.sh next to it).
func moduleRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	for dir := wd; ; {
		if fileExists(filepath.Join(dir, "go.mod")) && fileExists(filepath.Join(dir, "e2e", "tools", "tools.sh")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no kubedag module root (go.mod with e2e/tools/tools.sh) above %s", wd)
		}
		dir = parent
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
