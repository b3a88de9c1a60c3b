// Package web is Sightline's HTTP face: the JSON API, the tus endpoint
// (served by ingest), and server-rendered pages with their embedded static
// assets. It maps domain errors to HTTP statuses; nothing below it knows
// about HTTP.
package web

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/sightline/sightline/internal/access"
	"github.com/sightline/sightline/internal/account"
	"github.com/sightline/sightline/internal/blob"
	"github.com/sightline/sightline/internal/cases"
	"github.com/sightline/sightline/internal/court"
	"github.com/sightline/sightline/internal/derive"
	"github.com/sightline/sightline/internal/evidence"
	"github.com/sightline/sightline/internal/incident"
	"github.com/sightline/sightline/internal/ingest"
	"github.com/sightline/sightline/internal/jobs"
	"github.com/sightline/sightline/internal/ledger"
	"github.com/sightline/sightline/internal/lookup"
	"github.com/sightline/sightline/internal/redact"
	"github.com/sightline/sightline/internal/release"
	"github.com/sightline/sightline/internal/review"
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
	// Accounts signs staff in and checks tokens.
	Accounts *account.Service
	// Facts are what access decisions need beyond evidence records.
	Facts access.Store
	// Incidents keeps incidents and their timelines.
	Incidents *incident.Service
	// Grouping says which items are suggested for an incident.
	Grouping incident.Grouping
	// Derived records the files made from originals (posters, review
	// copies).
	Derived derive.Store
	// Jobs says where each item's media jobs stand.
	Jobs *jobs.Queue
	// Reviews issues share codes and keeps on-scene reviews.
	Reviews *review.Service
	// Cases keeps complaints and internal reviews.
	Cases *cases.Service
	// Digests keeps the SHA-512 of blobs, for evidence packages.
	Digests court.DigestStore
	// Redactions hides faces and voices in copies and proves what changed.
	Redactions *redact.Service
	// Lookup finds where a clip comes from.
	Lookup *lookup.Service
	// Releases publishes incidents' footage with its context.
	Releases *release.Service
	// LookupLimit is how many lookups one client address without a staff
	// account may ask for in 10 minutes. Default 20.
	LookupLimit int
	// Organization names who runs this server, in evidence packages;
	// the log's origin if empty.
	Organization string
	// FailureLimit is how many failed token guesses, and how many failed
	// sign-ins, one client address may make in 10 minutes. Default 20.
	FailureLimit int
	// WriteLimit is how many things one client address without a staff
	// account may make the server store and log in 10 minutes: uploads
	// begun, share codes, shares. Default 600.
	WriteLimit int
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client (--trusted-proxy); none by default.
	TrustedProxies []netip.Prefix
	// BodyTimeout is how long a request body may take to arrive, outside
	// uploads (whose reads tusd bounds one by one). Default 30 s.
	BodyTimeout time.Duration
	// Now is the clock viewings and limits are timed by; time.Now if nil.
	Now func() time.Time
	// Ready reports whether the server's stores (its database and blob
	// store) answer; /readyz asks it, and the custody log. Nil: they do.
	Ready func(ctx context.Context) error
	// PublicURL, such as https://sightline.example.org, is where links
	// the server hands out point (a share code's, a receipt page's, a
	// set-up link); if empty, the scheme and host of the request.
	PublicURL string
	// Tally keeps the limits' counts (required).
	Tally Tally
	// Metrics are the server's metrics, served at /metrics; a registry of
	// the handler's own if nil.
	Metrics *Metrics
}

type server struct {
	Config
	pages       *template.Template
	routes      []Route
	guesses     *limiter // failed token guesses per address
	logins      *limiter // failed sign-ins per address
	codeGuesses *limiter // wrong share codes per supervisor
	viewings    *viewings
	writes      *limiter // what callers without an account make the server store, per address
	lookups     *limiter // lookups by callers without a staff account, per address
	proofs      proofCache
}

// Handler serves every route of the server.
type Handler struct {
	http.Handler
	routes []Route
}

