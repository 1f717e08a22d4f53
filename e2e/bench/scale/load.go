package scale

import (
	"context"
	"io"
	"net/http"
	"sync"
	"sync/atomic"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/kubedag/kubedag/agent/podwatch"
)

// load counts one model's list and watch traffic, client side.
type load struct {
	lists, watches, events, bytes atomic.Int64
}

// LoadStats is a snapshot of a load.
type LoadStats struct {
	Lists, Watches, Events, Bytes int64
}

func (l *load) stats() LoadStats {
	return LoadStats{Lists: l.lists.Load(), Watches: l.watches.Load(), Events: l.events.Load(), Bytes: l.bytes.Load()}
}

// Sub is s minus o.
func (s LoadStats) Sub(o LoadStats) LoadStats {
	return LoadStats{Lists: s.Lists - o.Lists, Watches: s.Watches - o.Watches, Events: s.Events - o.Events, Bytes: s.Bytes - o.Bytes}
}

// countBytes makes rc's clients count the response bytes they read into l.
func countBytes(rc *rest.Config, l *load) {
	rc.Wrap(func(rt http.RoundTripper) http.RoundTripper { return countingRT{rt: rt, l: l} })
}

type countingRT struct {
	rt http.RoundTripper
	l  *load
}

func (c countingRT) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.rt.RoundTrip(r)
	if resp != nil && resp.Body != nil {
		resp.Body = &countingBody{ReadCloser: resp.Body, l: c.l}
	}
	return resp, err
}

type countingBody struct {
	io.ReadCloser
	l *load
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.l.bytes.Add(int64(n))
	return n, err
}

// countingSource is a podwatch.Source whose lists and watches count into l.
type countingSource struct {
	src podwatch.Source
	l   *load
}

func (s countingSource) Pods(node string) cache.ListerWatcher {
	return countLW(s.src.Pods(node), s.l)
}
func (s countingSource) EndpointSlices() cache.ListerWatcher {
	return countLW(s.src.EndpointSlices(), s.l)
}
func (s countingSource) Namespaces() cache.ListerWatcher { return countLW(s.src.Namespaces(), s.l) }

func countLW(lw cache.ListerWatcher, l *load) cache.ListerWatcher {
	return countingLW{lw: cache.ToListerWatcherWithContext(lw), l: l}
}

// countingLW counts lists, watches and the events (a list's items count as
// events: with watch-list semantics they arrive as events too).
type countingLW struct {
	lw cache.ListerWatcherWithContext
	l  *load
}

func (c countingLW) List(o metav1.ListOptions) (runtime.Object, error) {
	return c.ListWithContext(context.Background(), o)
}

func (c countingLW) Watch(o metav1.ListOptions) (watch.Interface, error) {
	return c.WatchWithContext(context.Background(), o)
}

func (c countingLW) ListWithContext(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
	obj, err := c.lw.ListWithContext(ctx, o)
	if err == nil {
		c.l.lists.Add(1)
		if items, err := metaItems(obj); err == nil {
			c.l.events.Add(int64(items))
		}
	}
	return obj, err
}

func (c countingLW) WatchWithContext(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
	w, err := c.lw.WatchWithContext(ctx, o)
	if err != nil {
		return nil, err
	}
	c.l.watches.Add(1)
	cw := &countingWatch{in: w, out: make(chan watch.Event), stop: make(chan struct{}), l: c.l}
	go cw.forward()
	return cw, nil
}

func metaItems(obj runtime.Object) (int, error) {
	n := 0
	err := meta.EachListItem(obj, func(runtime.Object) error { n++; return nil })
	return n, err
}

// countingWatch forwards a watch's events, counting them. Its goroutine
// ends when the inner watch ends or Stop is called.
type countingWatch struct {
	in       watch.Interface
	out      chan watch.Event
	stop     chan struct{}
	stopOnce sync.Once
	l        *load
}

func (w *countingWatch) forward() {
	defer close(w.out)
	for ev := range w.in.ResultChan() {
		if ev.Type != watch.Bookmark {
			w.l.events.Add(1)
		}
		select {
		case w.out <- ev:
		case <-w.stop:
			return
		}
	}
}

func (w *countingWatch) Stop() {
	w.stopOnce.Do(func() { close(w.stop); w.in.Stop() })
}

func (w *countingWatch) ResultChan() <-chan watch.Event { return w.out }
