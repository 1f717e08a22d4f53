package auth

import (
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// ttlCache is a size-bounded LRU whose entries expire after a TTL. Expiry is
// checked on read, so it needs no background goroutine (unlike
// golang-lru's expirable package, whose constructor starts one that never
// ends).
type ttlCache[K comparable, V any] struct {
	lru *lru.Cache[K, ttlEntry[V]]
	ttl time.Duration
	now func() time.Time
}

type ttlEntry[V any] struct {
	v       V
	expires time.Time
}

func newTTLCache[K comparable, V any](size int, ttl time.Duration) *ttlCache[K, V] {
	c, err := lru.New[K, ttlEntry[V]](size)
	if err != nil {
		panic(err) // only for size <= 0, which callers exclude
	}
	return &ttlCache[K, V]{lru: c, ttl: ttl, now: time.Now}
}

func (c *ttlCache[K, V]) Get(k K) (V, bool) {
	e, ok := c.lru.Get(k)
	if !ok || !c.now().Before(e.expires) {
		if ok {
			c.lru.Remove(k)
		}
		var zero V
		return zero, false
	}
	return e.v, true
}

func (c *ttlCache[K, V]) Add(k K, v V) { c.lru.Add(k, ttlEntry[V]{v: v, expires: c.now().Add(c.ttl)}) }

func (c *ttlCache[K, V]) Remove(k K) { c.lru.Remove(k) }

func (c *ttlCache[K, V]) Len() int { return c.lru.Len() }
