package access

import (
	"slices"
	"strings"

	"github.com/sightline/sightline/internal/account"
)

// Rule decides one action for one role; f is nil for actions on no item.
// Its text says what it allows, for the table in the docs.
type Rule struct {
	Text   string
	Decide func(p Principal, f *Facts) Decision
}

// Roles are the table's columns: every kind of caller and every staff role.
var Roles = []string{string(Anonymous), string(Civilian), string(Device),
	string(account.Officer), string(account.Supervisor), string(account.Investigator), string(account.Records), string(account.Admin)}

// Table is the permission table: for each action, the rule of each role.
// A role without a rule is denied.
var Table = map[Action]map[string]Rule{
	Public: everyone(always("public")),
	SignIn: everyone(always("public")),
	Upload: {
		string(Anonymous): always("anyone may submit footage"),
		string(Civilian):  always("anyone may submit footage"),
		string(Device):    always("device token: uploads for its unit"),
		// Staff may submit footage too (their own phone's); it is
		// recorded like a civilian's, not as a police camera's.
		string(account.Officer):      always("anyone may submit footage"),
		string(account.Supervisor):   always("anyone may submit footage"),
		string(account.Investigator): always("anyone may submit footage"),
		string(account.Admin):        always("anyone may submit footage"),
	},
	UploadReadBack: everyone(always("the upload id is the capability")),
	StaffHome:      staffOnly(always("signed in")),
	ReadItem:       itemRules(),
	ReadOriginal:   itemRules(),
	ReadReceipt:    itemRules(),
	ReadCustody:    itemRules(),
	ShareItem: {
		string(Civilian): holder,
	},
	RecordInvolved: {
		string(account.Supervisor):   notInvolved(sameUnitOrShared),
		string(account.Investigator): notInvolved(onCase),
	},
	ManageAccounts: {
		string(account.Admin): always("admin"),
	},
	CreateIncident: {
		string(account.Supervisor):   always("yes"),
		string(account.Investigator): always("yes"),
	},
	ReadIncident: incidentRules(),
	EditIncident: incidentRules(),
	// Adding staff widens who reads every clip of an incident: only its
	// owner, or an investigator on it, may do it.
	AssignStaff: {
		string(account.Supervisor):   notInvolvedIn(owner),
		string(account.Investigator): notInvolvedIn(assigned),
	},
	ClaimCode: {
		string(account.Supervisor): always("a civilian's code, before it expires, if no other supervisor used it"),
	},
	ReviewItem: {
		string(account.Supervisor): notInvolved(sameUnitSharedOrOnCase),
	},
	// EditReview has no rule: a submitted review is never changed; a
	// correction is a new review that refers to it.
	EditReview: {},
	// Complaints need no account; their holders reach them with their
	// token, checked by the handler.
	FileComplaint: everyone(always("anyone may file a complaint")),
	Complainant:   everyone(always("the complaint's token is the capability")),
	CreateCase: {
		string(account.Supervisor):   always("yes"),
		string(account.Investigator): always("yes"),
	},
	ListCases: {
		string(account.Supervisor):   always("their unit's and those they investigate"),
		string(account.Investigator): always("those they investigate and those no one does"),
		string(account.Admin):        always("all, to assign investigators"),
	},
	ReadCase: caseRules(),
	EditCase: caseRules(),
	TakeCase: {
		string(account.Investigator): notNamedIn(unassignedCase),
	},
	// Assigning investigators widens who reads a case: the admin, a role
	// above the investigators, does it.
	AssignCase: {
		string(account.Admin): always("admin"),
	},
	// Flags for early intervention name officers: for those who run
	// investigations.
	ReadAlerts: {
		string(account.Investigator): always("yes"),
	},
	// A package holds every item of an incident or a case: who may read
	// the incident or the case may export it, if they may also read every
	// item in it (the handler decides each item, and refuses the whole
	// package if one is not theirs to read).
	ExportPackage: {
		string(account.Supervisor):   incidentOrCase(notInvolvedIn(unitOrAssigned), notNamedIn(caseUnit)),
		string(account.Investigator): incidentOrCase(notInvolvedIn(assigned), notNamedIn(investigating)),
	},
	// Redacting is working on what one may read: supervisors and
	// investigators redact what they may read, public-records staff their
	// unit's camera footage. Approving is the same, by another person than
	// the author (the handler refuses the author). Releasing a rendered
	// redaction to the public is the records office's.
	Redact:           redactRules(),
	ApproveRedaction: redactRules(),
	ReleaseRedaction: {
		string(account.Records): notInvolved(unitCamera),
	},
	// An incident's public release is the records office's work, for its
	// unit's incidents (each span also needs the right to redact its
	// recording: the handler decides each); a second person approves it,
	// records staff or a supervisor who may read the incident.
	MakeRelease:    {string(account.Records): notInvolvedIn(unitIncident)},
	ApproveRelease: {string(account.Records): notInvolvedIn(unitIncident), string(account.Supervisor): notInvolvedIn(unitOrAssigned)},
	PublishRelease: {string(account.Records): notInvolvedIn(unitIncident)},
	ReadRelease: {
		string(account.Records):      notInvolvedIn(unitIncident),
		string(account.Supervisor):   notInvolvedIn(unitOrAssigned),
		string(account.Investigator): notInvolvedIn(assigned),
	},
}

