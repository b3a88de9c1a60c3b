package ingest

import (
	"context"
	"errors"
	"maps"
	"strconv"
	"sync"
	"time"

	tusd "github.com/tus/tusd/v2/pkg/handler"

	"github.com/sightline/sightline/internal/blob"
	"github.com/sightline/sightline/internal/evidence"
)

// A stream is an upload created without a length (tus's deferred length):
// a recording sent while it is being made, as the capture page does. The
// phone that sends it may be taken or broken at any moment, so
//
//   - while it grows, a "partial" event is logged at least every
//     PartialEvery with the SHA-256 and byte count of what has arrived: the
//     log proves the footage existed, and when, before it was finished;
//   - if its sender falls silent for PartialAfter, the server finalizes it
//     as evidence marked partial, whose receipt proves every byte that
//     arrived.
//
// Bytes counted by a partial event are durable: the sweeper reads the
// upload's saved state, which is written only after its data is fsynced.

// streamSet is the set of streams not yet evidence, kept in memory: a
// stream joins it when it is created or loaded (Recover loads every
// upload at start-up) and leaves it when it is finished or terminated.
// For each it keeps what the sweeper needs to decide without reading the
// stream's state file: the offset and time of its last save, and how far
// its partial events go. The file is read only when there is something to
// log or a silence to end.
type streamSet struct {
	mu  sync.Mutex
	ids map[string]streamSeen
}

type streamSeen struct {
	offset  int64     // acknowledged bytes at the last save
	updated time.Time // when the stream last saved its state
	covered covered
}

// covered is how far the partial events of one stream go.
type covered struct {
	bytes int64
	at    time.Time
}

// saw records a stream's state as it was saved, adding the stream if new.
func (s *streamSet) saw(id string, offset int64, updated time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ids == nil {
		s.ids = map[string]streamSeen{}
	}
	e := s.ids[id]
	e.offset, e.updated = offset, updated
	s.ids[id] = e
}

func (s *streamSet) remove(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.ids, id)
}

// list returns the streams as last seen.
func (s *streamSet) list() map[string]streamSeen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.ids)
}

// cover records a partial event of a stream still in the set.
func (s *streamSet) cover(id string, c covered) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.ids[id]; ok {
		e.covered = c
		s.ids[id] = e
	}
}

// actor names the sender of u in the custody log: the device token, or a
// pseudonym of the upload's access token.
func (u *upload) actor() string {
	if who := evidence.UploaderOf(u.st.Info.MetaData); who.Token != "" {
		return "device:" + who.Token
	}
	return "uploader:" + evidence.Digest(evidence.AccessToken(u.id()))[:16]
}

// streamTick is how often streams are looked at.
const streamTick = time.Second

// RunStreams logs the partial events of growing streams and finalizes
// silent ones, every second until ctx ends.
func (s *Service) RunStreams(ctx context.Context) {
	every(ctx, streamTick, func() {
		if !s.leading(ctx) {
			return
		}
		if err := s.SweepStreams(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("streamed uploads", "err", err)
		}
	})
}

// leading reports whether this server does the sweeps (streams, expiry):
// the one server of a shared spool that holds the sweeps' lock, taken
// when free and held until ctx ends (or the server dies, when another
// takes it); always, when the spool is this server's own.
func (s *Service) leading(ctx context.Context) bool {
	if s.shared == nil {
		return true
	}
	s.leadMu.Lock()
	defer s.leadMu.Unlock()
	if s.lead != nil {
		return true
	}
	unlock, ok, err := s.shared.Locks.TryLock(ctx, "ingest sweeps")
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("taking the sweeps' lock", "err", err)
		}
		return false
	}
	if !ok {
		return false
	}
	s.lead = unlock
	s.log.Info("this server sweeps the uploads (streams, expiry) of every server")
	// A sweeper that took over knows nothing of the streams: it reads
	// them from the shared spool at every sweep.
	context.AfterFunc(ctx, func() {
		s.leadMu.Lock()
		defer s.leadMu.Unlock()
		s.lead()
		s.lead = nil
	})
	return true
}

