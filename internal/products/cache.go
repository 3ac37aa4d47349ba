package products

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"streamcart/internal/platform/redisclient"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/singleflight"
)

// cacheBackoff is how long the cache is skipped for reads and fills after
// Redis failed, so that an outage costs one failed round trip and one log
// line per interval instead of one per request.
const cacheBackoff = time.Second

// cache is the cache-aside layer in Redis. Keys, with the default prefix:
//
//	products:v1:{id}             product JSON plus its version, TTL Config.CacheTTL
//	products:search:v1:gen       search generation, bumped by every change
//	products:search:v1:{sha256}  a search page or the category list, TTL Config.SearchTTL
//
// Its reads never fail: a Redis error is logged and reported as a miss.
//
// Search pages are also kept in the process (pages) and served from it
// for localSearchFor after Redis last said that their generation was
// current, so that a popular search costs no round trip at all: a change
// made through this process outdates them at once, a change made through
// another within localSearchFor. One read of the generation, whichever
// search made it, vouches for every page, and the searches that find
// their page kept but not vouched for lately share one read of it alone:
// the searches of a second cost one command, however many different
// queries they make and however many come at once.
type cache struct {
	rdb       redis.UniversalClient // nil: caching is off
	prefix    string
	ttl       time.Duration
	searchTTL time.Duration
	timeout   time.Duration
	log       *slog.Logger
	downUntil atomic.Int64 // unix nanoseconds
	pages     localPages
	// checks makes the searches that find their page kept here but not
	// vouched for lately share one read of the generation.
	checks singleflight.Group
}

// localSearchFor is how long search pages of the generation that Redis
// said was current are served from the process without asking again.
const localSearchFor = time.Second

// localPagesMax bounds the search pages kept in the process; when it is
// reached they are all dropped.
const localPagesMax = 1024

// localPages are the search pages kept in the process, by key.
type localPages struct {
	mu    sync.Mutex
	pages map[string]localPage
	// gen is the newest generation this process made (bumpGeneration):
	// a page of an older one is stale.
	gen int64
	// current is the generation that Redis said was current, in a read
	// that started at checked.
	current int64
	checked time.Time
}

type localPage struct {
	gen  int64
	body []byte
}

// get returns the page at key while it is fresh: of the generation that
// Redis said was current at most localSearchFor before now.
func (l *localPages) get(key string, now time.Time) (localPage, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p, ok := l.pages[key]
	if !ok || now.Sub(l.checked) > localSearchFor || p.gen != l.current || p.gen < l.gen {
		return localPage{}, false
	}
	return p, true
}

// seen records that Redis said gen was the current generation, in a read
// that started at now. A read that started before the last one recorded
// is ignored: its answer may be older.
func (l *localPages) seen(gen int64, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Before(l.checked) {
		return
	}
	l.current, l.checked = gen, now
}

// put keeps body, made at generation gen.
func (l *localPages) put(key string, gen int64, body []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if gen < l.gen {
		return
	}
	if l.pages == nil || len(l.pages) >= localPagesMax {
		l.pages = make(map[string]localPage)
	}
	l.pages[key] = localPage{gen: gen, body: body}
}

// kept reports whether a page at key is kept, fresh or not, of a
// generation that this process did not outdate.
func (l *localPages) kept(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	p, ok := l.pages[key]
	return ok && p.gen >= l.gen
}

// drop forgets every page, and what Redis said.
func (l *localPages) drop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pages, l.checked = nil, time.Time{}
}

// outdate makes every page older than gen stale.
func (l *localPages) outdate(gen int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.gen = max(l.gen, gen)
}

func (c *cache) productKey(id string) string { return c.prefix + ":v1:" + id }
func (c *cache) genKey() string              { return c.prefix + ":search:v1:gen" }

// searchKey returns the key of a cached result for parts. The entry
// carries the generation it was made at (see fresh), so that bumping the
// generation outdates every entry at once.
func (c *cache) searchKey(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "\x00%s", p)
	}
	return c.prefix + ":search:v2:" + hex.EncodeToString(h.Sum(nil)[:16])
}

// usable reports whether reads and fills should try Redis.
func (c *cache) usable() bool {
	return c.rdb != nil && time.Now().UnixNano() >= c.downUntil.Load()
}

