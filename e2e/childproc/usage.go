package childproc

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is USER_HZ, the unit of utime and stime in /proc/<pid>/stat:
// 100 on every Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

// Usage is one reading of a process's memory and CPU time.
type Usage struct {
	RSS, HWM int64 // bytes: VmRSS and VmHWM (peak RSS)
	// Anon and File split RSS (bytes): anonymous memory (Go heap, stacks,
	// runtime) and file-backed pages (the binary's code and data).
	Anon, File int64
	CPU        time.Duration
	At         time.Time
}

// ReadUsage reads pid's VmRSS, VmHWM, RssAnon and RssFile from
// /proc/<pid>/status and its utime+stime from /proc/<pid>/stat (Linux).
func ReadUsage(pid int) (Usage, error) {
	s := Usage{At: time.Now()}
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

// CPURate is CPU milliseconds per wall-clock second from u to later.
func (u Usage) CPURate(later Usage) float64 {
	return float64(later.CPU-u.CPU) / float64(time.Millisecond) / later.At.Sub(u.At).Seconds()
}
