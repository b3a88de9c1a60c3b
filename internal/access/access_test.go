package access_test

import (
	"os"
	"strings"
	"testing"

	"github.com/sightline/sightline/internal/access"
	"github.com/sightline/sightline/internal/account"
	"github.com/sightline/sightline/internal/evidence"
)

// docs/access.md shows the table between two markers; it must be the
// table in code.
func TestTableMatchesDocs(t *testing.T) {
	b, err := os.ReadFile("../../docs/access.md")
	if err != nil {
		t.Fatal(err)
	}
	const begin, end = "<!-- table:begin -->\n", "<!-- table:end -->"
	s := string(b)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatal("docs/access.md has no table markers")
	}
	if got, want := s[i+len(begin):j], access.Markdown(); got != want {
		t.Errorf("docs/access.md's table differs from the code's; put this between the markers:\n%s", want)
	}
	for a := range access.Table {
		found := false
		for _, b := range access.Actions {
			found = found || a == b
		}
		if !found {
			t.Errorf("action %q is in the table but not in Actions (the docs' rows)", a)
		}
	}
}

// The case hook: an investigator reaches an item once a case links it,
// unless they are involved.
func TestInvestigatorCaseHook(t *testing.T) {
	inv := access.Principal{Kind: access.Staff, User: account.User{ID: "u_1", Role: account.Investigator, Badge: "77"}}
	f := &access.Facts{Item: evidence.Item{ID: "e1"}}
	if access.Decide(inv, access.ReadOriginal, f).Allowed {
		t.Error("an investigator reached an item with no case")
	}
	f.OnCase = func(id string) bool { return id == "u_1" }
	if d := access.Decide(inv, access.ReadOriginal, f); !d.Allowed {
		t.Errorf("an investigator on the case was refused: %s", d.Rule)
	}
	f.Involved = []string{"77"}
	if access.Decide(inv, access.ReadOriginal, f).Allowed {
		t.Error("an involved investigator reached the item")
	}
}

// An officer is involved whatever case or spacing the badge was written
// in, by a civilian, a supervisor or an incident.
func TestInvolvementIgnoresHowABadgeIsWritten(t *testing.T) {
	sup := access.Principal{Kind: access.Staff, User: account.User{ID: "u_2", Role: account.Supervisor, Unit: "central", Badge: "S-1"}}
	for _, tc := range []struct {
		name string
		f    *access.Facts
	}{
		{"named by the civilian", &access.Facts{Item: evidence.Item{ID: "e1", Officer: "s-1"}, SharedWith: []string{"u_2"}}},
		{"recorded as involved", &access.Facts{Item: evidence.Item{ID: "e1", Uploader: evidence.Uploader{Token: "t", Unit: "central"}}, Involved: []string{" s 1 "}}},
	} {
		if d := access.Decide(sup, access.ReadOriginal, tc.f); d.Allowed {
			t.Errorf("%s: the involved officer S-1 reads the item (%s)", tc.name, d.Rule)
		}
	}
	inc := &access.Facts{Incident: &access.IncidentFacts{Unit: "central", Officers: []string{"s-1"}}}
	if d := access.Decide(sup, access.ReadIncident, inc); d.Allowed {
		t.Errorf("the officer named s-1 reads the incident (%s)", d.Rule)
	}
	if !access.SameBadge("S-1", "s 1") || access.SameBadge("S-1", "S-10") || access.SameBadge("", "") || access.SameBadge("-", "") {
		t.Error("SameBadge")
	}
}
