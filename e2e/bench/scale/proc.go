package scale

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// procSample is one reading of a process's memory and CPU time.
type procSample struct {
	RSS, HWM int64 // VmRSS, VmHWM in bytes
	CPU      time.Duration
	At       time.Time
}

// readProc reads pid's VmRSS and VmHWM from /proc/<pid>/status and its
// utime+stime (in USER_HZ ticks of 10ms on every Linux Go supports) from
// /proc/<pid>/stat.
func readProc(pid int) (procSample, error) {
	s := procSample{At: time.Now()}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, fmt.Errorf("read status of %d: %w", pid, err)
	}
	for line := range strings.Lines(string(status)) {
		key, val, _ := strings.Cut(line, ":")
		var dst *int64
		switch key {
		case "VmRSS":
			dst = &s.RSS
		case "VmHWM":
			dst = &s.HWM
		default:
			continue
		}
		f := strings.Fields(val)
		if len(f) != 2 || f[1] != "kB" {
			return s, fmt.Errorf("status of %d: unexpected %q", pid, line)
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return s, fmt.Errorf("status of %d: %w", pid, err)
		}
		*dst = kb << 10
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, fmt.Errorf("read stat of %d: %w", pid, err)
	}
	// Fields are counted after the command name's closing parenthesis.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return s, fmt.Errorf("stat of %d: malformed", pid)
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return s, fmt.Errorf("stat of %d: malformed", pid)
	}
	var ticks int64
	for _, v := range f[11:13] { // utime, stime
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return s, fmt.Errorf("stat of %d: %w", pid, err)
		}
		ticks += n
	}
	s.CPU = time.Duration(ticks) * 10 * time.Millisecond
	return s, nil
}

// cpuUsers finds the processes whose CPU the report breaks down: the
// control plane's components (their command lines name the cluster's
// directory dir) and this process (the agents, the cluster-wide informer,
// the load generator and the emulator). Keys are the command names.
func cpuUsers(dir string) map[string]int {
	out := map[string]int{"bench process (agents, cluster-wide informer, writes, emulator)": os.Getpid()}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return out
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || !bytes.Contains(b, []byte(dir)) {
			continue
		}
		args := strings.Split(string(b), "\x00")
		name := args[0][strings.LastIndexByte(args[0], '/')+1:]
		switch name {
		case "kube-apiserver", "etcd", "kwok", "kube-controller-manager", "kube-scheduler":
			out[name] = pid
		}
	}
	return out
}

// cpuOf samples the CPU time of every process of users.
func cpuOf(users map[string]int) map[string]procSample {
	out := make(map[string]procSample, len(users))
	for name, pid := range users {
		if s, err := readProc(pid); err == nil {
			out[name] = s
		}
	}
	return out
}
