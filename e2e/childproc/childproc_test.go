package childproc

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func waitFile(t *testing.T, path string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(path); err == nil && strings.HasSuffix(string(b), "\n") {
			return strings.TrimSpace(string(b))
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%s not written", path)
	return ""
}

// TestKillReachesTheGroup: Kill ends the child and what it forked, and
// Alive then reports the exit with the log's tail.
func TestKillReachesTheGroup(t *testing.T) {
	dir := t.TempDir()
	sp := NewSpawner()
	defer sp.Stop()
	pidFile := filepath.Join(dir, "grandchild.pid")
	p := New(sp, Config{Name: "sh", Bin: "/bin/sh", LogPath: filepath.Join(dir, "sh.log"),
		Args: []string{"-c", "sleep 60 & echo $! > " + pidFile + "; echo started; wait"}})
	if err := p.Alive(); err == nil {
		t.Fatal("Alive before Start")
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err == nil {
		t.Fatal("second Start of a running process succeeded")
	}
	grandchild, _ := strconv.Atoi(waitFile(t, pidFile))
	if err := p.Alive(); err != nil {
		t.Fatal(err)
	}
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	if !p.Exited() {
		t.Fatal("not exited after Kill")
	}
	if err := p.Alive(); err == nil || !strings.Contains(err.Error(), "started") {
		t.Fatalf("Alive after Kill = %v, want the exit with the log's tail", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for syscall.Kill(grandchild, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("grandchild %d outlived Kill", grandchild)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRestartAndStop: Restart runs the same command again, appending to
// the log; Stop ends a process that honours SIGTERM without killing it.
func TestRestartAndStop(t *testing.T) {
	dir := t.TempDir()
	sp := NewSpawner()
	defer sp.Stop()
	log := filepath.Join(dir, "sleep.log")
	p := New(sp, Config{Name: "sleep", Bin: "sleep", Args: []string{"60"}, LogPath: log})
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	first := p.Pid()
	if err := p.Restart(); err != nil {
		t.Fatal(err)
	}
	if p.Pid() == first || p.Alive() != nil {
		t.Fatalf("restart: pid %d (was %d), alive %v", p.Pid(), first, p.Alive())
	}
	if err := p.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(log); strings.Count(string(b), "start: sleep 60") != 2 {
		t.Fatalf("log has %q, want two start headers", b)
	}
}
