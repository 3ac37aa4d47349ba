package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// children keeps the series of each label set of a vector once made, so
// that the hot paths find theirs with a read-locked map lookup instead of
// hashing label values (and allocating them) on every count. It is safe
// for concurrent use; the zero value is ready.
type children[K comparable, V any] struct {
	mu sync.RWMutex
	m  map[K]V
}

// get returns the series of key, made with make at its first use.
func (c *children[K, V]) get(key K, make func() V) V {
	c.mu.RLock()
	v, ok := c.m[key]
	c.mu.RUnlock()
	if ok {
		return v
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok = c.m[key]; !ok {
		if c.m == nil {
			c.m = map[K]V{}
		}
		v = make()
		c.m[key] = v
	}
	return v
}

// gaugeVec returns a gauge vector of name with labels.
func gaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
}
