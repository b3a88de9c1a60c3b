package incident

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sightline/sightline/internal/evidence"
)

// Actor is who makes a change, as the custody log names them.
type Actor struct {
	ID   string // account.Actor form: "user:u_…"
	User string // their staff id
	Role string
	Unit string
}

// Sound is an item's sound for alignment, as the media jobs left it.
type Sound struct {
	State   SoundState
	Samples []float32 // at align.Rate, when State is SoundReady
	Detail  string    // why there is none
}

// SoundState says whether an item's sound can be had.
type SoundState int

// The sound states.
const (
	SoundPending SoundState = iota // its audio job has not finished
	SoundReady
	SoundNone   // the file has no audio stream
	SoundFailed // the audio job failed
)

// Config is what a Service needs.
type Config struct {
	Store    Store
	Evidence evidence.Store
	Record   func(context.Context, evidence.Event) (uint64, error)
	// Sound returns an item's sound for alignment.
	Sound func(ctx context.Context, evidenceID string) (Sound, error)
	// Realign asks for the incident's alignment job to run.
	Realign func(ctx context.Context, incidentID string) error
	Logger  *slog.Logger
	Now     func() time.Time
}

// Service changes incidents and logs every change.
type Service struct{ cfg Config }

// NewService returns a Service.
func NewService(cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{cfg}
}

// Get returns an incident with its staff and officers.
func (s *Service) Get(ctx context.Context, id string) (Incident, error) {
	return s.cfg.Store.Get(ctx, id)
}

// Mine lists the incidents a staff member is assigned to or that were
// opened in their unit.
func (s *Service) Mine(ctx context.Context, userID, unit string) ([]Incident, error) {
	return s.cfg.Store.Mine(ctx, userID, unit)
}

// record logs an incident event, about an item when it is not nil.
func (s *Service) record(ctx context.Context, inc string, it *evidence.Item, by Actor, details map[string]string) error {
	return s.recordWords(ctx, inc, it, by, details, nil)
}

// recordWords logs an incident event with words (a title, a badge): sealed
// in the database, never in the public log.
func (s *Service) recordWords(ctx context.Context, inc string, it *evidence.Item, by Actor, details, words map[string]string) error {
	e := evidence.Event{Type: evidence.IncidentEvent, Incident: inc, Actor: by.ID, At: evidence.EventTime(s.cfg.Now()), Details: details, Words: words}
	if by.Role != "" {
		details["role"] = by.Role
	}
	if it != nil {
		e.Evidence = &evidence.EventSubject{ID: it.ID, SHA256: it.SHA256}
	}
	_, err := s.cfg.Record(ctx, e)
	return err
}

// MaxTitle bounds an incident's title, in characters.
const MaxTitle = 200

