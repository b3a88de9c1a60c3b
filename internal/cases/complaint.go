package cases

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Complaint is a complaint as filed: its words stay in the database.
type Complaint struct {
	Narrative  string        `json:"narrative"`
	OccurredAt time.Time     `json:"occurred_at"`
	Place      string        `json:"place,omitempty"`
	Location   *Location     `json:"location,omitempty"`
	Officers   []OfficerDesc `json:"officers,omitempty"`
	Evidence   []EvidenceRef `json:"evidence,omitempty"`
	Contact    *Contact      `json:"contact,omitempty"`
}

// Location is where it happened, in decimal degrees.
type Location struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
}

// OfficerDesc is an officer as the complainant describes them.
type OfficerDesc struct {
	Badge       string `json:"badge,omitempty"`
	Name        string `json:"name,omitempty"`
	Description string `json:"description,omitempty"`
}

// EvidenceRef is footage the complainant attaches, with its own token.
type EvidenceRef struct {
	ID    string `json:"id"`
	Token string `json:"token"`
}

// Contact is how the complainant may be reached; none for an anonymous
// complaint.
type Contact struct {
	Email string `json:"email,omitempty"`
	Phone string `json:"phone,omitempty"`
}

// Limits of a complaint.
const (
	MaxNarrative   = 20000
	maxPlace       = 500
	maxOfficers    = 20
	maxEvidence    = 20
	maxDescription = 2000
)

// ParseComplaint reads a complaint sent as JSON and checks every field:
// an error wraps ErrInvalid and names the field. now bounds occurred_at.
// Attached footage's tokens are checked by the Service.
func ParseComplaint(b []byte, now time.Time) (Complaint, error) {
	var c Complaint
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("%w: %s", ErrInvalid, jsonProblem(err))
	}
	if dec.More() {
		return c, fmt.Errorf("%w: more after the complaint", ErrInvalid)
	}
	return c, c.check(now)
}

// jsonProblem says what a JSON decoding error is about, naming the field.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	var pe *time.ParseError
	switch {
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	case errors.As(err, &te):
		return fmt.Sprintf("%s: want %s", te.Field, te.Type)
	case errors.As(err, &pe):
		return "occurred_at: when it happened, RFC 3339, such as 2026-11-30T21:05:00-05:00"
	}
	return "not a JSON complaint: " + err.Error()
}

func (c *Complaint) check(now time.Time) error {
	c.Narrative = strings.TrimSpace(c.Narrative)
	switch {
	case c.Narrative == "":
		return invalid("narrative", "say what happened")
	case utf8.RuneCountInString(c.Narrative) > MaxNarrative:
		return invalid("narrative", fmt.Sprintf("at most %d characters", MaxNarrative))
	case c.OccurredAt.IsZero():
		return invalid("occurred_at", "when it happened, RFC 3339, such as 2026-11-30T21:05:00-05:00")
	case c.OccurredAt.After(now.Add(5 * time.Minute)):
		return invalid("occurred_at", "in the future")
	case len(c.Officers) > maxOfficers:
		return invalid("officers", fmt.Sprintf("at most %d", maxOfficers))
	case len(c.Evidence) > maxEvidence:
		return invalid("evidence", fmt.Sprintf("at most %d", maxEvidence))
	}
	if err := text("narrative", c.Narrative, MaxNarrative, true); err != nil {
		return err
	}
	if err := text("place", c.Place, maxPlace, false); err != nil {
		return err
	}
	if l := c.Location; l != nil && (math.IsNaN(l.Lat) || math.IsNaN(l.Lon) || math.Abs(l.Lat) > 90 || math.Abs(l.Lon) > 180) {
		return invalid("location", "lat within ±90 and lon within ±180")
	}
	for i, o := range c.Officers {
		field := fmt.Sprintf("officers[%d]", i)
		if o.Badge == "" && o.Name == "" && o.Description == "" {
			return invalid(field, "a badge, a name or a description")
		}
		if err := badge(field+".badge", o.Badge); err != nil {
			return err
		}
		if err := text(field+".name", o.Name, 100, false); err != nil {
			return err
		}
		if err := text(field+".description", o.Description, maxDescription, true); err != nil {
			return err
		}
	}
	for i, e := range c.Evidence {
		if e.ID == "" || e.Token == "" || len(e.ID) > 64 || len(e.Token) > 128 {
			return invalid(fmt.Sprintf("evidence[%d]", i), "an id and its token")
		}
	}
	if ct := c.Contact; ct != nil {
		if ct.Email != "" && (len(ct.Email) > 254 || strings.Count(ct.Email, "@") != 1 || strings.ContainsFunc(ct.Email, func(r rune) bool { return r <= ' ' || r > '~' || r == '<' || r == '>' })) {
			return invalid("contact.email", "an email address")
		}
		if ct.Phone != "" && (len(ct.Phone) > 32 || strings.ContainsFunc(ct.Phone, func(r rune) bool { return !strings.ContainsRune("0123456789+-() .", r) })) {
			return invalid("contact.phone", "a phone number: digits, + - ( ) . and spaces")
		}
	}
	return nil
}

// text checks free text: valid UTF-8, at most max characters, no control
// characters (newlines and tabs where lines is true).
func text(field, s string, max int, lines bool) error {
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > max {
		return invalid(field, fmt.Sprintf("at most %d characters of text", max))
	}
	if strings.ContainsFunc(s, func(r rune) bool {
		return unicode.IsControl(r) && !(lines && (r == '\n' || r == '\t' || r == '\r')) || r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069
	}) {
		return invalid(field, "no control characters")
	}
	return nil
}

// badge checks a badge number as people write them.
func badge(field, b string) error {
	if len(b) > 32 || strings.ContainsFunc(b, func(r rune) bool {
		return !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || strings.ContainsRune(" -./#", r))
	}) {
		return invalid(field, "letters, digits, space and - . / #, at most 32")
	}
	return nil
}

func invalid(field, want string) error { return fmt.Errorf("%w: %s: %s", ErrInvalid, field, want) }
