package scale

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/kubedag/kubedag/e2e/childproc"
)

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
func cpuOf(users map[string]int) map[string]childproc.Usage {
	out := make(map[string]childproc.Usage, len(users))
	for name, pid := range users {
		if s, err := childproc.ReadUsage(pid); err == nil {
			out[name] = s
		}
	}
	return out
}