var unitIncident = Rule{"their unit's incidents", func(p Principal, f *Facts) Decision {
	if p.User.Unit != "" && f.Incident.Unit == p.User.Unit {
		return allow("their unit's incident")
	}
	return deny("not their unit's incident")
}}

// redactRules are who may redact an item or approve a redaction of it.
func redactRules() map[string]Rule {
	return map[string]Rule{
		string(account.Supervisor):   notInvolved(sameUnitSharedOrOnCase),
		string(account.Investigator): notInvolved(onCase),
		string(account.Records):      notInvolved(unitCamera),
	}
}

var unitCamera = Rule{"their unit's camera footage", func(p Principal, f *Facts) Decision {
	if p.User.Unit != "" && !f.Civilian() && f.Item.Uploader.Unit == p.User.Unit {
		return allow("their unit's camera footage")
	}
	return deny("not their unit's camera footage")
}}

// caseRules are who may read and work a case: its investigators, and
// supervisors of the unit that opened it; never an officer named in it.
func caseRules() map[string]Rule {
	return map[string]Rule{
		string(account.Supervisor):   notNamedIn(caseUnit),
		string(account.Investigator): notNamedIn(investigating),
	}
}

// notNamedIn denies an officer named in the case's allegations, whatever
// r says.
func notNamedIn(r Rule) Rule {
	return unlessListed(r, ", unless named in it", "no case", "named in the case", func(f *Facts) ([]string, bool) {
		if f.Case == nil {
			return nil, false
		}
		return f.Case.Named, true
	})
}

// unlessListed denies a caller whose badge badges lists (false: the facts
// lack what r is about), whatever r says.
func unlessListed(r Rule, text, missing, refusal string, badges func(*Facts) ([]string, bool)) Rule {
	return Rule{r.Text + text, func(p Principal, f *Facts) Decision {
		if f == nil {
			return deny(missing)
		}
		listed, ok := badges(f)
		if !ok {
			return deny(missing)
		}
		if slices.ContainsFunc(listed, func(b string) bool { return SameBadge(b, p.User.Badge) }) {
			return deny(refusal)
		}
		return r.Decide(p, f)
	}}
}

var investigating = Rule{"cases they investigate", func(p Principal, f *Facts) Decision {
	if slices.Contains(f.Case.Investigators, p.User.ID) {
		return allow("investigates the case")
	}
	return deny("does not investigate the case")
}}

var caseUnit = Rule{"their unit's cases", func(p Principal, f *Facts) Decision {
	if p.User.Unit != "" && f.Case.Unit == p.User.Unit {
		return allow("their unit's case")
	}
	return investigating.Decide(p, f)
}}

var unassignedCase = Rule{"cases no one investigates", func(p Principal, f *Facts) Decision {
	if len(f.Case.Investigators) == 0 {
		return allow("no one investigates the case")
	}
	return deny("the case has investigators")
}}

// incidentRules are who may see and change an incident: supervisors,
// their unit's incidents and those they are assigned to; investigators,
// those they are assigned to; never an officer involved in it.
func incidentRules() map[string]Rule {
	return map[string]Rule{
		string(account.Supervisor):   notInvolvedIn(unitOrAssigned),
		string(account.Investigator): notInvolvedIn(assigned),
	}
}

// notInvolvedIn denies an officer named in the incident, whatever r says.
func notInvolvedIn(r Rule) Rule {
	return unlessListed(r, ", unless involved", "no incident", "involved officer", func(f *Facts) ([]string, bool) {
		if f.Incident == nil {
			return nil, false
		}
		return f.Incident.Officers, true
	})
}

var assigned = Rule{"incidents they are assigned to", func(p Principal, f *Facts) Decision {
	if slices.Contains(f.Incident.Staff, p.User.ID) {
		return allow("assigned to the incident")
	}
	return deny("not assigned to the incident")
}}

var owner = Rule{"incidents they opened", func(p Principal, f *Facts) Decision {
	if p.User.ID != "" && f.Incident.Owner == p.User.ID {
		return allow("opened the incident")
	}
	return deny("did not open the incident")
}}

var unitOrAssigned = Rule{"their unit's incidents and those they are assigned to", func(p Principal, f *Facts) Decision {
	if p.User.Unit != "" && f.Incident.Unit == p.User.Unit {
		return allow("their unit's incident")
	}
	return assigned.Decide(p, f)
}}

// Decide looks up the table: the rule of p's role for a, or deny.
func Decide(p Principal, a Action, f *Facts) Decision {
	rule, ok := Table[a][p.Role()]
	if !ok {
		return deny("no rule: denied by default")
	}
	return rule.Decide(p, f)
}