// failed records a Redis error: it logs the first of a run at Warn and
// makes usable false for cacheBackoff. Errors because the caller gave up
// say nothing about Redis and are ignored.
func (c *cache) failed(ctx context.Context, op string, err error) {
	if ctx.Err() != nil {
		return
	}
	now := time.Now()
	if prev := c.downUntil.Swap(now.Add(cacheBackoff).UnixNano()); prev < now.UnixNano() {
		c.log.WarnContext(ctx, "product cache unavailable, using postgres",
			"op", op, "err", err, "retry_in", cacheBackoff)
	}
}

// op returns a context for one Redis round trip, bounded by c.timeout.
func (c *cache) op(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.timeout)
}

// products returns the cached records of ids, keyed by id; missing and
// undecodable entries are simply absent.
func (c *cache) products(ctx context.Context, ids []string) map[string]Versioned {
	if !c.usable() || len(ids) == 0 {
		return nil
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = c.productKey(id)
	}
	octx, cancel := c.op(ctx)
	defer cancel()
	vals, err := getAll(octx, c.rdb, keys...)
	if err != nil {
		c.failed(ctx, "get products", err)
		return nil
	}
	out := make(map[string]Versioned, len(ids))
	for i, v := range vals {
		s, ok := v.(string)
		if !ok {
			continue
		}
		var r Versioned
		if err := json.Unmarshal([]byte(s), &r); err != nil || r.ID != ids[i] {
			c.log.WarnContext(ctx, "undecodable product cache entry", "key", keys[i], "err", err)
			continue
		}
		out[r.ID] = r
	}
	return out
}

// getAll reads keys as MGET would, with a GET per key in one pipeline:
// on a Redis Cluster the keys are in different slots, which MGET refuses;
// the pipeline asks each node for its keys, in parallel. A missing key's
// value is nil.
func getAll(ctx context.Context, rdb redis.UniversalClient, keys ...string) ([]any, error) {
	cmds := make([]*redis.StringCmd, len(keys))
	_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.Get(ctx, k)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	vals := make([]any, len(keys))
	for i, cmd := range cmds {
		if cmd.Err() == nil {
			vals[i] = cmd.Val()
		}
	}
	return vals, nil
}

// storeNewer sets each key of KEYS to its payload unless the key holds an
// entry whose version is at least as new. ARGV is the TTL in milliseconds,
// then a version and a payload per key. storeProducts runs it once per
// key, each in its own Redis Cluster slot. Without the check a reader that
// read a row just before an update could put the old row back after the
// update refreshed the cache, and leave a stale price for a whole TTL.
var storeNewer = redis.NewScript(`
local stored = 0
for i, key in ipairs(KEYS) do
  local version = tonumber(ARGV[2 * i])
  local cur = redis.call('GET', key)
  local keep = false
  if cur then
    local ok, doc = pcall(cjson.decode, cur)
    keep = ok and type(doc) == 'table' and tonumber(doc.version) ~= nil and tonumber(doc.version) >= version
  end
  if not keep then
    redis.call('SET', key, ARGV[2 * i + 1], 'PX', ARGV[1])
    stored = stored + 1
  end
end
return stored
`)

// putProducts caches rs, keeping any newer entry already there.
func (c *cache) putProducts(ctx context.Context, rs ...Versioned) {
	if !c.usable() || len(rs) == 0 {
		return
	}
	if err := c.storeProducts(ctx, rs); err != nil {
		c.failed(ctx, "put products", err)
	}
}

func (c *cache) storeProducts(ctx context.Context, rs []Versioned) error {
	calls := make([]redisclient.ScriptCall, len(rs))
	for i, r := range rs {
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		calls[i] = redisclient.ScriptCall{Keys: []string{c.productKey(r.ID)}, Args: []any{c.ttl.Milliseconds(), r.Version, b}}
	}
	octx, cancel := c.op(ctx)
	defer cancel()
	_, err := redisclient.RunScripts(octx, c.rdb, storeNewer, calls)
	return err
}

// changed refreshes the cached product r after an update and makes every
// cached search page stale. Unlike reads it is tried even while Redis
// seems down, since a missed invalidation serves stale data; it returns
// the error for the caller to log.
func (c *cache) changed(ctx context.Context, rs ...Versioned) error {
	if c.rdb == nil {
		return nil
	}
	var errs []error
	if len(rs) > 0 {
		errs = append(errs, c.storeProducts(ctx, rs))
	}
	return errors.Join(append(errs, c.bumpGeneration(ctx))...)
}

