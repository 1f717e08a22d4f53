package cluster

import (
	"fmt"
	"path/filepath"

	"github.com/kubedag/kubedag/e2e/childproc"
)

// spawner and process adapt e2e/childproc to the cluster: each component
// runs in its own process group with Pdeathsig SIGKILL, forked from one
// locked thread that lives until Stop, so the components die with the test
// binary even if it never calls Stop, and its log (truncated per Start)
// explains an early exit.
type spawner struct{ *childproc.Spawner }

func startSpawner() *spawner { return &spawner{childproc.NewSpawner()} }

// stop ends the forking goroutine; call it only after every child exited.
func (s *spawner) stop() { s.Stop() }

// process is one control-plane component.
type process struct {
	*childproc.Proc
	name    string
	logPath string
}

func (p *process) exited() bool { return p.Exited() }
func (p *process) kill() error  { return p.Kill() }

// failure describes an exited process with the tail of its log.
func (p *process) failure() error {
	return fmt.Errorf("%s exited (%v); last lines of %s:\n%s", p.name, p.Err(), p.logPath, tail(p.logPath, 40))
}

// startProcess runs bin with args in dir, logging to logDir/name.log.
func startProcess(s *spawner, name, bin, dir, logDir string, args []string) (*process, error) {
	logPath := filepath.Join(logDir, name+".log")
	p := &process{name: name, logPath: logPath, Proc: childproc.New(s.Spawner, childproc.Config{
		Name: name, Bin: bin, Args: args, Dir: dir, LogPath: logPath, Truncate: true})}
	if err := p.Start(); err != nil {
		return nil, err
	}
	return p, nil
}

func tail(path string, n int) string { return childproc.Tail(path, n) }