// streamsOfAll brings the set of streams up to the shared spool's: the
// streams every server is receiving.
func (s *Service) streamsOfAll(ctx context.Context) error {
	ids, err := s.uploads.spool.ids(ctx)
	if err != nil {
		return err
	}
	live := map[string]bool{}
	for _, id := range ids {
		st, err := s.uploads.readState(ctx, id)
		if err != nil || !st.Stream || st.Evidence != "" {
			continue
		}
		live[id] = true
		s.uploads.streams.saw(id, st.Info.Offset, st.Updated)
	}
	for id := range s.uploads.streams.list() {
		if !live[id] {
			s.uploads.streams.remove(id)
		}
	}
	return nil
}

// SweepStreams looks at every stream once: it logs a partial event for
// one whose bytes have grown past its last partial event (once
// PartialEvery has nearly passed since, so that events come at least that
// often while it grows), and finalizes one silent for PartialAfter.
func (s *Service) SweepStreams(ctx context.Context) error {
	if s.shared != nil {
		if err := s.streamsOfAll(ctx); err != nil {
			return err
		}
	}
	var errs []error
	now := s.now()
	for id, seen := range s.uploads.streams.list() {
		last := seen.covered
		silent := now.Sub(seen.updated) >= s.partialAfter
		due := seen.offset > last.bytes && (silent || now.Sub(last.at) >= s.partialEvery-streamTick)
		if !silent && !due {
			continue // an idle or recently logged stream: nothing to read
		}
		st, err := s.uploads.readState(ctx, id)
		if errors.Is(err, tusd.ErrNotFound) {
			s.uploads.streams.remove(id)
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if st.Evidence != "" {
			s.uploads.streams.remove(id)
			continue
		}
		silent = now.Sub(st.Updated) >= s.partialAfter
		if st.Info.Offset > last.bytes && (silent || now.Sub(last.at) >= s.partialEvery-streamTick) {
			if err := s.logPartial(ctx, &upload{s: s.uploads, st: st}); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		if silent {
			if err := s.finalize(ctx, id); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// logPartial logs that the first Offset bytes of stream u, with their
// SHA-256, have arrived.
func (s *Service) logPartial(ctx context.Context, u *upload) error {
	sum, err := u.sum()
	if err != nil {
		return err
	}
	e := evidence.Event{
		Type:     evidence.Partial,
		Evidence: &evidence.EventSubject{ID: u.st.EvidenceID, SHA256: blob.Ref(sum)},
		Actor:    u.actor(),
		At:       evidence.EventTime(s.now()),
		Details:  map[string]string{"size": strconv.FormatInt(u.st.Info.Offset, 10)},
	}
	if _, err := (evidence.Recorder{Log: s.custody, Index: s.index}).Record(ctx, e); err != nil {
		return err
	}
	s.uploads.streams.cover(u.id(), covered{u.st.Info.Offset, s.now()})
	return nil
}

// finalize makes a silent stream evidence marked partial, its length what
// arrived. A stream that brought nothing recognisable is discarded.
func (s *Service) finalize(ctx context.Context, id string) error {
	unlock, ok, err := s.lockSilent(ctx, id)
	if err != nil || !ok {
		return err
	}
	defer unlock()
	u, err := s.uploads.load(ctx, id)
	if err != nil || u.st.Evidence != "" || s.now().Sub(u.st.Updated) < s.partialAfter {
		return err
	}
	if u.st.Info.Offset == 0 {
		return u.Terminate(ctx)
	}
	u.st.Partial = true
	u.st.Info.Size, u.st.Info.SizeIsDeferred = u.st.Info.Offset, false
	if err := u.save(ctx); err != nil {
		return err
	}
	err = u.FinishUpload(ctx)
	if errors.Is(err, errUnsupportedMedia) {
		s.log.Info("silent stream discarded: not media", "upload", evidence.Digest(id)[:16], "bytes", u.st.Info.Offset)
		return nil
	}
	if err == nil {
		s.log.Info("silent stream kept as partial evidence", "evidence", u.st.Evidence, "bytes", u.st.Info.Offset)
	}
	return err
}
