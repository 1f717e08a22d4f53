// Package daemon holds what kubedag's long-running commands share, so the
// all-in-one kubedag binary and the agent-only kubedag-agent set them up the
// same way: the JSON logger and the Kubernetes REST configuration.
package daemon

import (
	"fmt"
	"log/slog"
	"os"
	"strings"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// RESTConfig returns the Kubernetes client configuration from a kubeconfig
// path, or the in-cluster configuration when path is empty.
func RESTConfig(path, userAgent string) (*rest.Config, error) {
	var (
		cfg *rest.Config
		err error
	)
	if path != "" {
		cfg, err = clientcmd.BuildConfigFromFlags("", path)
	} else {
		cfg, err = rest.InClusterConfig()
	}
	if err != nil {
		return nil, fmt.Errorf("kubernetes client config (kubeconfig %q): %w", path, err)
	}
	cfg.UserAgent = userAgent
	return cfg, nil
}

// NewLogger returns the JSON slog logger of the daemons at level (debug,
// info, warn or error).
func NewLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(level))); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}
