package scale

import (
	"context"
	"io"
	"net/http"
	"strings"
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

// Resources are the kinds both watchers list and watch, in report order.
var Resources = [3]string{"pods", "endpointslices", "namespaces"}

// counts is one resource's list and watch traffic, client side.
type counts struct {
	lists, watches, events, bytes atomic.Int64
}

// load counts one watcher model's traffic, per resource.
type load struct{ by [len(Resources)]counts }

// Counts is a snapshot of counts.
type Counts struct {
	Lists, Watches, Events, Bytes int64
}

// LoadStats is a snapshot of a load, per resource (index as Resources).
type LoadStats struct{ By [len(Resources)]Counts }

func (l *load) stats() LoadStats {
	var s LoadStats
	for i := range l.by {
		c := &l.by[i]
		s.By[i] = Counts{Lists: c.lists.Load(), Watches: c.watches.Load(), Events: c.events.Load(), Bytes: c.bytes.Load()}
	}
	return s
}

// Sub is s minus o.
func (s LoadStats) Sub(o LoadStats) LoadStats {
	for i, c := range o.By {
		s.By[i].Lists -= c.Lists
		s.By[i].Watches -= c.Watches
		s.By[i].Events -= c.Events
		s.By[i].Bytes -= c.Bytes
	}
	return s
}

// Total sums the resources.
func (s LoadStats) Total() Counts {
	var t Counts
	for _, c := range s.By {
		t.Lists += c.Lists
		t.Watches += c.Watches
		t.Events += c.Events
		t.Bytes += c.Bytes
	}
	return t
}

// countBytes makes rc's clients count the response bytes they read into l.
func countBytes(rc *rest.Config, l *load) {
	rc.Wrap(func(rt http.RoundTripper) http.RoundTripper { return countingRT{rt: rt, l: l} })
}

type countingRT struct {
	rt http.RoundTripper
	l  *load
}

// RoundTrip counts the response body's bytes under the resource the
// request's path ends with (the bench's lists and watches are all
// cluster-wide: /api/v1/pods, /apis/discovery.k8s.io/v1/endpointslices,
// /api/v1/namespaces); other requests are not counted.
func (c countingRT) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.rt.RoundTrip(r)
	if resp != nil && resp.Body != nil {
		for i, res := range Resources {
			if strings.HasSuffix(r.URL.Path, "/"+res) {
				resp.Body = &countingBody{ReadCloser: resp.Body, c: &c.l.by[i]}
			}
		}
	}
	return resp, err
}

type countingBody struct {
	io.ReadCloser
	c *counts
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.c.bytes.Add(int64(n))
	return n, err
}

// countingSource is a podwatch.Source whose lists and watches count into l.
type countingSource struct {
	src podwatch.Source
	l   *load
}

func (s countingSource) Pods(node string) cache.ListerWatcher {
	return countLW(s.src.Pods(node), &s.l.by[0])
}

func (s countingSource) Namespaces() cache.ListerWatcher {
	return countLW(s.src.Namespaces(), &s.l.by[2])
}

func countLW(lw cache.ListerWatcher, c *counts) cache.ListerWatcher {
	return countingLW{lw: cache.ToListerWatcherWithContext(lw), l: c}
}

// countingLW counts lists, watches and the events (a list's items count as
// events: with watch-list semantics they arrive as events too).
type countingLW struct {
	lw cache.ListerWatcherWithContext
	l  *counts
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
	l        *counts
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
