// Package ledger is Sightline's custody log: an append-only Merkle log
// (RFC 6962 hashing) of every event that happens to evidence, with signed
// checkpoints in the C2SP signed-note and tlog-checkpoint formats, stored as
// C2SP tlog-tiles so that anyone can fetch and check it with the log's
// public key alone.
//
// It is built on transparency-dev/tessera, with its POSIX driver in a
// folder for one server (Folder) or its storage/aws driver, tiles in a
// bucket and sequencing in a MySQL-compatible database, for several
// servers appending at once (Shared). Append returns once the event is
// durably sequenced (tessera fsyncs the entry bundles and the tree state,
// or commits them to the database, before it answers); a signed
// checkpoint covering it follows within the checkpoint interval.
//
// Receipts prove an entry's inclusion in a signed checkpoint; Refresh
// brings one up to the latest checkpoint with consistency proofs from each
// it held. The log keeps a history of its checkpoints (see History) so
// that an audit can show each is consistent with the next.
package ledger

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/api/layout"
	"github.com/transparency-dev/tessera/client"
	"golang.org/x/mod/sumdb/note"

	"github.com/sightline/sightline/internal/durable"
	"github.com/sightline/sightline/verify"
)

// Config says where a log lives and how it signs.
type Config struct {
	// Storage holds the tiles (served at /log/) and the log's state.
	Storage Storage
	// KeyFile holds the log's Ed25519 signing key in note format; it is
	// created, mode 0600, if missing, unless Key is set.
	KeyFile string
	// Key is the signing key itself (from an environment variable that
	// replicas share), used instead of KeyFile.
	Key string
	// Origin names the log in its checkpoints, such as
	// "sightline.example.org/log". Required when the key is created; an
	// existing key's origin must match.
	Origin string
	// CheckpointInterval bounds how long after an event is acknowledged a
	// published checkpoint covers it. Default 1 s; at least 200 ms.
	//
	// Tessera signs a checkpoint at most once per its own interval, and an
	// event integrated just after one waits for a timer of a whole
	// interval, so an event can wait up to twice tessera's interval:
	// tessera is given half of this one (but at least a second when the
	// log is Shared: tessera's storage/aws publishes no more often).
	CheckpointInterval time.Duration
	// BatchMaxAge is how long an event may wait for others to be sequenced
	// with it: every batch costs a few fsyncs, so batches must grow while
	// the one before is written. Default 10 ms; a batch is written at once
	// when it holds 256 events.
	BatchMaxAge time.Duration
	// History keeps published checkpoints (see History); none are kept
	// if nil.
	History HistoryStore
	// HistoryEvery is the least time between two checkpoints kept in the
	// history, other than those kept because the log opened or a receipt
	// was handed out. Default 1 minute.
	HistoryEvery time.Duration
	// WitnessPolicy, a C2SP tlog-policy, names the witnesses that must
	// cosign a checkpoint before it is published, with their URLs, and
	// their quorum. A checkpoint the quorum has not cosigned is not
	// published (fail closed); entries are still sequenced and published
	// with the next checkpoint the quorum cosigns. None if empty.
	WitnessPolicy []byte
	// WitnessTimeout bounds the wait for a quorum of cosignatures on one
	// checkpoint. Default 10 s.
	WitnessTimeout time.Duration
	// Logger receives what goes wrong in the background; discarded if nil.
	Logger *slog.Logger
	// Metrics, if set, receives the log's own: how long appends take.
	Metrics prometheus.Registerer
}

// Log is an open custody log.
type Log struct {
	storage  Storage
	origin   string
	verifier note.Verifier
	vkey     string
	appender *tessera.Appender
	reader   tessera.LogReader
	awaiter  *tessera.PublicationAwaiter
	shutdown func(context.Context) error
	cancel   context.CancelFunc
	history  *history // nil if none is kept
	logger   *slog.Logger
	// witnessed is the witness policy, nil if none; waitLimit bounds
	// the wait for a checkpoint a receipt needs when there is one.
	witnessed  *verify.Policy
	waitLimit  time.Duration
	stallAfter time.Duration // entries waiting longer for a checkpoint: stalled
	// grew is when the published checkpoint last grew (watch).
	growMu   sync.Mutex
	grewSize uint64
	grewAt   time.Time
	watched  sync.WaitGroup

	appendSeconds prometheus.Histogram

	// The entry bundle read last: readers that go through the log in
	// order (the start-up reconciliation, the audit) read each once.
	bundleMu sync.Mutex
	bundle   struct {
		n       uint64
		entries [][]byte
	}
}

