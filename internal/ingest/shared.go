package ingest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	tusd "github.com/tus/tusd/v2/pkg/handler"
	"github.com/tus/tusd/v2/pkg/memorylocker"
)

// Shared is where servers that continue each other's uploads keep them
// (Config.Shared): any of them takes the next PATCH of any upload.
type Shared struct {
	// States keeps each upload's state.
	States States
	// Bytes keeps the uploads' bytes: whole parts of PartSize, then the
	// rest, as objects of their own (blob.S3's scratch objects).
	Bytes Bucket
	// Locks are held across servers: one upload's lock, and the sweeps'.
	Locks Locks
	// Tmp is a folder for the files the tools read (ffprobe, a lookup):
	// an upload's bytes are gathered there once it is complete.
	Tmp string
	// PartSize is the size of each whole part (8 MiB if zero): a request
	// holds at most this much more than its buffers in memory.
	PartSize int64
}

// States keeps the states of uploads in progress where every server sees
// them (db.DB.Uploads).
type States interface {
	// Create adds an upload; ErrExists if its id is taken.
	Create(ctx context.Context, id string, state []byte) error
	// Get returns an upload's state; ErrNoUpload if there is none.
	Get(ctx context.Context, id string) ([]byte, error)
	// Put replaces an upload's state; ErrNoUpload if there is none.
	Put(ctx context.Context, id string, state []byte) error
	// Delete removes an upload's state.
	Delete(ctx context.Context, id string) error
	// IDs lists the uploads.
	IDs(ctx context.Context) ([]string, error)
}

// Bucket keeps objects by key, written whole (blob.S3's scratch objects).
type Bucket interface {
	PutScratch(ctx context.Context, key string, b []byte) error
	OpenScratch(ctx context.Context, key string) (io.ReadCloser, error)
	DeleteScratch(ctx context.Context, prefix string) error
	ListScratch(ctx context.Context, prefix string) ([]string, error)
}

// Locks are locks every server shares (db.DB.Locks). A server that dies
// loses the locks it held.
type Locks interface {
	// Lock takes the lock of name, waiting until ctx ends; the function
	// returned releases it.
	Lock(ctx context.Context, name string) (func(), error)
	// TryLock takes the lock of name if it is free.
	TryLock(ctx context.Context, name string) (func(), bool, error)
}

var (
	// ErrExists says an upload's id is taken.
	ErrExists = errors.New("the upload exists")
	// ErrNoUpload says there is no upload of that id.
	ErrNoUpload = errors.New("no such upload")
)

// storeTimeout bounds each write to the database or the bucket that
// acknowledges bytes: it goes on after the client has gone (what arrived
// is kept), but not for ever.
const storeTimeout = 2 * time.Minute

// sharedSpool keeps uploads in a Shared store. The bytes of an upload are
// objects under uploads/<id>/ in the bucket, each written once under a
// name no other write uses (a random suffix), and the state names those
// that hold its acknowledged bytes: a write cut short, or made by a
// server that lost its lock, leaves objects no state names, removed when
// the upload ends.
type sharedSpool struct {
	*Shared
}

func newSharedSpool(sh *Shared) sharedSpool {
	if sh.PartSize <= 0 {
		sh.PartSize = 8 << 20
	}
	return sharedSpool{sh}
}

// objectKey names a new object of upload id.
func objectKey(id, kind string, n int64) string {
	var b [6]byte
	rand.Read(b[:])
	return fmt.Sprintf("uploads/%s/%s-%012d-%s", id, kind, n, hex.EncodeToString(b[:]))
}

func (s sharedSpool) create(ctx context.Context, st *uploadState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return s.States.Create(ctx, st.Info.ID, b)
}

func (s sharedSpool) read(ctx context.Context, id string) (uploadState, error) {
	b, err := s.States.Get(ctx, id)
	if errors.Is(err, ErrNoUpload) {
		err = tusd.ErrNotFound
	}
	return decodeState(id, b, err)
}

