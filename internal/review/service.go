package review

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sightline/sightline/internal/evidence"
)

// Config is what a Service needs.
type Config struct {
	Store   Store
	Log     evidence.OnceLog
	Custody evidence.CustodyIndex
	// CodeTTL is how long a share code may be claimed. Default 30 minutes.
	CodeTTL time.Duration
	Now     func() time.Time
}

// Service issues and claims share codes and takes reviews.
type Service struct{ cfg Config }

// NewService returns a Service.
func NewService(cfg Config) *Service {
	if cfg.CodeTTL <= 0 {
		cfg.CodeTTL = 30 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{cfg}
}

// CodeTTL is how long a code may be claimed.
func (s *Service) CodeTTL() time.Duration { return s.cfg.CodeTTL }

// IssueCode makes a new code for an item and returns it with its expiry.
func (s *Service) IssueCode(ctx context.Context, evidenceID string) (string, time.Time, error) {
	now := s.cfg.Now().UTC()
	for range 5 { // a collision with a live code is unlikely; retry if so
		code := NewCode()
		digits, _ := NormalizeCode(code)
		c := Code{Evidence: evidenceID, CreatedAt: now, ExpiresAt: now.Add(s.cfg.CodeTTL)}
		err := s.cfg.Store.AddCode(ctx, CodeDigest(digits), c)
		if err == nil {
			return code, c.ExpiresAt, nil
		}
		if !errors.Is(err, ErrExists) {
			return "", time.Time{}, err
		}
	}
	return "", time.Time{}, errors.New("review: no free share code after 5 tries")
}

// ClaimCode lets userID see the item of code, unless the code is unknown
// (ErrNoCode), expired before they claimed it (ErrExpired) or claimed by
// another supervisor (ErrClaimed). It returns the item's id whenever the
// code names one, so that a refusal is logged about it. Claiming one's
// own code again is allowed.
func (s *Service) ClaimCode(ctx context.Context, code, userID string) (string, error) {
	digits, ok := NormalizeCode(code)
	if !ok {
		return "", ErrNoCode
	}
	c, err := s.cfg.Store.ClaimCode(ctx, CodeDigest(digits), userID, s.cfg.Now().UTC())
	switch {
	case errors.Is(err, ErrNotFound):
		return "", ErrNoCode
	case err != nil:
		return "", err
	case c.ClaimedBy == userID:
		return c.Evidence, nil
	case c.ClaimedBy == "":
		return c.Evidence, ErrExpired
	default:
		return c.Evidence, ErrClaimed
	}
}

// Author is the supervisor who signs a review.
type Author struct {
	Actor string // "user:u_…"
	Name  string
	Badge string
	Unit  string
}

// Submit writes a review of it, logs it and returns it. The review is
// stored before it is logged, and logged exactly once (Finish completes
// one a crash interrupted). A correction must name a review of the same
// item.
func (s *Service) Submit(ctx context.Context, it evidence.Item, by Author, in Input) (Record, error) {
	if err := in.Check(); err != nil {
		return Record{}, err
	}
	if in.Corrects != "" {
		prev, err := s.cfg.Store.Get(ctx, in.Corrects)
		if errors.Is(err, ErrNotFound) || err == nil && prev.Evidence != it.ID {
			return Record{}, fmt.Errorf("%w: corrects: no review %q of this item", ErrInvalid, in.Corrects)
		}
		if err != nil {
			return Record{}, err
		}
	}
	r := Review{
		ID: NewID(), Evidence: it.ID, EvidenceSHA256: it.SHA256.String(),
		Author: by.Actor, AuthorName: by.Name, AuthorBadge: by.Badge, AuthorUnit: by.Unit,
		At: evidence.EventTime(s.cfg.Now()), Seen: in.Seen, Outcome: in.Outcome, Notes: in.Notes,
		Attached: append([]string{}, in.Attached...), Corrects: in.Corrects,
	}
	from, err := s.cfg.Log.NextIndex(ctx)
	if err != nil {
		return Record{}, err
	}
	rec := Record{Review: r, Document: string(r.Document()), LogFrom: from}
	if err := s.cfg.Store.AddReview(ctx, rec); err != nil {
		return Record{}, err
	}
	return s.log(ctx, rec, false)
}

// Event is the custody event of a review: about the footage, by its
// author, at its time, naming the review and its document's SHA-256
// (the public log carries no words of it).
func Event(rec Record) evidence.Event {
	subject := evidence.EventSubject{ID: rec.Evidence}
	_ = subject.SHA256.UnmarshalText([]byte(rec.EvidenceSHA256)) // written from the item's Ref
	details := map[string]string{"review": rec.ID, "document_sha256": DocumentSHA256([]byte(rec.Document))}
	if rec.Corrects != "" {
		details["corrects"] = rec.Corrects
	}
	return evidence.Event{Type: evidence.Reviewed, Evidence: &subject, Actor: rec.Author, At: rec.At, Details: details}
}

func (s *Service) log(ctx context.Context, rec Record, retry bool) (Record, error) {
	index, err := evidence.RecordOnce(ctx, s.cfg.Log, s.cfg.Custody, Event(rec), rec.LogFrom, retry)
	if err != nil {
		return rec, err
	}
	if err := s.cfg.Store.SetLogged(ctx, rec.ID, index); err != nil {
		return rec, err
	}
	rec.LogIndex = &index
	return rec, nil
}

// Finish logs the reviews a crash left stored but not logged.
func (s *Service) Finish(ctx context.Context) error {
	recs, err := s.cfg.Store.Unlogged(ctx)
	if err != nil {
		return err
	}
	for _, rec := range recs {
		if _, err := s.log(ctx, rec, true); err != nil {
			return err
		}
	}
	return nil
}

// Referred records the incident a review's referral opened.
func (s *Service) Referred(ctx context.Context, id, incident string) error {
	return s.cfg.Store.SetIncident(ctx, id, incident)
}

// Get returns one review.
func (s *Service) Get(ctx context.Context, id string) (Record, error) {
	return s.cfg.Store.Get(ctx, id)
}

// ForEvidence lists an item's reviews, oldest first.
func (s *Service) ForEvidence(ctx context.Context, evidenceID string) ([]Record, error) {
	return s.cfg.Store.ForEvidence(ctx, evidenceID)
}
