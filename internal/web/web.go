// Package web is Sightline's HTTP face: the JSON API, the tus endpoint
// (served by ingest), and server-rendered pages with their embedded static
// assets. It maps domain errors to HTTP statuses; nothing below it knows
// about HTTP.
package web

import (
	"embed"
	"encoding/json"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"

	"github.com/sightline/sightline/internal/blob"
	"github.com/sightline/sightline/internal/evidence"
	"github.com/sightline/sightline/internal/ingest"
	"github.com/sightline/sightline/internal/ledger"
)

//go:embed assets templates
var embedded embed.FS

// Config is what the web layer needs.
type Config struct {
	Ingest   *ingest.Service
	Evidence evidence.Store
	Blobs    blob.Store
	MaxSize  int64
	Logger   *slog.Logger
	// Log is the custody log; its tiles are served at /log/.
	Log *ledger.Log
	// Custody indexes the log by evidence.
	Custody evidence.CustodyIndex
}

type server struct {
	Config
	pages *template.Template
}

// New returns the handler for every route of the server.
func New(cfg Config) (http.Handler, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	pages, err := template.ParseFS(embedded, "templates/*.html")
	if err != nil {
		return nil, err
	}
	s := &server{Config: cfg, pages: pages}
	assets, err := fs.Sub(embedded, "assets")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.index)
	mux.Handle("GET /static/", http.StripPrefix("/static/", staticFiles(assets)))
	mux.Handle("/api/v1/uploads", cfg.Ingest.Handler())
	mux.Handle(ingest.BasePath, cfg.Ingest.Handler())
	mux.HandleFunc("GET /api/v1/uploads/{upload}/evidence", s.uploadEvidence)
	mux.HandleFunc("GET /api/v1/evidence/{id}", s.evidence)
	mux.HandleFunc("GET /api/v1/evidence/{id}/original", s.original)
	mux.Handle("GET /log/", http.StripPrefix("/log/", logFiles(cfg.Log.Dir())))
	mux.HandleFunc("GET /api/v1/evidence/{id}/receipt", s.receipt)
	mux.HandleFunc("GET /api/v1/evidence/{id}/custody", s.custody)
	mux.HandleFunc("POST /api/v1/receipts/refresh", s.refreshReceipt)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	return securityHeaders(mux), nil
}

// securityHeaders sets, on every response, a Content-Security-Policy that
// allows no inline script and nothing from other origins, and the other
// headers a page holding evidence should carry.
func securityHeaders(next http.Handler) http.Handler {
	const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
		"media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

func staticFiles(assets fs.FS) http.Handler {
	files := http.FileServerFS(assets)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "" || strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r) // no directory listings
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	})
}

func (s *server) index(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	data := struct {
		Sources []evidence.Source
		MaxSize int64
	}{evidence.Sources, s.MaxSize}
	if err := s.pages.ExecuteTemplate(w, "index.html", data); err != nil {
		s.Logger.Error("rendering index", "err", err)
	}
}

// writeJSON sends v as the JSON body of a response.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// apiError is the body of every JSON API error.
type apiError struct {
	Error string `json:"error"`
}

func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, evidence.ErrNotFound), errors.Is(err, blob.ErrNotFound):
		writeJSON(w, http.StatusNotFound, apiError{"not found"})
	default:
		s.Logger.Error("request failed", "method", r.Method, "route", r.Pattern, "err", err)
		writeJSON(w, http.StatusInternalServerError, apiError{"internal error"})
	}
}
