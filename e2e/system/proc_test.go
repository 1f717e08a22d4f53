package system

import "github.com/kubedag/kubedag/e2e/childproc"

// spawner and proc adapt e2e/childproc (children in their own process
// group, Pdeathsig from one locked thread, output to a log file) to these
// tests: one kubedag process that tests can kill and start again with the
// same arguments, its stdout and stderr appended to one log file.
type spawner struct{ *childproc.Spawner }

func startSpawner() *spawner { return &spawner{childproc.NewSpawner()} }

func (s *spawner) stop() { s.Stop() }

type proc struct {
	*childproc.Proc
	logPath string
	args    []string
}

func newProc(sp *spawner, logDir, name, bin string, args ...string) *proc {
	logPath := logDir + "/" + name + ".log"
	return &proc{Proc: childproc.New(sp.Spawner, childproc.Config{Name: name, Bin: bin, Args: args, LogPath: logPath}), logPath: logPath, args: args}
}

func (p *proc) start() error   { return p.Start() }
func (p *proc) kill() error    { return p.Kill() }
func (p *proc) restart() error { return p.Restart() }
func (p *proc) alive() error   { return p.Alive() }

func tail(path string, n int) string { return childproc.Tail(path, n) }