// Routes lists every route with its action, for the authorization test.
func (h *Handler) Routes() []Route { return h.routes }

// record logs a custody event.
func (s *server) record(ctx context.Context, e evidence.Event) (uint64, error) {
	return evidence.Recorder{Log: s.Log, Index: s.Custody}.Record(ctx, e)
}

// New returns the handler for every route of the server. Every route is
// registered with its action in the access table.
func New(cfg Config) (*Handler, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	pages, err := template.New("").Funcs(pageFuncs).ParseFS(embedded, "templates/*.html")
	if err != nil {
		return nil, err
	}
	if cfg.FailureLimit == 0 {
		cfg.FailureLimit = 20
	}
	if cfg.LookupLimit == 0 {
		cfg.LookupLimit = 20
	}
	if cfg.WriteLimit == 0 {
		cfg.WriteLimit = 600
	}
	if cfg.BodyTimeout <= 0 {
		cfg.BodyTimeout = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Organization == "" && cfg.Log != nil {
		cfg.Organization = cfg.Log.Origin()
	}
	if cfg.Tally == nil {
		return nil, errors.New("web: no tally for the limits")
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	s := &server{Config: cfg, pages: pages, viewings: newViewings()}
	s.guesses = s.newLimiter("token guesses", cfg.FailureLimit)
	s.logins = s.newLimiter("sign-ins", cfg.FailureLimit)
	s.codeGuesses = s.newLimiter("share codes", codeGuesses)
	s.writes = s.newLimiter("anonymous writes", cfg.WriteLimit)
	s.lookups = s.newLimiter("lookups", cfg.LookupLimit)
	assets, err := fs.Sub(embedded, "assets")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	h := func(f http.HandlerFunc) http.Handler { return f }
	s.handle(mux, "GET /{$}", access.Public, h(s.index))
	s.handle(mux, "GET /static/", access.Public, http.StripPrefix("/static/", staticFiles(assets)))
	s.handle(mux, "GET /log/", access.Public, http.StripPrefix("/log/", logFiles(cfg.Log.Tiles())))
	s.handle(mux, "POST /api/v1/receipts/refresh", access.Public, h(s.refreshReceipt))
	s.handle(mux, "GET /capture", access.Public, h(s.capture))
	s.handle(mux, "GET /sw.js", access.Public, rootAsset(assets, "sw.js", "text/javascript; charset=utf-8"))
	s.handle(mux, "GET /manifest.webmanifest", access.Public, rootAsset(assets, "manifest.webmanifest", "application/manifest+json"))
	s.handle(mux, "GET /healthz", access.Public, h(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) }))
	s.handle(mux, "GET /readyz", access.Public, h(s.readyz))
	s.handle(mux, "GET /metrics", access.Public, s.Metrics.handler(s.Log))

	upload := s.uploads(cfg.Ingest.Handler())
	s.handle(mux, "/api/v1/uploads", access.Upload, upload)
	s.handle(mux, ingest.BasePath, access.Upload, upload)
	s.handle(mux, "GET /api/v1/uploads/{upload}/evidence", access.UploadReadBack, h(s.uploadEvidence))
	s.handle(mux, "GET /api/v1/uploads/{upload}/receipt", access.UploadReadBack, h(s.uploadReceipt))
	s.handle(mux, "GET /api/v1/uploads/{upload}/page", access.UploadReadBack, h(s.uploadPage))

	s.handle(mux, "GET /api/v1/evidence/{id}", access.ReadItem, h(s.evidence))
	s.handle(mux, "GET /api/v1/evidence/{id}/original", access.ReadOriginal, h(s.original))
	s.handle(mux, "GET /api/v1/evidence/{id}/receipt", access.ReadReceipt, h(s.receipt))
	s.handle(mux, "GET /api/v1/evidence/{id}/custody", access.ReadCustody, h(s.custody))
	s.handle(mux, "POST /api/v1/evidence/{id}/shares", access.ShareItem, h(s.share))
	s.handle(mux, "GET /api/v1/evidence/{id}/shares", access.ShareItem, h(s.shares))
	s.handle(mux, "DELETE /api/v1/evidence/{id}/shares/{user}", access.ShareItem, h(s.unshare))
	s.handle(mux, "GET /api/v1/evidence", access.StaffHome, h(s.search))
	s.handle(mux, "POST /api/v1/evidence/{id}/involved", access.RecordInvolved, h(s.involve))
	s.handle(mux, "GET /api/v1/evidence/{id}/review", access.ReadOriginal, h(s.review))
	s.handle(mux, "GET /api/v1/evidence/{id}/poster", access.ReadItem, s.derived(derive.Poster))
	s.handle(mux, "GET /api/v1/evidence/{id}/thumbnails", access.ReadItem, s.derived(derive.Thumbnails))
	s.handle(mux, "GET /api/v1/me", access.StaffHome, h(s.me))
	s.handle(mux, "GET /api/v1/staff", access.StaffHome, h(s.staff))

	s.handle(mux, "POST /api/v1/incidents", access.CreateIncident, h(s.createIncident))
	s.handle(mux, "GET /api/v1/incidents", access.StaffHome, h(s.incidents))
	s.handle(mux, "GET /api/v1/incidents/{incident}", access.ReadIncident, h(s.incidentRecord))
	s.handle(mux, "GET /api/v1/incidents/{incident}/timeline", access.ReadIncident, h(s.timeline))
	s.handle(mux, "GET /api/v1/incidents/{incident}/suggestions", access.ReadIncident, h(s.suggestions))
	s.handle(mux, "GET /api/v1/incidents/{incident}/package", access.ExportPackage, h(s.incidentPackage))
	for _, rt := range s.incidentEdits() {
		s.handle(mux, rt.pattern, access.EditIncident, rt.handler)
	}
	s.handle(mux, "POST /api/v1/incidents/{incident}/staff", access.AssignStaff, s.assignStaff())

	s.handle(mux, "POST /api/v1/evidence/{id}/share-codes", access.ShareItem, h(s.issueCode))
	s.handle(mux, "POST /api/v1/share-codes/claim", access.ClaimCode, h(s.claimCodeAPI))
	s.handle(mux, "POST /api/v1/evidence/{id}/reviews", access.ReviewItem, h(s.submitReviewAPI))
	s.handle(mux, "GET /api/v1/evidence/{id}/reviews", access.ReadItem, h(s.reviews))
	s.handle(mux, "GET /api/v1/evidence/{id}/reviews/{review}/receipt", access.ReadReceipt, h(s.reviewReceipt))
	for _, method := range []string{"PUT", "PATCH", "DELETE"} {
		s.handle(mux, method+" /api/v1/evidence/{id}/reviews/{review}", access.EditReview, h(s.editReview))
	}
	s.handle(mux, "POST /api/v1/complaints", access.FileComplaint, h(s.fileComplaint))
	s.handle(mux, "GET /api/v1/complaints/{case}", access.Complainant, h(s.complainantView))
	s.handle(mux, "POST /api/v1/complaints/{case}/evidence", access.Complainant, h(s.complainantAttach))
	s.handle(mux, "POST /api/v1/complaints/{case}/withdraw", access.Complainant, h(s.withdraw))
	s.handle(mux, "GET /api/v1/cases", access.ListCases, h(s.listCases))
	s.handle(mux, "GET /api/v1/alerts", access.ReadAlerts, h(s.alerts))
	s.handle(mux, "POST /api/v1/cases", access.CreateCase, h(s.createCase))
	s.handle(mux, "GET /api/v1/cases/{case}", access.ReadCase, h(s.readCase))
	s.handle(mux, "POST /api/v1/cases/{case}/assign", access.AssignCase, h(s.assignCase))
	for _, rt := range s.caseEdits() {
		s.handle(mux, rt.pattern, access.EditCase, rt.handler)
	}
	s.handleBody(mux, "POST /api/v1/cases/{case}/documents", access.EditCase, cases.MaxDocument, h(s.addDocument))
	s.handle(mux, "GET /api/v1/cases/{case}/documents/{sha256}", access.ReadCase, h(s.document))
	s.handle(mux, "GET /api/v1/cases/{case}/package", access.ExportPackage, h(s.casePackage))
	s.handle(mux, "GET /api/v1/public/allegations.csv", access.Public, h(s.allegationsCSV))
	s.handle(mux, "GET /figures", access.Public, h(s.figuresPage))
	s.handle(mux, "POST /api/v1/releases", access.MakeRelease, h(s.createRelease))
	s.handle(mux, "GET /api/v1/releases/{release}", access.ReadRelease, h(s.getRelease))
	s.handle(mux, "PATCH /api/v1/releases/{release}", access.MakeRelease, h(s.editRelease))
	s.handle(mux, "POST /api/v1/releases/{release}/approve", access.ApproveRelease,
		s.releaseStep(access.ApproveRelease, func(svc *release.Service, r *http.Request, actor, id string) (release.Release, error) {
			return svc.Approve(r.Context(), actor, id)
		}))
	s.handle(mux, "POST /api/v1/releases/{release}/publish", access.PublishRelease,
		s.releaseStep(access.PublishRelease, func(svc *release.Service, r *http.Request, actor, id string) (release.Release, error) {
			return svc.Publish(r.Context(), actor, id)
		}))
	s.handle(mux, "GET /api/v1/incidents/{incident}/releases", access.ReadRelease, h(s.incidentReleases))
	s.handle(mux, "GET /staff/incidents/{incident}/releases", access.ReadRelease, h(s.releasesPage))
	s.handle(mux, "GET /r/{release}", access.Public, h(s.releasePage))
	s.handle(mux, "GET /r/{release}/manifest", access.Public, h(s.releaseManifest))
	s.handle(mux, "GET /r/{release}/files/{n}", access.Public, h(s.releaseFile))
	s.handle(mux, "GET /r/{release}/proof", access.Public, h(s.releaseProof))
	s.handleBody(mux, "POST /api/v1/lookup", access.Public, cfg.Lookup.MaxClip()+1<<20, h(s.lookupAPI))
	s.handle(mux, "GET /lookup", access.Public, h(s.lookupForm))
	s.handleBody(mux, "POST /lookup", access.Public, cfg.Lookup.MaxClip()+1<<20, h(s.lookupSubmit))
	s.handle(mux, "GET /complain", access.Public, h(s.complainPage))
	s.handle(mux, "GET /complaint/{case}", access.Public, h(s.complaintPage))
	s.handle(mux, "GET /staff/cases", access.ListCases, h(s.casesPage))
	s.handle(mux, "GET /staff/cases/{case}", access.ReadCase, h(s.casePage))
	s.handle(mux, "GET /e/{id}", access.Public, h(s.evidencePage))
	s.handle(mux, "GET /c/{code}", access.Public, h(s.codeLink))
	s.handle(mux, "GET /staff/code", access.ClaimCode, h(s.codeForm))
	s.handle(mux, "POST /staff/code", access.ClaimCode, h(s.claimCodeForm))
	s.handle(mux, "GET /staff/review/{id}", access.ReviewItem, h(s.reviewPage))
	s.handle(mux, "POST /staff/review/{id}", access.ReviewItem, h(s.submitReviewForm))

	s.redactionRoutes(mux)

	s.handle(mux, "GET /signin", access.SignIn, h(s.signinForm))
	s.handle(mux, "POST /signin", access.SignIn, h(s.signin))
	s.handle(mux, "POST /signout", access.StaffHome, h(s.signout))
	s.handle(mux, "GET /setup/{secret}", access.SignIn, h(s.setupForm))
	s.handle(mux, "POST /setup/{secret}", access.SignIn, h(s.setup))
	s.handle(mux, "GET /staff", access.StaffHome, h(s.staffHome))
	s.handle(mux, "GET /staff/evidence/{id}", access.ReadItem, h(s.staffView))
	s.handle(mux, "GET /staff/incidents/{incident}", access.ReadIncident, h(s.timelinePage))
	s.handle(mux, "GET /admin", access.ManageAccounts, s.sessionOnly(s.adminHome))
	s.handle(mux, "POST /admin/users", access.ManageAccounts, s.sessionOnly(s.adminCreateUser))
	s.handle(mux, "POST /admin/device-tokens", access.ManageAccounts, s.sessionOnly(s.adminDeviceToken))
	s.handle(mux, "POST /admin/tokens/{id}/revoke", access.ManageAccounts, s.sessionOnly(s.adminRevoke))
	return &Handler{securityHeaders(mux), s.routes}, nil
}

