package system

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

// spawner forks children from one goroutine locked to its OS thread, so
// Pdeathsig (delivered when the forking thread exits) fires only when the
// test binary dies, never because the Go runtime retired a thread.
type spawner struct {
	reqs chan *exec.Cmd
	errs chan error
	done chan struct{}
}

func startSpawner() *spawner {
	s := &spawner{reqs: make(chan *exec.Cmd), errs: make(chan error), done: make(chan struct{})}
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

func (s *spawner) start(cmd *exec.Cmd) error {
	s.reqs <- cmd
	return <-s.errs
}

func (s *spawner) stop() {
	close(s.reqs)
	<-s.done
}

// proc is one kubedag process that tests can kill and start again with the
// same arguments. Its stdout and stderr go to one log file, appended to on
// every start.
type proc struct {
	name    string
	bin     string
	args    []string
	logPath string
	sp      *spawner

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when the current run has been reaped
	err  error         // exit status of the current run, after done
}

func newProc(sp *spawner, logDir, name, bin string, args ...string) *proc {
	return &proc{name: name, bin: bin, args: args, logPath: logDir + "/" + name + ".log", sp: sp}
}

// start runs the process; it is an error to start a running process.
func (p *proc) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done != nil && !closed(p.done) {
		return fmt.Errorf("%s is already running", p.name)
	}
	logFile, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open %s log: %w", p.name, err)
	}
	fmt.Fprintf(logFile, "# %s start: %s %s\n", time.Now().Format(time.RFC3339Nano), p.bin, strings.Join(p.args, " "))
	cmd := exec.Command(p.bin, p.args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.sp.start(cmd); err != nil {
		logFile.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done = cmd, done
	go func() { // reaps the child; kill forces it to return
		err := cmd.Wait()
		logFile.Close()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(done)
	}()
	return nil
}

// kill sends SIGKILL to the process group and waits until it is reaped.
func (p *proc) kill() error {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if done == nil || closed(done) {
		return nil
	}
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill %s (pid %d): %w", p.name, cmd.Process.Pid, err)
	}
	select {
	case <-done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s (pid %d) not reaped 10s after SIGKILL", p.name, cmd.Process.Pid)
	}
}

// restart kills the process and starts it again.
func (p *proc) restart() error {
	if err := p.kill(); err != nil {
		return err
	}
	return p.start()
}

// alive returns an error with the log's tail if the process has exited.
func (p *proc) alive() error {
	p.mu.Lock()
	done, err := p.done, p.err
	p.mu.Unlock()
	if done == nil {
		return fmt.Errorf("%s was never started", p.name)
	}
	if closed(done) {
		return fmt.Errorf("%s exited (%v); last lines of %s:\n%s", p.name, err, p.logPath, tail(p.logPath, 30))
	}
	return nil
}

func closed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// tail returns up to the last n lines of the file (at most 32 KiB).
func tail(path string, n int) string {
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
