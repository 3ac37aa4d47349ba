package ops

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"streamcart/internal/platform/errs"
	"streamcart/internal/stream"
)

// deadLetterLimit is how many dead letters /ops lists per stream.
const deadLetterLimit = 20

// view is what /ops shows of the streams; the template "ops-fragment"
// draws it.
type view struct {
	Streams   []streamView
	FormToken string
	Error     string
	Updated   time.Time
}

type streamView struct {
	stream.StreamInfo
	// Rate is entries added per second since the previous look; -1 on the
	// first look.
	Rate float64
	DLQ  string
	// Letters are the newest dead letters, up to deadLetterLimit.
	Letters []stream.DeadLetter
}

// pageData is the data of the template "ops.html".
type pageData struct {
	View   view
	Notice string
	Error  string
	Bearer bool
}

// overview serves GET /ops.
func (o *Ops) overview(w http.ResponseWriter, r *http.Request) error {
	cred, ok := o.operator(r)
	if !ok {
		o.unauthorized(w, r, "")
		return nil
	}
	p := pageData{View: o.view(r.Context(), cred), Bearer: cred == "bearer"}
	q := r.URL.Query()
	switch {
	case q.Get("replayed") != "":
		p.Notice = fmt.Sprintf("Replayed %s to %s as entry %s.", q.Get("id"), q.Get("stream"), q.Get("replayed"))
	case q.Get("error") == "gone":
		p.Error = "That dead letter is not there any more; it may have been replayed already."
	}
	o.pages.RenderPage(w, r, http.StatusOK, "ops.html", "Operations", nav, p)
	return nil
}

// fragment serves GET /ops/fragment: the live part of /ops.
func (o *Ops) fragment(w http.ResponseWriter, r *http.Request) error {
	cred, ok := o.operator(r)
	if !ok {
		return showf(errs.KindUnauthorized, nil, "Your operator sign-in has ended. Reload the page to sign in again.")
	}
	o.pages.RenderFragment(w, r, http.StatusOK, "ops-fragment", o.view(r.Context(), cred))
	return nil
}

// view reads every stream's state; a failure is shown in the view.
func (o *Ops) view(ctx context.Context, cred string) view {
	v := view{FormToken: o.formToken(cred), Updated: time.Now().UTC()}
	if o.rdb == nil {
		v.Error = "Redis is not configured for this page."
		return v
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	for _, name := range o.cfg.Streams {
		info, err := stream.Inspect(ctx, o.rdb, name)
		if err != nil {
			o.log.WarnContext(ctx, "ops could not inspect a stream", "stream", name, "err", err)
			v.Error = "Redis is not answering, so the streams cannot be shown. This page keeps trying."
			return v
		}
		sv := streamView{StreamInfo: info, DLQ: stream.DeadLetterStream(name)}
		if info.Length == 0 && info.LastID == "0-0" {
			// Inspect counts dead letters of existing streams only.
			if sv.StreamInfo.DeadLetters, err = o.rdb.XLen(ctx, sv.DLQ).Result(); err != nil {
				o.log.WarnContext(ctx, "ops could not count dead letters", "stream", sv.DLQ, "err", err)
			}
		}
		sv.Rate = o.rates.observe(name, o.entriesAdded(ctx, name, info.Length), time.Now())
		if sv.StreamInfo.DeadLetters > 0 {
			if sv.Letters, err = stream.DeadLetters(ctx, o.rdb, sv.DLQ, deadLetterLimit); err != nil {
				o.log.WarnContext(ctx, "ops could not read dead letters", "stream", sv.DLQ, "err", err)
			}
		}
		v.Streams = append(v.Streams, sv)
	}
	return v
}

// entriesAdded returns how many entries stream has ever had (Redis 7's
// entries-added, which trimming does not lower), or its length on older
// servers.
func (o *Ops) entriesAdded(ctx context.Context, name string, length int64) int64 {
	xi, err := o.rdb.XInfoStream(ctx, name).Result()
	if err != nil || xi.EntriesAdded == 0 {
		return length
	}
	return xi.EntriesAdded
}

// replay serves POST /ops/replay: dlq and id of a dead letter, with the
// form token. It sends the entry back to its origin stream.
func (o *Ops) replay(w http.ResponseWriter, r *http.Request) error {
	cred, ok := o.operator(r)
	if !ok {
		o.unauthorized(w, r, "")
		return nil
	}
	if !o.validFormToken(cred, r.PostFormValue("csrf")) {
		return showf(errs.KindForbidden, nil, "This replay form is out of date or was not sent from this page; reload the page and try again.")
	}
	dlq, id := r.PostFormValue("dlq"), r.PostFormValue("id")
	i := slices.IndexFunc(o.cfg.Streams, func(name string) bool { return stream.DeadLetterStream(name) == dlq })
	if i < 0 {
		return showf(errs.KindInvalid, nil, "That is not a dead-letter stream of this system.")
	}
	origin := o.cfg.Streams[i]
	if o.rdb == nil {
		return showf(errs.KindUnavailable, nil, "Redis is not configured for this page.")
	}
	newID, err := stream.Replay(r.Context(), o.rdb, dlq, id)
	switch {
	case errors.Is(err, stream.ErrNotFound):
		http.Redirect(w, r, "/ops?error=gone", http.StatusSeeOther)
		return nil
	case errors.Is(err, redis.Nil), err != nil && strings.Contains(err.Error(), "Invalid stream ID"):
		return showf(errs.KindInvalid, err, "That is not a dead-letter entry id.")
	case err != nil:
		return showf(errs.KindUnavailable, err, "The replay failed because Redis is not answering; nothing was changed. Try again.")
	}
	o.log.InfoContext(r.Context(), "dead letter replayed", "dlq", dlq, "id", id, "new_id", newID)
	http.Redirect(w, r, "/ops?"+url.Values{"replayed": {newID}, "id": {id}, "stream": {origin}}.Encode(), http.StatusSeeOther)
	return nil
}

// rateMeter turns samples of streams' entry counts into entries per
// second. It keeps one sample per stream in memory; a rate is measured
// over at least a second, so that several open pages do not shorten it.
type rateMeter struct {
	mu      sync.Mutex
	samples map[string]rateSample
}

type rateSample struct {
	at    time.Time
	count int64
	rate  float64
}

func newRateMeter() *rateMeter { return &rateMeter{samples: map[string]rateSample{}} }

// observe records count for name at now and returns the latest rate, or
// -1 when there is none yet.
func (m *rateMeter) observe(name string, count int64, now time.Time) float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	prev, ok := m.samples[name]
	if !ok {
		m.samples[name] = rateSample{at: now, count: count, rate: -1}
		return -1
	}
	dt := now.Sub(prev.at)
	if dt < time.Second {
		return prev.rate
	}
	rate := float64(max(count-prev.count, 0)) / dt.Seconds()
	m.samples[name] = rateSample{at: now, count: count, rate: rate}
	return rate
}