// Open opens or creates the log. Close it to stop its background work.
func Open(ctx context.Context, cfg Config) (*Log, error) {
	if cfg.CheckpointInterval == 0 {
		cfg.CheckpointInterval = time.Second
	}
	if cfg.CheckpointInterval < 200*time.Millisecond {
		return nil, fmt.Errorf("ledger: checkpoint interval %s is under the least, 200ms", cfg.CheckpointInterval)
	}
	if cfg.BatchMaxAge == 0 {
		cfg.BatchMaxAge = 10 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.HistoryEvery == 0 {
		cfg.HistoryEvery = time.Minute
	}
	skey := strings.TrimSpace(cfg.Key)
	if skey == "" {
		var err error
		if skey, err = loadOrCreateKey(cfg.KeyFile, cfg.Origin); err != nil {
			return nil, err
		}
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		return nil, fmt.Errorf("ledger: signing key: %w", err)
	}
	if cfg.Origin != "" && signer.Name() != cfg.Origin {
		return nil, fmt.Errorf("ledger: the signing key signs for %q, configured origin is %q", signer.Name(), cfg.Origin)
	}
	vkey, err := VerifierKeyFor(skey)
	if err != nil {
		return nil, err
	}
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, err
	}
	if cfg.Storage == nil {
		return nil, errors.New("ledger: no storage")
	}
	cfg.CheckpointInterval = max(cfg.CheckpointInterval, 2*cfg.Storage.minInterval())
	// The log's goroutines live as long as this context, not the caller's.
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	driver, err := cfg.Storage.driver(bg)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("ledger: %s: %w", cfg.Storage, err)
	}
	opts := tessera.NewAppendOptions().
		WithCheckpointSigner(signer).
		WithBatching(256, cfg.BatchMaxAge).
		WithCheckpointInterval(cfg.CheckpointInterval / 2)
	var witnessed *verify.Policy
	if len(cfg.WitnessPolicy) > 0 {
		if witnessed, err = verify.ParsePolicy(cfg.WitnessPolicy); err != nil {
			cancel()
			return nil, fmt.Errorf("ledger: %w", err)
		}
		group, err := tessera.NewWitnessGroupFromPolicy(cfg.WitnessPolicy)
		if err != nil {
			cancel()
			return nil, fmt.Errorf("ledger: witness policy: %w", err)
		}
		if cfg.WitnessTimeout == 0 {
			cfg.WitnessTimeout = 10 * time.Second
		}
		opts = opts.WithWitnesses(group, &tessera.WitnessOptions{Timeout: cfg.WitnessTimeout})
	}
	appender, shutdown, reader, err := tessera.NewAppender(bg, driver, opts)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("ledger: %w", err)
	}
	l := &Log{
		storage: cfg.Storage, origin: signer.Name(), verifier: verifier, vkey: vkey,
		appender: appender, reader: reader, shutdown: shutdown, cancel: cancel, logger: cfg.Logger,
		witnessed: witnessed, waitLimit: 2*cfg.WitnessTimeout + 4*cfg.CheckpointInterval,
		stallAfter: cfg.WitnessTimeout + 2*cfg.CheckpointInterval, grewAt: time.Now(),
		awaiter: tessera.NewPublicationAwaiter(bg, reader.ReadCheckpoint, 20*time.Millisecond),
		appendSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "sightline_log_append_seconds",
			Help:    "Time from handing an entry to the custody log to its durable sequencing.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14), // 1 ms to 8 s
		}),
	}
	if cfg.Metrics != nil {
		if err := cfg.Metrics.Register(l.appendSeconds); err != nil {
			l.Close(ctx)
			return nil, fmt.Errorf("ledger: metrics: %w", err)
		}
	}
	// A new shared log publishes its first checkpoint a moment after it
	// opens (a folder's is written as it is made): wait for it, so that
	// a served log always has one.
	if err := l.awaitFirstCheckpoint(ctx, 10*cfg.CheckpointInterval); err != nil {
		l.Close(ctx)
		return nil, err
	}
	// After a crash, entries may be sequenced that no checkpoint covers
	// yet: wait for one that does, so that every event acknowledged before
	// the crash has its receipt as soon as the log is open again.
	if next, err := reader.NextIndex(ctx); err == nil && next > 0 {
		wctx, wcancel := context.WithTimeout(ctx, 10*cfg.CheckpointInterval)
		_, err = l.AwaitCheckpoint(wctx, next-1)
		wcancel()
		if err != nil {
			l.Close(ctx)
			return nil, fmt.Errorf("ledger: no checkpoint covers the %d entries already logged: %w", next, err)
		}
	}
	if cfg.History != nil {
		l.history = &history{store: cfg.History, every: cfg.HistoryEvery}
		if err := l.keep(ctx, true); err != nil {
			l.Close(ctx)
			return nil, err
		}
		l.watched.Go(func() { l.watch(bg, cfg.CheckpointInterval) })
	}
	return l, nil
}

