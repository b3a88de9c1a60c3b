package web

import (
	"net/http"
	"slices"

	"github.com/sightline/sightline/internal/access"
	"github.com/sightline/sightline/internal/incident"
	"github.com/sightline/sightline/internal/redact"
	"github.com/sightline/sightline/internal/release"
)

// The records office's page of an incident's releases,
// /staff/incidents/{incident}/releases: every version with the steps the
// caller may take (approve, publish), and a form for a new version. The
// page only shows; releases.js makes each change through the API
// (docs/api.md, "Releases"), which decides and logs it.

// releaseClip is a recording a new release may show, with the approved
// redactions it may be shown through.
type releaseClip struct {
	incident.TimelineClip
	Redactions []redact.Redaction
}

// releaseRow is one version as the page lists it, with what the caller
// may do to it.
type releaseRow struct {
	releaseView
	MayApprove, MayPublish bool
}

// releasesPage answers GET /staff/incidents/{incident}/releases.
func (s *server) releasesPage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("incident")
	c, ok := s.decideOnIncident(w, r, id, access.ReadRelease)
	if !ok {
		return
	}
	tl, err := s.Incidents.Timeline(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rels, err := s.Releases.Versions(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	facts := incidentFacts(tl.Incident)
	may := func(a access.Action) bool { return access.Decide(c.Principal, a, facts).Allowed }
	var rows []releaseRow
	for _, rel := range slices.Backward(rels) {
		rows = append(rows, releaseRow{viewOf(rel),
			rel.Status == release.Draft && rel.Author != c.Actor() && may(access.ApproveRelease),
			rel.Status == release.Approved && !rel.Publishing && may(access.PublishRelease)})
	}
	var clips []releaseClip
	if may(access.MakeRelease) {
		for _, tc := range tl.Clips {
			rs, err := s.Redactions.ForEvidence(r.Context(), tc.Evidence)
			if err != nil {
				s.fail(w, r, err)
				return
			}
			rs = slices.DeleteFunc(rs, func(x redact.Redaction) bool {
				return x.Status != redact.Approved && x.Status != redact.Rendered && x.Status != redact.Released
			})
			clips = append(clips, releaseClip{tc, rs})
		}
	}
	csrf := ""
	if c.session != nil {
		csrf = c.session.CSRF
	}
	s.render(w, http.StatusOK, "releases.html", struct {
		Incident incident.Incident
		CSRF     string
		Releases []releaseRow
		Clips    []releaseClip
		Bases    []redact.Basis
		MayMake  bool
	}{tl.Incident, csrf, rows, clips, s.Redactions.Bases(), may(access.MakeRelease)})
}
