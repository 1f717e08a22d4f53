package childproc

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// killWait bounds the wait for a killed process to be reaped, so one stuck
// in the kernel cannot hang its caller.
const killWait = 10 * time.Second

// Spawner forks children from one goroutine locked to its OS thread, so
// Pdeathsig fires only when the parent process dies.
type Spawner struct {
	reqs chan *exec.Cmd
	errs chan error
	done chan struct{}
}

// NewSpawner starts the forking goroutine; Stop ends it.
func NewSpawner() *Spawner {
	s := &Spawner{reqs: make(chan *exec.Cmd), errs: make(chan error), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		runtime.LockOSThread()
		for cmd := range s.reqs {
			s.errs <- cmd.Start()
		}
		// Stays locked: the thread exits with the goroutine, after every
		// child has been killed.
	}()
	return s
}

func (s *Spawner) start(cmd *exec.Cmd) error {
	s.reqs <- cmd
	return <-s.errs
}

// Stop ends the forking goroutine. Call it only after every child has
// exited: children forked from its thread die when it exits.
func (s *Spawner) Stop() {
	close(s.reqs)
	<-s.done
}

// Config describes a child process.
type Config struct {
	Name string // for errors and the log header
	Bin  string
	Args []string
	Dir  string // working directory; "" for the parent's
	// Env is added to the parent's environment.
	Env []string
	// LogPath receives stderr, and stdout unless Stdout is set. Every
	// Start appends a header line, unless Truncate.
	LogPath  string
	Truncate bool
	// Stdout, if set, receives stdout instead of the log; the caller
	// closes it (if it must) once Done is closed.
	Stdout io.Writer
}

// Proc is one child process that may be killed and started again with
// the same arguments.
type Proc struct {
	cfg Config
	sp  *Spawner

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when the current run has been reaped
	err  error         // exit status of the current run, after done
}

// New returns a Proc; it starts nothing.
func New(sp *Spawner, cfg Config) *Proc { return &Proc{cfg: cfg, sp: sp} }

// Start runs the process; it is an error to start a running process.
func (p *Proc) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done != nil && !closed(p.done) {
		return fmt.Errorf("%s is already running", p.cfg.Name)
	}
	flags := os.O_CREATE | os.O_WRONLY | os.O_APPEND
	if p.cfg.Truncate {
		flags = os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	}
	logFile, err := os.OpenFile(p.cfg.LogPath, flags, 0o644)
	if err != nil {
		return fmt.Errorf("open %s log: %w", p.cfg.Name, err)
	}
	fmt.Fprintf(logFile, "# %s start: %s %s\n", time.Now().Format(time.RFC3339Nano), p.cfg.Bin, strings.Join(p.cfg.Args, " "))
	cmd := exec.Command(p.cfg.Bin, p.cfg.Args...)
	cmd.Dir = p.cfg.Dir
	if len(p.cfg.Env) > 0 {
		cmd.Env = append(os.Environ(), p.cfg.Env...)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if p.cfg.Stdout != nil {
		cmd.Stdout = p.cfg.Stdout
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.sp.start(cmd); err != nil {
		logFile.Close()
		return fmt.Errorf("start %s: %w", p.cfg.Name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done = cmd, done
	go func() { // reaps the child; Kill forces it to return
		err := cmd.Wait()
		logFile.Close()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(done)
	}()
	return nil
}

// Kill sends SIGKILL to the process group and waits until the process is
// reaped (at most 10s).
func (p *Proc) Kill() error {
	cmd, done := p.run()
	if done == nil || closed(done) {
		return nil
	}
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill %s (pid %d): %w", p.cfg.Name, cmd.Process.Pid, err)
	}
	select {
	case <-done:
		return nil
	case <-time.After(killWait):
		return fmt.Errorf("%s (pid %d) not reaped %v after SIGKILL", p.cfg.Name, cmd.Process.Pid, killWait)
	}
}

// Stop sends SIGTERM and waits up to grace for the process to exit, then
// Kills it; the error says when it had to.
func (p *Proc) Stop(grace time.Duration) error {
	cmd, done := p.run()
	if done == nil || closed(done) {
		return nil
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
		return nil
	case <-time.After(grace):
	}
	if err := p.Kill(); err != nil {
		return err
	}
	return fmt.Errorf("%s ignored SIGTERM for %v; killed", p.cfg.Name, grace)
}

// Restart kills the process and starts it again.
func (p *Proc) Restart() error {
	if err := p.Kill(); err != nil {
		return err
	}
	return p.Start()
}

// Alive returns nil while the process runs, and an error with the log's
// last lines once it has exited (or if it was never started).
func (p *Proc) Alive() error {
	p.mu.Lock()
	done, err := p.done, p.err
	p.mu.Unlock()
	if done == nil {
		return fmt.Errorf("%s was never started", p.cfg.Name)
	}
	if closed(done) {
		return fmt.Errorf("%s exited (%v); last lines of %s:\n%s", p.cfg.Name, err, p.cfg.LogPath, Tail(p.cfg.LogPath, 30))
	}
	return nil
}

// Exited reports whether the process was started and has exited since.
func (p *Proc) Exited() bool {
	_, done := p.run()
	return done != nil && closed(done)
}

// Done is closed when the current run has exited and been reaped (nil
// before the first Start).
func (p *Proc) Done() <-chan struct{} {
	_, done := p.run()
	return done
}

// Err is the current run's exit status, once Done is closed.
func (p *Proc) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Pid is the current run's process ID (0 before the first Start).
func (p *Proc) Pid() int {
	cmd, _ := p.run()
	if cmd == nil {
		return 0
	}
	return cmd.Process.Pid
}

// Name is Config.Name; LogPath is Config.LogPath.
func (p *Proc) Name() string    { return p.cfg.Name }
func (p *Proc) LogPath() string { return p.cfg.LogPath }

func (p *Proc) run() (*exec.Cmd, chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd, p.done
}

func closed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// Tail returns up to the last n lines of the file at path (at most 32 KiB).
func Tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	defer f.Close()
	const maxBytes = 32 << 10
	st, err := f.Stat()
	if err != nil {
		return fmt.Sprintf("(cannot stat log: %v)", err)
	}
	off := max(st.Size()-maxBytes, 0)
	buf, err := io.ReadAll(io.NewSectionReader(f, off, maxBytes))
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(buf), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