// prepare has nothing to drop: bytes past the offset are in objects the
// state does not name.
func (sharedSpool) prepare(context.Context, *uploadState) error { return nil }

func (s sharedSpool) save(ctx context.Context, st *uploadState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	if err := s.States.Put(ctx, st.Info.ID, b); err != nil {
		return err
	}
	// The tail the state named before is no longer anyone's.
	if st.staleTail != "" {
		s.Bytes.DeleteScratch(ctx, st.staleTail)
		st.staleTail = ""
	}
	return nil
}

func (s sharedSpool) drop(ctx context.Context, id string) error {
	return s.Bytes.DeleteScratch(context.WithoutCancel(ctx), "uploads/"+id+"/")
}

func (s sharedSpool) remove(ctx context.Context, id string) error {
	if err := s.States.Delete(ctx, id); err != nil {
		return err
	}
	return s.drop(ctx, id)
}

func (s sharedSpool) ids(ctx context.Context) ([]string, error) { return s.States.IDs(ctx) }

// objects reads the acknowledged bytes in order.
func (s sharedSpool) objects(ctx context.Context, st *uploadState) io.ReadCloser {
	keys := append(append([]string{}, st.Parts...), st.Tail)
	if st.Tail == "" {
		keys = keys[:len(keys)-1]
	}
	pr, pw := io.Pipe()
	go func() {
		for _, k := range keys {
			r, err := s.Bytes.OpenScratch(ctx, k)
			if err == nil {
				_, err = io.Copy(pw, r)
				r.Close()
			}
			if err != nil {
				pw.CloseWithError(fmt.Errorf("ingest: upload %s: %w", st.Info.ID, err))
				return
			}
		}
		pw.Close()
	}()
	return pr
}

func (s sharedSpool) head(ctx context.Context, st *uploadState, n int64) ([]byte, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r := s.objects(ctx, st)
	defer r.Close()
	b := make([]byte, n)
	_, err := io.ReadFull(r, b)
	return b, err
}

// file gathers the acknowledged bytes into a file of their own in Tmp,
// and checks there are as many as acknowledged.
func (s sharedSpool) file(ctx context.Context, st *uploadState) (string, func(), error) {
	if err := os.MkdirAll(s.Tmp, 0o700); err != nil {
		return "", nil, err
	}
	f, err := os.CreateTemp(s.Tmp, "upload-*")
	if err != nil {
		return "", nil, err
	}
	done := func() { os.Remove(f.Name()) }
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r := s.objects(ctx, st)
	n, err := io.Copy(f, r)
	r.Close()
	if err == nil && n != st.Info.Offset {
		err = fmt.Errorf("ingest: upload %s: %d bytes kept, %d acknowledged", st.Info.ID, n, st.Info.Offset)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		done()
		return "", nil, err
	}
	return f.Name(), done, nil
}

func (s sharedSpool) sink(ctx context.Context, st *uploadState) (sink, error) {
	k := &sharedSink{sp: s, ctx: context.WithoutCancel(ctx), id: st.Info.ID, parts: append([]string{}, st.Parts...),
		base: int64(len(st.Parts)) * s.PartSize}
	if st.Tail != "" {
		r, err := s.Bytes.OpenScratch(ctx, st.Tail)
		if err != nil {
			return nil, err
		}
		k.buf, err = io.ReadAll(io.LimitReader(r, s.PartSize+1))
		r.Close()
		if err != nil {
			return nil, err
		}
	}
	if got := k.base + int64(len(k.buf)); got != st.Info.Offset {
		return nil, fmt.Errorf("ingest: upload %s: %d bytes kept, %d acknowledged", st.Info.ID, got, st.Info.Offset)
	}
	return k, nil
}

