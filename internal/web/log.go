package web

import (
	"bytes"
	"errors"
	"io/fs"
	"net/http"
	"path"
	"time"

	"github.com/sightline/sightline/internal/ledger"
)

// logFiles serves the custody log's tiles read-only, as C2SP tlog-tiles
// lays them out, with cache headers a CDN can follow: tiles and entry
// bundles (full or partial, whose paths name their width) never change,
// while the checkpoint does every second or so. Only the checkpoint and
// tiles are served (ledger.ResourcePath), never the log's private state.
func logFiles(tiles ledger.Tiles) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := path.Clean("/" + r.URL.Path)[1:]
		if !ledger.ResourcePath(p) {
			http.NotFound(w, r)
			return
		}
		b, err := tiles.ReadResource(r.Context(), p)
		if errors.Is(err, fs.ErrNotExist) {
			http.NotFound(w, r)
			return
		}
		if err != nil {
			http.Error(w, "the log cannot be read just now", http.StatusServiceUnavailable)
			return
		}
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		if p == "checkpoint" {
			h.Set("Content-Type", "text/plain; charset=utf-8")
			h.Set("Cache-Control", "no-cache")
		} else {
			h.Set("Content-Type", "application/octet-stream")
			h.Set("Cache-Control", "public, max-age=31536000, immutable")
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(b))
	})
}
