package web

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sightline/sightline/internal/evidence"
)

// A video player reads a file as many range requests: seeking, buffering,
// a page reloaded. Logging each would fill the log with one viewing and
// let anyone holding a token make the server write without end. The rule
// (docs/access.md): one "viewed" (or "downloaded") event per caller, item,
// reason and route in viewingWindow, logged before the first byte of the
// viewing is sent and naming the byte span that request asked for. Every
// viewing is in the log; the requests within one are not each repeated.

// viewingWindow is how long a viewing lasts from its first request.
const viewingWindow = 10 * time.Minute

// maxViewings bounds the viewings remembered at once; past it the oldest
// are forgotten early (so a request may be logged again: never less).
const maxViewings = 100_000

type viewingKey struct {
	actor, item, reason, route string
	typ                        evidence.EventType
}

// viewings remembers when each open viewing started.
type viewings struct {
	mu      sync.Mutex
	started map[viewingKey]time.Time
}

func newViewings() *viewings { return &viewings{started: map[viewingKey]time.Time{}} }

// begin reports whether a request starts a viewing (and so is logged): no
// viewing of the same key started within viewingWindow of now.
func (v *viewings) begin(k viewingKey, now time.Time) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	if t, ok := v.started[k]; ok && now.Sub(t) < viewingWindow {
		return false
	}
	if len(v.started) >= maxViewings {
		for key, t := range v.started {
			if now.Sub(t) >= viewingWindow || len(v.started) >= maxViewings {
				delete(v.started, key)
			}
		}
	}
	v.started[k] = now
	return true
}

// forget ends a viewing whose event could not be logged, so that the
// next request tries again.
func (v *viewings) forget(k viewingKey) {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.started, k)
}

// rangeSpan is the byte span a request asks for, as the log may carry it:
// "all" without a Range header, "START-END" (END empty for "to the end")
// for one well-formed range, "several" for more, "" for anything else. It
// is rebuilt from numbers, never copied from the header.
func rangeSpan(r *http.Request) string {
	h := r.Header.Get("Range")
	if h == "" {
		return "all"
	}
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok {
		return ""
	}
	if strings.Contains(spec, ",") {
		return "several"
	}
	from, to, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok {
		return ""
	}
	num := func(s string) (string, bool) {
		if s == "" {
			return "", true
		}
		n, err := strconv.ParseUint(s, 10, 63)
		return strconv.FormatUint(n, 10), err == nil
	}
	a, ok1 := num(from)
	b, ok2 := num(to)
	if !ok1 || !ok2 || a == "" && b == "" {
		return ""
	}
	return a + "-" + b
}
