//go:build linux

package agentbench

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// clockTick is USER_HZ, the unit of utime and stime in /proc/<pid>/stat:
// 100 on every Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

// procSample is one reading of a process's memory and CPU time.
type procSample struct {
	RSS, HWM int64 // bytes: VmRSS and VmHWM (peak RSS)
	// Anon and File split RSS (bytes): anonymous memory (Go heap, stacks,
	// runtime) and file-backed pages (the binary's code and data).
	Anon, File int64
	CPU        time.Duration
	At         time.Time
}

// readProc reads pid's VmRSS and VmHWM from /proc/<pid>/status and its
// utime+stime from /proc/<pid>/stat.
func readProc(pid int) (procSample, error) {
	s := procSample{At: time.Now()}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, fmt.Errorf("read status of %d: %w", pid, err)
	}
	for line := range strings.Lines(string(status)) {
		key, val, ok := strings.Cut(line, ":")
		var dst *int64
		switch key {
		case "VmRSS":
			dst = &s.RSS
		case "VmHWM":
			dst = &s.HWM
		case "RssAnon":
			dst = &s.Anon
		case "RssFile":
			dst = &s.File
		}
		if !ok || dst == nil {
			continue
		}
		f := strings.Fields(val)
		if len(f) != 2 || f[1] != "kB" {
			return s, fmt.Errorf("status of %d: unexpected %s line %q", pid, key, line)
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return s, fmt.Errorf("status of %d: %s: %w", pid, key, err)
		}
		*dst = kb << 10
	}
	if s.RSS == 0 || s.HWM == 0 {
		return s, fmt.Errorf("status of %d: no VmRSS or VmHWM (a zombie?)", pid)
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, fmt.Errorf("read stat of %d: %w", pid, err)
	}
	// The command name (field 2) may hold spaces and parentheses: fields
	// are counted after its closing parenthesis, which is field 3 (state).
	i := bytes.LastIndexByte(stat, ')')
	f := strings.Fields(string(stat[i+1:]))
	if i < 0 || len(f) < 13 {
		return s, fmt.Errorf("stat of %d: malformed %q", pid, stat)
	}
	var ticks int64
	for _, v := range f[11:13] { // fields 14 (utime) and 15 (stime)
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return s, fmt.Errorf("stat of %d: utime/stime: %w", pid, err)
		}
		ticks += n
	}
	s.CPU = time.Duration(ticks) * clockTick
	return s, nil
}

// cpuRate is CPU milliseconds per wall-clock second between two samples.
func cpuRate(from, to procSample) float64 {
	return float64(to.CPU-from.CPU) / float64(time.Millisecond) / to.At.Sub(from.At).Seconds()
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

var sink []byte

func TestReadProc(t *testing.T) {
	before, err := readProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if before.RSS <= 0 || before.HWM < before.RSS || before.Anon <= 0 || before.File <= 0 || before.Anon+before.File > before.RSS {
		t.Fatalf("RSS %d, HWM %d, anon %d, file %d: want 0 < RSS <= HWM, anon and file > 0, anon+file <= RSS",
			before.RSS, before.HWM, before.Anon, before.File)
	}
	// Touch 64 MiB: RSS and HWM must grow by about that much.
	sink = make([]byte, 64<<20)
	for i := range sink {
		sink[i] = byte(i)
	}
	after, err := readProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if grew := after.HWM - before.HWM; grew < 48<<20 {
		t.Errorf("HWM grew %d bytes after touching 64 MiB, want >= 48 MiB", grew)
	}
	if after.RSS < before.RSS+48<<20 || after.Anon < before.Anon+48<<20 {
		t.Errorf("RSS %d -> %d, anon %d -> %d after touching 64 MiB", before.RSS, after.RSS, before.Anon, after.Anon)
	}
	sink = nil
	// Burn CPU until the kernel accounts some: at least a few ticks.
	deadline := time.Now().Add(30 * time.Second)
	for {
		x := 0
		for i := range 10_000_000 {
			x += i * i
		}
		_ = x
		s, err := readProc(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		if s.CPU-before.CPU >= 5*clockTick {
			if r := cpuRate(before, s); r <= 0 {
				t.Errorf("cpuRate %v after burning CPU", r)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("CPU time did not grow in 30s of spinning: %v -> %v", before.CPU, s.CPU)
		}
	}
	if _, err := readProc(1 << 30); err == nil {
		t.Error("readProc of a missing pid: no error")
	}
}