// uploads passes who sends an upload on to ingest: a device token's scope,
// or nobody in particular.
func (s *server) uploads(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var who evidence.Uploader
		c := callerOf(r)
		if c.Kind == access.Device {
			who = evidence.Uploader{Token: c.Token.ID, Unit: c.Token.Unit, Device: c.Token.Device, Badge: c.Token.Badge}
		}
		if r.Method == http.MethodPost && !s.mayWrite(w, r, c) {
			return
		}
		next.ServeHTTP(w, r.WithContext(ingest.WithUploader(r.Context(), who)))
	})
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

// rootAsset serves one embedded asset at the site's root: a service
// worker's scope is the folder it is served from, and the capture page's
// must cover /capture.
func rootAsset(assets fs.FS, name, contentType string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := fs.ReadFile(assets, name)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Cache-Control", "no-cache")
		w.Write(b)
	})
}

// capture serves the capture page: record on a phone, streamed to the
// server as it is made.
func (s *server) capture(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	if err := s.pages.ExecuteTemplate(w, "capture.html", nil); err != nil {
		s.Logger.Error("rendering capture page", "err", err)
	}
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
		s.problem(w, r, http.StatusNotFound, "not found")
	case errors.Is(err, ledger.ErrUnwitnessed):
		// Acknowledged and durable; its proof waits for the witnesses.
		s.Logger.Warn("a receipt waits for the witnesses", "route", r.Pattern, "err", err)
		w.Header().Set("Retry-After", "10")
		s.problem(w, r, http.StatusServiceUnavailable, err.Error()+": it is logged; ask again later")
	default:
		s.Logger.Error("request failed", "method", r.Method, "route", r.Pattern, "err", err)
		s.problem(w, r, http.StatusInternalServerError, "internal error")
	}
}