// Create opens an incident; who opens it is assigned to it.
func (s *Service) Create(ctx context.Context, by Actor, title string) (Incident, error) {
	title = strings.TrimSpace(title)
	if title == "" || utf8.RuneCountInString(title) > MaxTitle || !utf8.ValidString(title) || strings.ContainsFunc(title, isControl) {
		return Incident{}, fmt.Errorf("%w: a title of 1 to %d characters, without control characters", ErrInvalid, MaxTitle)
	}
	inc := Incident{ID: NewID(), Title: title, Unit: by.Unit, CreatedBy: by.User, CreatedAt: s.cfg.Now().UTC(), Staff: []string{by.User}}
	if err := s.cfg.Store.Create(ctx, inc); err != nil {
		return inc, err
	}
	return inc, s.recordWords(ctx, inc.ID, nil, by, map[string]string{"action": "created"}, map[string]string{"title": title})
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// AddClip adds an item to an incident and asks for alignment.
func (s *Service) AddClip(ctx context.Context, by Actor, inc string, it evidence.Item) error {
	return s.addClip(ctx, by, inc, it, "added")
}

func (s *Service) addClip(ctx context.Context, by Actor, inc string, it evidence.Item, how string) error {
	c := Clip{Incident: inc, Evidence: it.ID, AddedBy: by.User, AddedAt: s.cfg.Now().UTC(), Status: Pending}
	if err := s.cfg.Store.AddClip(ctx, c); err != nil {
		return err
	}
	if err := s.record(ctx, inc, &it, by, map[string]string{"action": "clip-" + how}); err != nil {
		return err
	}
	return s.cfg.Realign(ctx, inc)
}

// RemoveClip takes an item out of an incident.
func (s *Service) RemoveClip(ctx context.Context, by Actor, inc string, it evidence.Item) error {
	if err := s.cfg.Store.RemoveClip(ctx, inc, it.ID); err != nil {
		return err
	}
	if err := s.record(ctx, inc, &it, by, map[string]string{"action": "clip-removed"}); err != nil {
		return err
	}
	return s.cfg.Realign(ctx, inc)
}

// NameOfficer records an officer as involved in the incident: they lose
// access to every clip of it.
func (s *Service) NameOfficer(ctx context.Context, by Actor, inc, badge string) error {
	badge = strings.TrimSpace(badge)
	if badge == "" || len(badge) > 32 || strings.ContainsFunc(badge, isControl) {
		return fmt.Errorf("%w: a badge number of 1 to 32 characters", ErrInvalid)
	}
	if err := s.cfg.Store.AddOfficer(ctx, inc, badge); err != nil {
		return err
	}
	return s.recordWords(ctx, inc, nil, by, map[string]string{"action": "officer-named"}, map[string]string{"badge": badge})
}

// Assign adds a staff member to the incident.
func (s *Service) Assign(ctx context.Context, by Actor, inc, userID, actorID string) error {
	if err := s.cfg.Store.AddStaff(ctx, inc, userID); err != nil {
		return err
	}
	return s.record(ctx, inc, nil, by, map[string]string{"action": "staff-assigned", "staff": actorID})
}

// Decide accepts (adding the clip) or rejects a suggested clip.
func (s *Service) Decide(ctx context.Context, by Actor, inc string, it evidence.Item, accept bool) error {
	if err := s.cfg.Store.Decide(ctx, inc, it.ID, accept, by.User, s.cfg.Now().UTC()); err != nil {
		return err
	}
	if !accept {
		return s.record(ctx, inc, &it, by, map[string]string{"action": "suggestion-rejected"})
	}
	err := s.addClip(ctx, by, inc, it, "accepted")
	if errors.Is(err, ErrExists) {
		return nil
	}
	return err
}

// MaxNudge bounds how far one nudge moves a clip, in seconds.
const MaxNudge = 24 * 3600.0

// Nudge moves a clip on the incident clock by delta seconds (0 confirms
// its offset as it is); the offset is then the reviewer's.
func (s *Service) Nudge(ctx context.Context, by Actor, inc string, it evidence.Item, delta float64) error {
	if math.IsNaN(delta) || math.Abs(delta) > MaxNudge {
		return fmt.Errorf("%w: a nudge of at most %g seconds", ErrInvalid, MaxNudge)
	}
	clips, err := s.cfg.Store.Clips(ctx, inc)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(clips, func(c Clip) bool { return c.Evidence == it.ID })
	if i < 0 {
		return ErrNotFound
	}
	c := clips[i]
	if !c.Placed() {
		return fmt.Errorf("%w: the clip is not aligned yet", ErrInvalid)
	}
	before, method := c.Offset, c.Method
	c.Offset += delta
	c.Method, c.Status, c.ConfirmedBy, c.ConfirmedAt = ByHand, Confirmed, by.User, s.cfg.Now().UTC()
	if delta != 0 {
		c.Detail = fmt.Sprintf("moved %+.3f s by a reviewer from %s placement", delta, method)
	} else {
		c.Detail = fmt.Sprintf("%s placement confirmed by a reviewer", method)
	}
	if err := s.cfg.Store.SetPlace(ctx, c); err != nil {
		return err
	}
	action := "offset-nudged"
	if delta == 0 {
		action = "offset-confirmed"
	}
	return s.record(ctx, inc, &it, by, map[string]string{"action": action, "offset_s": seconds(c.Offset),
		"previous_offset_s": seconds(before), "previous_method": string(method)})
}

func seconds(x float64) string { return strconv.FormatFloat(x, 'f', 4, 64) }

// TimelineClip is a clip as the timeline shows it.
type TimelineClip struct {
	Evidence    string          `json:"evidence_id"`
	Source      evidence.Source `json:"source"`
	Label       string          `json:"label"`
	Offset      float64         `json:"offset_s"` // on the incident clock; the earliest placed clip starts at 0
	Duration    float64         `json:"duration_s"`
	Method      Method          `json:"method"`
	Confidence  float64         `json:"confidence"`
	Status      Status          `json:"status"`
	Drift       float64         `json:"drift_ppm"`
	Detail      string          `json:"detail,omitempty"`
	ConfirmedBy string          `json:"confirmed_by,omitempty"`
	ConfirmedAt *time.Time      `json:"confirmed_at,omitempty"`
	HasVideo    bool            `json:"has_video"`
	// By says who filmed it: "a civilian", or the unit, device and badge
	// a police camera's token names.
	By string `json:"by"`
	// Start is the wall-clock time of the clip's first moment: on the
	// incident's clock when that has a wall-clock time, else by the
	// clip's own clock, else when it arrived.
	Start time.Time `json:"start"`
}

// Timeline is an incident's clips on its clock.
type Timeline struct {
	Incident Incident       `json:"incident"`
	Clips    []TimelineClip `json:"clips"`
	// Start is the wall-clock time of the incident clock's 0, when a
	// clip's capture time gives it.
	Start *time.Time `json:"start,omitempty"`
}

// Timeline returns the incident's clips on its clock, shifted so that the
// earliest placed clip starts at 0. Pending clips are at 0 until placed.
func (s *Service) Timeline(ctx context.Context, id string) (Timeline, error) {
	inc, err := s.cfg.Store.Get(ctx, id)
	if err != nil {
		return Timeline{}, err
	}
	clips, err := s.cfg.Store.Clips(ctx, id)
	if err != nil {
		return Timeline{}, err
	}
	shift := math.Inf(1)
	for _, c := range clips {
		if c.Placed() {
			shift = min(shift, c.Offset)
		}
	}
	if math.IsInf(shift, 1) {
		shift = 0
	}
	t := Timeline{Incident: inc, Clips: []TimelineClip{}}
	for _, c := range clips {
		it, err := s.cfg.Evidence.Get(ctx, c.Evidence)
		if err != nil {
			return t, err
		}
		tc := TimelineClip{Evidence: c.Evidence, Source: it.Source, Label: label(it), Method: c.Method, Confidence: c.Confidence,
			Status: c.Status, Drift: c.Drift, Detail: c.Detail, ConfirmedBy: c.ConfirmedBy, HasVideo: it.Video != nil, By: filmedBy(it),
			Start: it.ReceivedAt.UTC()}
		if it.CapturedAt != nil {
			tc.Start = it.CapturedAt.UTC()
		}
		if it.DurationS != nil {
			tc.Duration = *it.DurationS
		}
		if c.Placed() {
			tc.Offset = c.Offset - shift
			if it.CapturedAt != nil && t.Start == nil && c.Method != ByHand {
				start := it.CapturedAt.Add(-time.Duration(tc.Offset * float64(time.Second))).UTC()
				t.Start = &start
			}
		}
		if !c.ConfirmedAt.IsZero() {
			at := c.ConfirmedAt
			tc.ConfirmedAt = &at
		}
		t.Clips = append(t.Clips, tc)
	}
	if t.Start != nil {
		for i, c := range t.Clips {
			if c.Status != Pending {
				t.Clips[i].Start = t.Start.Add(time.Duration(c.Offset * float64(time.Second)))
			}
		}
	}
	return t, nil
}

// filmedBy says who filmed an item.
func filmedBy(it evidence.Item) string {
	if it.Uploader.Token == "" {
		return "a civilian"
	}
	by := strings.TrimSpace(it.Uploader.Unit + " " + it.Uploader.Device)
	if it.Uploader.Badge != "" {
		by += ", badge " + it.Uploader.Badge
	}
	return by
}

// label names a clip's camera for its lane: its source and device; a
// fixed camera's export by its channel (the device given) or file name,
// since a shop's cameras are told apart by those.
func label(it evidence.Item) string {
	l := string(it.Source)
	switch {
	case it.Source == evidence.Surveillance && it.Device == "" && it.Filename != "":
		l += " " + it.Filename
	case it.Uploader.Device != "":
		l += " " + it.Uploader.Device
	case it.Device != "":
		l += " " + it.Device
	case it.Camera != nil && it.Camera.Model != "":
		l += " " + it.Camera.Model
	}
	return l
}

// Items lists the evidence ids of an incident's clips, in the order they
// were added.
func (s *Service) Items(ctx context.Context, id string) ([]string, error) {
	clips, err := s.cfg.Store.Clips(ctx, id)
	ids := make([]string, len(clips))
	for i, c := range clips {
		ids[i] = c.Evidence
	}
	return ids, err
}
