package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"sync/atomic"
	"time"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

// run watches until ctx ends. Its event handlers only count, so what it
// costs is the informers' caches and decoding.
func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("allpods", flag.ContinueOnError)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig file (required)")
	metricsAddr := fs.String("metrics-listen", "", "if set, serve go_memstats_heap_inuse_bytes on http://<addr>/metrics")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *kubeconfig == "" {
		return errors.New("--kubeconfig is required")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return fmt.Errorf("kubeconfig %s: %w", *kubeconfig, err)
	}
	cfg.UserAgent = "kubedag-bench-allpods"
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("kubernetes client: %w", err)
	}
	f := informers.NewSharedInformerFactory(cs, 0)
	defer f.Shutdown()
	var events atomic.Int64
	count := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { events.Add(1) },
		UpdateFunc: func(any, any) { events.Add(1) },
		DeleteFunc: func(any) { events.Add(1) },
	}
	infs := []cache.SharedIndexInformer{
		f.Core().V1().Pods().Informer(),
		f.Discovery().V1().EndpointSlices().Informer(),
		f.Core().V1().Namespaces().Informer(),
	}
	synced := make([]cache.InformerSynced, len(infs))
	for i, inf := range infs {
		if _, err := inf.AddEventHandler(count); err != nil {
			return fmt.Errorf("add event handler: %w", err)
		}
		synced[i] = inf.HasSynced
	}
	serveErr := make(chan error, 1)
	if *metricsAddr != "" {
		ln, err := net.Listen("tcp", *metricsAddr)
		if err != nil {
			return fmt.Errorf("metrics listen: %w", err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(heapMetrics), ReadHeaderTimeout: 5 * time.Second}
		go func() { serveErr <- srv.Serve(ln) }()
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
			<-serveErr
		}()
	}
	f.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return fmt.Errorf("informers not synced: %w", ctx.Err())
	}
	fmt.Printf("synced pods=%d endpointslices=%d namespaces=%d\n",
		len(infs[0].GetStore().ListKeys()), len(infs[1].GetStore().ListKeys()), len(infs[2].GetStore().ListKeys()))
	select {
	case <-ctx.Done():
		return nil
	case err := <-serveErr:
		return fmt.Errorf("metrics server: %w", err)
	}
}

// heapMetrics serves the heap in use in the Prometheus text format, under
// the name the Go collector gives it.
func heapMetrics(w http.ResponseWriter, _ *http.Request) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Fprintf(w, "go_memstats_heap_inuse_bytes %d\n", ms.HeapInuse)
}
