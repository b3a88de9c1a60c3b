package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/sightline/sightline/internal/evidence"
	"github.com/sightline/sightline/internal/media"
)

// Evidence is the evidence.Store of a DB.
func (d *DB) Evidence() evidence.Store { return evidenceStore{d} }

type evidenceStore struct{ d *DB }

var _ evidence.Store = evidenceStore{}

const evidenceColumns = `id, upload_digest, token_digest, sha256, size, filename, source, device, officer, note,
	received_at, media_type, mime_type, container, duration_s,
	video_codec, video_width, video_height, video_fps, audio_codec, audio_rate, audio_channels,
	captured_at, lat, lon, alt, camera_make, camera_model, camera_software, media_error, received_index,
	uploader_token, uploader_unit, uploader_device, uploader_badge, unindexed, partial, continues`

func (s evidenceStore) Create(ctx context.Context, it evidence.Item) error {
	args := []any{it.ID, it.UploadDigest, it.TokenDigest, it.SHA256.String(), it.Size, it.Filename, string(it.Source),
		it.Device, it.Officer, it.Note, it.ReceivedAt.UTC(), string(it.MediaType), it.MIME, it.Container, it.DurationS}
	if v := it.Video; v != nil {
		args = append(args, v.Codec, v.Width, v.Height, v.FPS)
	} else {
		args = append(args, nil, nil, nil, nil)
	}
	if a := it.Audio; a != nil {
		args = append(args, a.Codec, a.SampleRate, a.Channels)
	} else {
		args = append(args, nil, nil, nil)
	}
	if it.CapturedAt != nil {
		args = append(args, it.CapturedAt.UTC())
	} else {
		args = append(args, nil)
	}
	if l := it.Location; l != nil {
		args = append(args, l.Lat, l.Lon, l.Alt)
	} else {
		args = append(args, nil, nil, nil)
	}
	if c := it.Camera; c != nil {
		args = append(args, c.Make, c.Model, c.Software)
	} else {
		args = append(args, nil, nil, nil)
	}
	args = append(args, it.Error, int64(it.ReceivedIndex), it.Uploader.Token, it.Uploader.Unit, it.Uploader.Device, it.Uploader.Badge, it.Unindexed, it.Partial, it.Continues)
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(args)), ", ")
	_, err := s.d.exec(ctx, `INSERT INTO evidence (`+evidenceColumns+`) VALUES (`+marks+`)`, args...)
	if err != nil && isUniqueViolation(err) {
		return fmt.Errorf("%w: %v", evidence.ErrExists, err)
	}
	return err
}

func (s evidenceStore) Get(ctx context.Context, id string) (evidence.Item, error) {
	return scanEvidence(s.d.queryRow(ctx, `SELECT `+evidenceColumns+` FROM evidence WHERE id = ?`, id))
}

func (s evidenceStore) ByUpload(ctx context.Context, digest string) (evidence.Item, error) {
	return scanEvidence(s.d.queryRow(ctx, `SELECT `+evidenceColumns+` FROM evidence WHERE upload_digest = ?`, digest))
}

func (s evidenceStore) All(ctx context.Context) iter.Seq2[evidence.Item, error] {
	return each(ctx, s.d, scanEvidence, `SELECT `+evidenceColumns+` FROM evidence ORDER BY received_at, id`)
}

type scanner interface{ Scan(...any) error }

func scanEvidence(row scanner) (evidence.Item, error) {
	var (
		it                            evidence.Item
		sha, source, mediaType        string
		duration, fps, lat, lon, alt  sql.NullFloat64
		vcodec, acodec, mk, model, sw sql.NullString
		width, height, rate, channels sql.NullInt64
		receivedIndex                 sql.NullInt64
		captured                      sql.NullTime
		received                      time.Time
	)
	err := row.Scan(&it.ID, &it.UploadDigest, &it.TokenDigest, &sha, &it.Size, &it.Filename, &source, &it.Device, &it.Officer, &it.Note,
		&received, &mediaType, &it.MIME, &it.Container, &duration,
		&vcodec, &width, &height, &fps, &acodec, &rate, &channels,
		&captured, &lat, &lon, &alt, &mk, &model, &sw, &it.Error, &receivedIndex,
		&it.Uploader.Token, &it.Uploader.Unit, &it.Uploader.Device, &it.Uploader.Badge, &it.Unindexed, &it.Partial, &it.Continues)
	if errors.Is(err, sql.ErrNoRows) {
		return it, evidence.ErrNotFound
	}
	if err != nil {
		return it, fmt.Errorf("db: %w", err)
	}
	if err := it.SHA256.UnmarshalText([]byte(sha)); err != nil {
		return it, fmt.Errorf("db: evidence %s: %w", it.ID, err)
	}
	it.Source, it.MediaType, it.ReceivedAt = evidence.Source(source), media.Kind(mediaType), received.UTC()
	it.ReceivedIndex = uint64(receivedIndex.Int64)
	if duration.Valid {
		it.DurationS = &duration.Float64
	}
	if vcodec.Valid {
		it.Video = &media.VideoInfo{Codec: vcodec.String, Width: int(width.Int64), Height: int(height.Int64), FPS: fps.Float64}
	}
	if acodec.Valid {
		it.Audio = &media.AudioInfo{Codec: acodec.String, SampleRate: int(rate.Int64), Channels: int(channels.Int64)}
	}
	if captured.Valid {
		t := captured.Time.UTC()
		it.CapturedAt = &t
	}
	if lat.Valid && lon.Valid {
		it.Location = &media.Location{Lat: lat.Float64, Lon: lon.Float64}
		if alt.Valid {
			it.Location.Alt = &alt.Float64
		}
	}
	if mk.Valid || model.Valid || sw.Valid {
		it.Camera = &media.Camera{Make: mk.String, Model: model.String, Software: sw.String}
	}
	return it, nil
}

// isUniqueViolation reports a broken UNIQUE or PRIMARY KEY constraint, by
// either engine's code: SQLite's extended result code, PostgreSQL's
// SQLSTATE 23505.
func isUniqueViolation(err error) bool {
	var lite *sqlite.Error
	if errors.As(err, &lite) {
		return lite.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || lite.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	var pg *pgconn.PgError
	return errors.As(err, &pg) && pg.Code == pgUniqueViolation
}

// pgUniqueViolation is PostgreSQL's SQLSTATE unique_violation.
const pgUniqueViolation = "23505"
