// Package childproc runs the child processes of tests, the demo and
// benchmarks (control-plane components, kubedag binaries) so that they die
// with their parent: each leads its own process group (Kill reaches
// anything it forked) with Pdeathsig SIGKILL, forked from one goroutine
// locked to its OS thread (Pdeathsig fires when the forking thread exits,
// and the Go runtime retires threads, for one when a goroutine that locked
// itself to enter a network namespace exits). Output goes to a log file
// whose tail explains an unexpected exit.
//
// # Usage
//
//	sp := childproc.NewSpawner()
//	defer sp.Stop() // after every child was killed
//	p := childproc.New(sp, childproc.Config{Name: "etcd", Bin: bin, Args: args, LogPath: dir + "/etcd.log"})
//	if err := p.Start(); err != nil { ... }
//	defer p.Kill()
//	if err := p.Alive(); err != nil { ... } // exited: err has the log's tail
package childproc
