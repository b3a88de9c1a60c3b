package web

import (
	"net/http"
	"path"
	"strings"
)

// logFiles serves the custody log's tiles read-only, as C2SP tlog-tiles
// lays them out, with cache headers a CDN can follow: tiles and entry
// bundles (full or partial, whose paths name their width) never change,
// while the checkpoint does every second or so. The log's private state
// (.state/) is never served.
func logFiles(dir string) http.Handler {
	files := http.FileServer(http.Dir(dir))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := path.Clean("/" + r.URL.Path)[1:]
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		switch {
		case p == "checkpoint":
			h.Set("Content-Type", "text/plain; charset=utf-8")
			h.Set("Cache-Control", "no-cache")
		case strings.HasPrefix(p, "tile/") && !strings.Contains(p, "/."):
			h.Set("Content-Type", "application/octet-stream")
			h.Set("Cache-Control", "public, max-age=31536000, immutable")
		default:
			http.NotFound(w, r)
			return
		}
		r.URL.Path = "/" + p
		files.ServeHTTP(w, r)
	})
}