// awaitFirstCheckpoint waits, at most limit, until the log has published
// a checkpoint.
func (l *Log) awaitFirstCheckpoint(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		_, err := l.reader.ReadCheckpoint(ctx)
		if !errors.Is(err, os.ErrNotExist) {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("ledger: no checkpoint published %s after opening %s", limit, l.storage)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// keep adds the current checkpoint to the history, if there is one.
func (l *Log) keep(ctx context.Context, force bool) error {
	cp, err := l.reader.ReadCheckpoint(ctx)
	if errors.Is(err, os.ErrNotExist) || len(cp) == 0 {
		return nil
	}
	if err != nil {
		return fmt.Errorf("ledger: read checkpoint: %w", err)
	}
	return l.history.record(ctx, cp, force, time.Now())
}

// watch keeps published checkpoints in the history until ctx ends.
func (l *Log) watch(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := l.keep(ctx, false); err != nil && ctx.Err() == nil {
			l.logger.Error("keeping the checkpoint history", "err", err)
		}
		l.noteGrowth(ctx)
	}
}

// Origin is the log's name in its checkpoints.
func (l *Log) Origin() string { return l.origin }

// VerifierKey is the log's public key, in note verifier-key format: all
// anyone needs to check its checkpoints and receipts.
func (l *Log) VerifierKey() string { return l.vkey }

// Tiles reads the log's public resources, to be served at /log/.
func (l *Log) Tiles() Tiles { return l.storage }

// Append adds entry to the log and returns its index once it is durably
// sequenced.
func (l *Log) Append(ctx context.Context, entry []byte) (uint64, error) {
	start := time.Now()
	idx, err := l.appender.Add(ctx, tessera.NewEntry(entry))()
	l.appendSeconds.Observe(time.Since(start).Seconds())
	if err != nil {
		return 0, fmt.Errorf("ledger: append: %w", err)
	}
	return idx.Index, nil
}

// AwaitCheckpoint waits until a published checkpoint covers index and
// returns it.
func (l *Log) AwaitCheckpoint(ctx context.Context, index uint64) ([]byte, error) {
	_, cp, err := l.awaiter.Await(ctx, func() (tessera.Index, error) { return tessera.Index{Index: index}, nil })
	return cp, err
}

// Close waits for sequenced events to be integrated and published, then
// stops the log's background work.
func (l *Log) Close(ctx context.Context) error {
	err := l.shutdown(ctx)
	l.cancel()
	l.watched.Wait()
	if l.history != nil {
		err = errors.Join(err, l.keep(ctx, true))
	}
	return err
}

// loadOrCreateKey reads the note signing key at path, creating one for
// origin if the file does not exist.
func loadOrCreateKey(path, origin string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("ledger: %w", err)
	}
	if origin == "" {
		return "", errors.New("ledger: an origin is needed to create the log's key")
	}
	skey, _, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		return "", err
	}
	if err := durable.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	if err := durable.WriteFile(path, []byte(skey+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("ledger: %w", err)
	}
	return skey, nil
}

// NewKeyFile makes a signing key for the log named origin in a new file
// at path, mode 0600, and returns its verifier key. It refuses a file
// that exists: a log's key is made once.
func NewKeyFile(path, origin string) (string, error) {
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("ledger: %s exists; a log's key is made once", path)
	}
	skey, err := loadOrCreateKey(path, origin)
	if err != nil {
		return "", err
	}
	return VerifierKeyFor(skey)
}

// VerifierKeyFor derives the public verifier key from a note signing key
// ("PRIVATE+KEY+name+hash+base64(alg||key)").
func VerifierKeyFor(skey string) (string, error) {
	parts := strings.SplitN(skey, "+", 5)
	if len(parts) != 5 || parts[0] != "PRIVATE" || parts[1] != "KEY" {
		return "", errors.New("ledger: malformed signing key")
	}
	b, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(b) != 1+ed25519.SeedSize || b[0] != 1 {
		return "", errors.New("ledger: signing key is not an Ed25519 note key")
	}
	pub := ed25519.NewKeyFromSeed(b[1:]).Public().(ed25519.PublicKey)
	return note.NewEd25519VerifierKey(parts[2], pub)
}

// NextIndex is the index the next appended entry will get: the number of
// entries durably sequenced so far.
func (l *Log) NextIndex(ctx context.Context) (uint64, error) {
	return l.reader.NextIndex(ctx)
}