func (c *cache) bumpGeneration(ctx context.Context) error {
	octx, cancel := c.op(ctx)
	defer cancel()
	gen, err := c.rdb.Incr(octx, c.genKey()).Result()
	if err != nil {
		// The pages kept here may be stale now; Redis's stay as stale
		// as they are, up to Config.SearchTTL (the caller logs it).
		c.pages.drop()
		return err
	}
	c.pages.outdate(gen)
	return nil
}

// fresh returns the page at key kept in the process while it is fresh,
// after reading the current search generation (check) when the page is
// kept but was not vouched for lately. Otherwise it reads the generation
// and the entry at key in one round trip (getAll). Either read makes the
// other pages of that generation kept in the process fresh again. It
// returns the entry's JSON when it was made at the current generation,
// and the generation to store a new entry at; ok is false when Redis
// cannot be used, and the result must not be cached.
func (c *cache) fresh(ctx context.Context, key string) (gen int64, b []byte, ok bool) {
	if !c.usable() {
		return 0, nil, false
	}
	now := time.Now()
	if p, ok := c.pages.get(key, now); ok {
		return p.gen, p.body, true
	}
	if c.pages.kept(key) {
		if err := c.check(ctx); err != nil {
			return 0, nil, false
		}
		if p, ok := c.pages.get(key, time.Now()); ok {
			return p.gen, p.body, true
		}
	}
	octx, cancel := c.op(ctx)
	defer cancel()
	vals, err := getAll(octx, c.rdb, c.genKey(), key)
	if err != nil {
		c.failed(ctx, "read search cache", err)
		return 0, nil, false
	}
	if gen, ok = c.generation(ctx, vals[0]); !ok {
		return 0, nil, false
	}
	c.pages.seen(gen, now)
	entry, _ := vals[1].(string)
	at, body, found := strings.Cut(entry, "\n")
	if !found || at != strconv.FormatInt(gen, 10) {
		return gen, nil, true // missing or made at an older generation
	}
	b = []byte(body)
	c.pages.put(key, gen, b)
	return gen, b, true
}

// check reads the current search generation and records it (seen), in
// one read for all the searches that ask at the same time. The read is
// not cancelled with the first caller's ctx, which the others do not
// share; it is bounded by the cache's timeout.
func (c *cache) check(ctx context.Context) error {
	ch := c.checks.DoChan("generation", func() (any, error) {
		start := time.Now()
		ctx := context.WithoutCancel(ctx)
		octx, cancel := c.op(ctx)
		defer cancel()
		v, err := c.rdb.Get(octx, c.genKey()).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			c.failed(ctx, "read search generation", err)
			return nil, err
		}
		gen, ok := c.generation(ctx, v)
		if !ok {
			return nil, errors.New("search generation is not a number")
		}
		c.pages.seen(gen, start)
		return nil, nil
	})
	select {
	case r := <-ch:
		return r.Err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// generation returns the search generation that Redis holds as v (0 when
// it holds none); ok is false, and a warning logged, when it is not a
// number.
func (c *cache) generation(ctx context.Context, v any) (gen int64, ok bool) {
	s, isString := v.(string)
	if !isString || s == "" {
		return 0, true
	}
	gen, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		c.log.WarnContext(ctx, "search generation is not a number", "value", s)
		return 0, false
	}
	return gen, true
}

// store caches b, made at generation gen, at key for the search TTL.
func (c *cache) store(ctx context.Context, key string, gen int64, b []byte) {
	if !c.usable() {
		return
	}
	octx, cancel := c.op(ctx)
	defer cancel()
	entry := strconv.FormatInt(gen, 10) + "\n" + string(b)
	if err := c.rdb.Set(octx, key, entry, c.searchTTL).Err(); err != nil {
		c.failed(ctx, "put search result", err)
		return
	}
	c.pages.put(key, gen, b)
}

// ping checks that Redis answers.
func (c *cache) ping(ctx context.Context) error {
	return c.rdb.Ping(ctx).Err()
}

// searchParts are the parts of a search's cache key; q is lowercased
// because the search ignores case.
func searchParts(q Query) []string {
	return []string{"search", strings.ToLower(q.Q), strings.ToLower(q.Category), fmt.Sprint(q.Limit), fmt.Sprint(q.Offset)}
}