// clean removes the files a crash left in Tmp while it gathered an
// upload's bytes (file).
func (s sharedSpool) clean(context.Context) error {
	ents, err := os.ReadDir(s.Tmp)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "upload-") {
			if err := os.Remove(filepath.Join(s.Tmp, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// contents names what the spool holds as a folder spool would: <id>.json
// for each state, <id>.bin for each upload some of whose bytes are in the
// bucket.
func (s sharedSpool) contents(ctx context.Context) ([]string, error) {
	ids, err := s.ids(ctx)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, id := range ids {
		names = append(names, id+".json")
	}
	keys, err := s.Bytes.ListScratch(ctx, "uploads/")
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, k := range keys {
		if id, _, ok := strings.Cut(strings.TrimPrefix(k, "uploads/"), "/"); ok && !seen[id] {
			seen[id] = true
			names = append(names, id+".bin")
		}
	}
	slices.Sort(names)
	return names, nil
}

// sharedSink gathers a request's bytes into whole parts, each written to
// the bucket once full; sync writes the rest as the tail.
type sharedSink struct {
	sp    sharedSpool
	ctx   context.Context // the request's, going on after the client left
	id    string
	parts []string // the whole parts, those of the saved state first
	base  int64    // bytes in the whole parts
	buf   []byte   // the bytes after them
}

func (k *sharedSink) write(p []byte) error {
	k.buf = append(k.buf, p...)
	for int64(len(k.buf)) >= k.sp.PartSize {
		key := objectKey(k.id, "part", int64(len(k.parts)))
		ctx, cancel := context.WithTimeout(k.ctx, storeTimeout)
		err := k.sp.Bytes.PutScratch(ctx, key, k.buf[:k.sp.PartSize])
		cancel()
		if err != nil {
			return err
		}
		k.parts = append(k.parts, key)
		k.base += k.sp.PartSize
		k.buf = bytes.Clone(k.buf[k.sp.PartSize:])
	}
	return nil
}

func (k *sharedSink) sync(_ context.Context, st *uploadState) error {
	tail := ""
	if len(k.buf) > 0 {
		tail = objectKey(k.id, "tail", k.base+int64(len(k.buf)))
		ctx, cancel := context.WithTimeout(k.ctx, storeTimeout)
		err := k.sp.Bytes.PutScratch(ctx, tail, k.buf)
		cancel()
		if err != nil {
			return err
		}
	}
	if st.Tail != "" && st.Tail != tail {
		st.staleTail = st.Tail
	}
	st.Parts, st.Tail = append([]string{}, k.parts...), tail
	return nil
}

// discard has nothing to undo: objects written since the state was saved
// are named by no state.
func (k *sharedSink) discard(context.Context, *uploadState) error { return nil }

func (k *sharedSink) close() error { return nil }

// sharedLocker is tusd's Locker for uploads any server may continue: an
// upload's lock is this server's in-memory lock (so that a request here
// that wants it can ask the holder here to let go) and then the lock
// every server shares.
type sharedLocker struct {
	local *memorylocker.MemoryLocker
	locks Locks
}

func (l sharedLocker) NewLock(id string) (tusd.Lock, error) {
	local, err := l.local.NewLock(id)
	if err != nil {
		return nil, err
	}
	return &sharedLock{local: local, locks: l.locks, id: id}, nil
}

type sharedLock struct {
	local  tusd.Lock
	locks  Locks
	id     string
	unlock func()
}

func (l *sharedLock) Lock(ctx context.Context, requestRelease func()) error {
	if err := l.local.Lock(ctx, requestRelease); err != nil {
		return err
	}
	unlock, err := l.locks.Lock(ctx, "upload "+l.id)
	if err != nil {
		l.local.Unlock()
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return tusd.ErrLockTimeout
		}
		return err
	}
	l.unlock = unlock
	return nil
}

func (l *sharedLock) Unlock() error {
	if l.unlock != nil {
		l.unlock()
		l.unlock = nil
	}
	return l.local.Unlock()
}