// Find looks for entry among the entries sequenced at or after index from,
// and returns its index. It lets a writer that crashed between appending
// and recording the index learn whether its entry made it in, so that an
// event is logged exactly once.
func (l *Log) Find(ctx context.Context, entry []byte, from uint64) (uint64, bool, error) {
	next, err := l.reader.NextIndex(ctx)
	if err != nil {
		return 0, false, err
	}
	if next == 0 {
		return 0, false, nil
	}
	size, err := l.integrated(ctx, next-1)
	if err != nil {
		return 0, false, err
	}
	for i := from - from%layout.EntryBundleWidth; i < size; i += layout.EntryBundleWidth {
		b, err := client.GetEntryBundle(ctx, l.reader.ReadEntryBundle, i/layout.EntryBundleWidth, size)
		if err != nil {
			return 0, false, fmt.Errorf("ledger: read entries at %d: %w", i, err)
		}
		for j, e := range b.Entries {
			if idx := i + uint64(j); idx >= from && bytes.Equal(e, entry) {
				return idx, true, nil
			}
		}
	}
	return 0, false, nil
}

// integrated returns the size of the tree once it holds the entry at
// index, which must be sequenced. A log in a folder integrates an entry
// as it sequences it; a shared log's servers integrate what any of them
// sequenced a moment later, so a reader waits for a checkpoint covering
// it.
func (l *Log) integrated(ctx context.Context, index uint64) (uint64, error) {
	size, err := l.reader.IntegratedSize(ctx)
	if err != nil || index < size {
		return size, err
	}
	if _, err := l.AwaitCheckpoint(ctx, index); err != nil {
		return 0, fmt.Errorf("ledger: entry %d is not yet in the tree: %w", index, err)
	}
	return l.reader.IntegratedSize(ctx)
}

// VerifierKeyOf reads the signing key file of a log and returns the log's
// public verifier key, without opening the log.
func VerifierKeyOf(keyFile string) (string, error) {
	b, err := os.ReadFile(keyFile)
	if err != nil {
		return "", fmt.Errorf("ledger: %w", err)
	}
	return VerifierKeyFor(strings.TrimSpace(string(b)))
}

// Entry returns the entry at index, which must be sequenced.
func (l *Log) Entry(ctx context.Context, index uint64) ([]byte, error) {
	next, err := l.reader.NextIndex(ctx)
	if err != nil {
		return nil, err
	}
	if index >= next {
		return nil, fmt.Errorf("ledger: no entry %d in a log of %d", index, next)
	}
	size, err := l.integrated(ctx, index)
	if err != nil {
		return nil, err
	}
	n := index / layout.EntryBundleWidth
	l.bundleMu.Lock()
	defer l.bundleMu.Unlock()
	// A bundle read when the log was smaller may lack the entry: read it
	// again then.
	if l.bundle.entries == nil || l.bundle.n != n || index%layout.EntryBundleWidth >= uint64(len(l.bundle.entries)) {
		b, err := client.GetEntryBundle(ctx, l.reader.ReadEntryBundle, n, size)
		if err != nil {
			return nil, fmt.Errorf("ledger: read entry %d: %w", index, err)
		}
		l.bundle.n, l.bundle.entries = n, b.Entries
	}
	i := index % layout.EntryBundleWidth
	if i >= uint64(len(l.bundle.entries)) {
		return nil, fmt.Errorf("ledger: entry bundle for %d is short", index)
	}
	return l.bundle.entries[i], nil
}

// Receipt proves that the entry at index, about the file with the given
// SHA-256 and size, is in the log: it waits for a checkpoint that covers
// the entry (at most a checkpoint interval) and builds the inclusion proof
// from the tiles.
func (l *Log) Receipt(ctx context.Context, index uint64, sha256 string, size int64) (verify.Receipt, error) {
	r, _, err := l.receipt(ctx, index, index+1, sha256, size)
	return r, err
}

