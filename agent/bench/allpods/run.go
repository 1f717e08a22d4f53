package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"sync/atomic"

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
	f.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return fmt.Errorf("informers not synced: %w", ctx.Err())
	}
	fmt.Printf("synced pods=%d endpointslices=%d namespaces=%d\n",
		len(infs[0].GetStore().ListKeys()), len(infs[1].GetStore().ListKeys()), len(infs[2].GetStore().ListKeys()))
	<-ctx.Done()
	return nil
}