// readyz answers GET /readyz: 200 while the database and the blob store
// answer and the custody log publishes checkpoints (and, with a witness
// policy, how many witnesses cosigned the last), 503 saying why when one
// of them does not answer within a few seconds or entries wait past the
// witness timeout, so that a load balancer can drain this server.
func (s *server) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	if s.Ready != nil {
		if err := s.Ready(ctx); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "not ready: %v\n", err)
			return
		}
	}
	st, err := s.Log.Status(ctx)
	switch {
	case err != nil:
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "not ready: %v\n", err)
	case st.Stalled:
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "not ready: %s\n", st.Why)
	case st.Witnessed:
		fmt.Fprintf(w, "ready\nwitnessed: %s (%s)\n", st.Why, strings.Join(st.Signed, ", "))
	default:
		fmt.Fprintf(w, "ready\nthe custody log is not witnessed\n")
	}
}

// problem answers a request that failed, with why: an API caller gets JSON,
// a person on a page gets a page.
func (s *server) problem(w http.ResponseWriter, r *http.Request, status int, msg string) {
	if !page(r) {
		writeJSON(w, status, apiError{msg})
		return
	}
	title := http.StatusText(status)
	if status == http.StatusNotFound {
		title = "Not found, or not yours to see"
	}
	if msg != "" {
		msg = strings.ToUpper(msg[:1]) + msg[1:] + "."
	}
	s.render(w, status, "problem.html", struct{ Title, Message string }{title, msg})
}

// page reports whether a request is for one of the site's pages, not the
// API, the log's tiles or a static file.
func page(r *http.Request) bool {
	for _, p := range []string{"/api/", "/log/", "/static/"} {
		if strings.HasPrefix(r.URL.Path, p) {
			return false
		}
	}
	return true
}