// receipt builds a receipt for the entry at index in a checkpoint of at
// least atLeast entries, and returns the proof builder for that checkpoint.
func (l *Log) receipt(ctx context.Context, index, atLeast uint64, sha256 string, size int64) (verify.Receipt, *client.ProofBuilder, error) {
	cpRaw, err := l.awaitWitnessed(ctx, max(index+1, atLeast)-1)
	if err != nil {
		return verify.Receipt{}, nil, err
	}
	cp, err := verify.OpenCheckpoint(cpRaw, l.verifier)
	if err != nil {
		return verify.Receipt{}, nil, fmt.Errorf("ledger: own checkpoint: %w", err)
	}
	if l.history != nil {
		// A checkpoint handed out is one the log must be able to stand by.
		if err := l.history.record(ctx, cpRaw, true, time.Now()); err != nil {
			return verify.Receipt{}, nil, err
		}
	}
	entry, err := l.Entry(ctx, index)
	if err != nil {
		return verify.Receipt{}, nil, err
	}
	pb, err := client.NewProofBuilder(ctx, cp.Size, l.reader.ReadTile)
	if err != nil {
		return verify.Receipt{}, nil, fmt.Errorf("ledger: %w", err)
	}
	hashes, err := pb.InclusionProof(ctx, index)
	if err != nil {
		return verify.Receipt{}, nil, fmt.Errorf("ledger: inclusion proof: %w", err)
	}
	return verify.Receipt{
		Format: verify.Format, SHA256: sha256, Size: size,
		Entry: string(entry), Index: index, InclusionProof: encodeHashes(hashes),
		Checkpoint: string(cpRaw), Origin: l.origin, VerifierKey: l.vkey,
	}, pb, nil
}

// ErrNotOurs says a receipt handed in for refreshing was not issued by
// this log, or does not verify.
var ErrNotOurs = errors.New("not a valid receipt of this log")

// ErrForked says a checkpoint this log signed is not consistent with its
// current tree: its history was rewritten. It should never happen; if it
// does, the log is not to be trusted and its operator must be told.
var ErrForked = errors.New("the log is not consistent with a checkpoint it signed")

// Refresh brings a receipt this log issued up to its latest checkpoint,
// adding the receipt's checkpoint to the earlier ones it carries and
// proving each consistent with the new one: its holder can then show the
// log kept the entry, and never rewrote its history, from the first
// checkpoint to the latest.
func (l *Log) Refresh(ctx context.Context, old verify.Receipt) (verify.Receipt, error) {
	if _, err := verify.Check(old, l.vkey); err != nil {
		return verify.Receipt{}, fmt.Errorf("%w: %w", ErrNotOurs, err)
	}
	// The checkpoints the receipt holds, smallest first.
	type held struct {
		raw string
		cp  verify.Checkpoint
	}
	var hs []held
	var largest uint64
	for _, raw := range append([]string{old.Checkpoint}, earlierCheckpoints(old)...) {
		cp, err := verify.OpenCheckpoint([]byte(raw), l.verifier)
		if err != nil { // verify.Check has checked them all
			return verify.Receipt{}, fmt.Errorf("%w: %w", ErrNotOurs, err)
		}
		hs, largest = append(hs, held{raw, cp}), max(largest, cp.Size)
	}
	slices.SortFunc(hs, func(a, b held) int { return cmp.Compare(a.cp.Size, b.cp.Size) })
	r, pb, err := l.receipt(ctx, old.Index, largest, old.SHA256, old.Size)
	if err != nil {
		return verify.Receipt{}, err
	}
	if r.Entry != old.Entry {
		return verify.Receipt{}, fmt.Errorf("%w: entry %d differs from the receipt's", ErrForked, old.Index)
	}
	now, err := verify.OpenCheckpoint([]byte(r.Checkpoint), l.verifier)
	if err != nil {
		return verify.Receipt{}, err
	}
	for i, h := range hs {
		if h.cp.Size == now.Size && h.cp.Root != now.Root {
			return verify.Receipt{}, fmt.Errorf("%w: two roots for size %d", ErrForked, h.cp.Size)
		}
		if h.cp.Size == now.Size || (i > 0 && h.cp.Size == hs[i-1].cp.Size) {
			continue
		}
		hashes, err := pb.ConsistencyProof(ctx, h.cp.Size, now.Size)
		if err != nil {
			return verify.Receipt{}, fmt.Errorf("ledger: consistency proof: %w", err)
		}
		r.Earlier = append(r.Earlier, verify.Earlier{Checkpoint: h.raw, ConsistencyProof: encodeHashes(hashes)})
	}
	// Proofs built from our own tiles that do not check mean the tiles no
	// longer hash to a root this log once signed.
	if _, err := verify.Check(r, l.vkey); err != nil {
		return verify.Receipt{}, fmt.Errorf("%w: %w", ErrForked, err)
	}
	return r, nil
}

// earlierCheckpoints are the notes of the earlier checkpoints r carries.
func earlierCheckpoints(r verify.Receipt) []string {
	out := make([]string, len(r.Earlier))
	for i, e := range r.Earlier {
		out[i] = e.Checkpoint
	}
	return out
}

func encodeHashes(hashes [][]byte) []string {
	out := make([]string, len(hashes))
	for i, h := range hashes {
		out[i] = base64.StdEncoding.EncodeToString(h)
	}
	return out
}
