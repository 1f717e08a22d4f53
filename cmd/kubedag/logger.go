package main

import (
	"log/slog"

	"github.com/kubedag/kubedag/cmd/internal/daemon"
)

// newLogger returns the JSON slog logger of the daemons.
func newLogger(level string) (*slog.Logger, error) { return daemon.NewLogger(level) }
