package main

import (
	"fmt"
	"log/slog"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubedag/kubedag/cmd/internal/daemon"
)

// kubeClient returns a clientset from a kubeconfig path, or the in-cluster
// configuration when path is empty.
func kubeClient(path, userAgent string) (kubernetes.Interface, *rest.Config, error) {
	cfg, err := daemon.RESTConfig(path, userAgent)
	if err != nil {
		return nil, nil, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return cs, cfg, nil
}

// newLogger returns the JSON slog logger of the daemons.
func newLogger(level string) (*slog.Logger, error) { return daemon.NewLogger(level) }