// itemRules are who may reach an evidence item: the civilian who holds its
// token; an officer, footage from their own camera; a supervisor, their
// unit's footage and what a civilian shared with them; an investigator,
// what is linked to their cases; public-records staff, their unit's camera
// footage (to redact it). Admins manage accounts, not footage. An
// officer involved in an item loses access to it whatever their role.
func itemRules() map[string]Rule {
	return map[string]Rule{
		string(Civilian):             holder,
		string(account.Officer):      notInvolved(ownCamera),
		string(account.Supervisor):   notInvolved(sameUnitSharedOrOnCase),
		string(account.Investigator): notInvolved(onCase),
		string(account.Records):      notInvolved(unitCamera),
	}
}

func always(rule string) Rule {
	return Rule{"yes", func(Principal, *Facts) Decision { return allow(rule) }}
}

func everyone(r Rule) map[string]Rule {
	m := map[string]Rule{}
	for _, role := range Roles {
		m[role] = r
	}
	return m
}

func staffOnly(r Rule) map[string]Rule {
	m := map[string]Rule{}
	for _, role := range account.Roles {
		m[string(role)] = r
	}
	return m
}

// holder is the civilian who submitted an item. Police footage (sent with
// a device token) has no holder: it follows police rules only, so no
// token can read, share or show it.
var holder = Rule{"their own item (not police camera footage)", func(p Principal, f *Facts) Decision {
	if f != nil && f.Civilian() && f.Item.Authorize(p.Capability) {
		return allow("holds the item's token")
	}
	return deny("not the item's token")
}}

// notInvolved denies an officer involved in the item, whatever r says.
func notInvolved(r Rule) Rule {
	return Rule{r.Text + ", unless involved", func(p Principal, f *Facts) Decision {
		if f == nil {
			return deny("no item")
		}
		if f.involved(p.User.Badge) {
			return deny("involved officer")
		}
		return r.Decide(p, f)
	}}
}

var ownCamera = Rule{"footage from their own camera", func(p Principal, f *Facts) Decision {
	if SameBadge(f.Item.Uploader.Badge, p.User.Badge) {
		return allow("own camera")
	}
	return deny("not their camera")
}}

var sameUnitOrShared = Rule{"their unit's footage and what a civilian shared with them", func(p Principal, f *Facts) Decision {
	for _, id := range f.SharedWith {
		if id == p.User.ID {
			return allow("shared with them by the civilian")
		}
	}
	if p.User.Unit != "" && f.Item.Uploader.Unit == p.User.Unit {
		return allow("their unit's footage")
	}
	return deny("not their unit's, not shared with them")
}}

var onCase = Rule{"what is in incidents they are assigned to", func(p Principal, f *Facts) Decision {
	if f.OnCase != nil && f.OnCase(p.User.ID) {
		return allow("in an incident they are assigned to")
	}
	return deny("not in an incident they are assigned to")
}}

var sameUnitSharedOrOnCase = Rule{sameUnitOrShared.Text + ", and what is in incidents they are assigned to", func(p Principal, f *Facts) Decision {
	if d := sameUnitOrShared.Decide(p, f); d.Allowed {
		return d
	}
	return onCase.Decide(p, f)
}}

// Actions lists the table's rows in the order the docs show them.
var Actions = []Action{Public, SignIn, Upload, UploadReadBack, StaffHome, ReadItem, ReadOriginal, ReadReceipt, ReadCustody,
	ShareItem, RecordInvolved, ManageAccounts, CreateIncident, ReadIncident, EditIncident, AssignStaff, ClaimCode, ReviewItem, EditReview,
	FileComplaint, Complainant, CreateCase, ListCases, ReadCase, EditCase, TakeCase, AssignCase, ReadAlerts, ExportPackage,
	Redact, ApproveRedaction, ReleaseRedaction, MakeRelease, ApproveRelease, PublishRelease, ReadRelease}

// Markdown renders the table as the docs show it: a row per action, a
// column per role; "no" where the table has no rule.
func Markdown() string {
	var b strings.Builder
	b.WriteString("| action | " + strings.Join(Roles, " | ") + " |\n|---|")
	b.WriteString(strings.Repeat("---|", len(Roles)) + "\n")
	for _, a := range Actions {
		b.WriteString("| " + string(a) + " |")
		for _, role := range Roles {
			text := "no"
			if r, ok := Table[a][role]; ok {
				text = r.Text
			}
			b.WriteString(" " + text + " |")
		}
		b.WriteString("\n")
	}
	return b.String()
}

// incidentOrCase decides by inc for an incident's facts and by kase for
// a case's.
func incidentOrCase(inc, kase Rule) Rule {
	return Rule{"incidents: " + inc.Text + "; cases: " + kase.Text, func(p Principal, f *Facts) Decision {
		if f != nil && f.Incident != nil {
			return inc.Decide(p, f)
		}
		return kase.Decide(p, f)
	}}
}
