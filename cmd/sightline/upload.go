package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sightline/sightline/internal/client"
	"github.com/sightline/sightline/internal/durable"
	"github.com/sightline/sightline/internal/evidence"
	"github.com/sightline/sightline/internal/media"
)

type uploadCmd struct {
	*Main
	server, source, device, officer, note, token, stateDir string
	chunk                                                  byteSize
	chunkChecksums, again, quiet                           bool
}

const uploadUsage = `usage: sightline upload --server URL --source S [flags] PATH...

Uploads each file, or every media file in each folder, resuming an upload
that an earlier run did not finish. Beside each file it writes
<file>.sightline.json: the evidence record and the access token that reads it.

flags:
`

func (c *uploadCmd) run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("sightline upload", flag.ContinueOnError)
	fs.SetOutput(c.Stderr)
	fs.Usage = func() { fmt.Fprint(c.Stderr, uploadUsage); fs.PrintDefaults() }
	c.chunk = 32 << 20
	fs.StringVar(&c.server, "server", "http://127.0.0.1:8080", "the Sightline server")
	fs.StringVar(&c.source, "source", "", "the camera: phone, dashcam, bodycam, surveillance or other (required)")
	fs.StringVar(&c.device, "device", "", "the device's name or model")
	fs.StringVar(&c.officer, "officer", "", "badge number of the officer wearing or driving the camera")
	fs.StringVar(&c.note, "note", "", "a note kept with each file")
	fs.StringVar(&c.token, "token", "", "a device or API token, if the server asks for one")
	fs.StringVar(&c.stateDir, "state-dir", "", "where unfinished uploads are remembered (default: the user cache folder)")
	fs.Var(&c.chunk, "chunk-size", "bytes per request")
	fs.BoolVar(&c.chunkChecksums, "chunk-checksums", false, "also send each chunk's SHA-256, so a damaged chunk is refused at once (the whole file's always is)")
	fs.BoolVar(&c.again, "again", false, "upload files even if a .sightline.json beside them says they were uploaded")
	fs.BoolVar(&c.quiet, "quiet", false, "no progress display")
	paths, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if c.source == "" || len(paths) == 0 {
		fs.Usage()
		return fmt.Errorf("upload needs --source and at least one PATH")
	}
	if !slices.Contains(evidence.Sources, evidence.Source(c.source)) {
		return fmt.Errorf("--source %q is not one of %s", c.source, strings.Join(sourceNames(), ", "))
	}
	if err := serverURL("server", c.server); err != nil {
		return err
	}
	journal := &client.Journal{Dir: c.stateDir}
	if c.stateDir == "" {
		if journal, err = client.DefaultJournal(); err != nil {
			return err
		}
	}
	files, skipped, err := c.collect(paths)
	if err != nil {
		return err
	}
	for _, s := range skipped {
		fmt.Fprintf(c.Stderr, "skipped %s\n", s)
	}
	if len(files) == 0 {
		return fmt.Errorf("no media files to upload")
	}
	cl := &client.Client{Server: c.server, ChunkSize: int64(c.chunk), ChunkChecksums: c.chunkChecksums, Token: c.token}
	failed := 0
	for i, f := range files {
		if err := c.uploadOne(ctx, cl, journal, f, i+1, len(files)); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			fmt.Fprintf(c.Stderr, "FAILED %s: %v\n", f, err)
			failed++
		}
	}
	if failed > 0 {
		fmt.Fprintf(c.Stderr, "%d of %d files failed; run the same command again to resume them\n", failed, len(files))
		return errReported
	}
	return nil
}

// collect expands folders into the media files in them.
func (c *uploadCmd) collect(paths []string) (files, skipped []string, err error) {
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, nil, err
		}
		if !fi.IsDir() {
			if ok, why := isMedia(p); !ok {
				return nil, nil, fmt.Errorf("%s: %s", p, why)
			}
			files = append(files, p)
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			name := d.Name()
			if strings.HasPrefix(name, ".") && path != p {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.IsDir() || strings.HasSuffix(name, ".sightline.json") || strings.HasSuffix(name, ".receipt.json") || !d.Type().IsRegular() {
				return nil
			}
			if ok, why := isMedia(path); ok {
				files = append(files, path)
			} else {
				skipped = append(skipped, path+" ("+why+")")
			}
			return nil
		})
		if err != nil {
			return nil, nil, err
		}
	}
	return files, skipped, nil
}

// isMedia looks at a file's first bytes as the server will.
func isMedia(path string) (bool, string) {
	f, err := os.Open(path)
	if err != nil {
		return false, err.Error()
	}
	defer f.Close()
	head := make([]byte, media.SniffLen)
	n, err := io.ReadFull(f, head)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return false, err.Error()
	}
	if _, ok := media.Sniff(head[:n]); !ok {
		return false, "not video, audio or a still image"
	}
	return true, ""
}

func receiptPath(file string) string { return file + ".sightline.json" }

// logReceiptPath is where the custody log's receipt of a file is saved.
func logReceiptPath(file string) string { return file + ".receipt.json" }

func (c *uploadCmd) uploadOne(ctx context.Context, cl *client.Client, j *client.Journal, file string, n, total int) error {
	fi, err := os.Stat(file)
	if err != nil {
		return err
	}
	if !c.again {
		var prev client.Receipt
		if b, err := os.ReadFile(receiptPath(file)); err == nil && json.Unmarshal(b, &prev) == nil && prev.Size == fi.Size() && prev.ID != "" {
			if _, err := os.Stat(logReceiptPath(file)); err == nil {
				fmt.Fprintf(c.Stdout, "already uploaded %s: evidence %s (use --again to upload it again)\n", file, prev.ID)
				return nil
			}
			// Stored before, but its receipt could not be fetched then
			// (the log's witnesses had not cosigned): fetch it now.
			rc, err := cl.Receipt(ctx, prev.ID, prev.AccessToken)
			if err == nil {
				b, _ := json.MarshalIndent(rc, "", "  ")
				err = durable.WriteFile(logReceiptPath(file), append(b, '\n'), 0o600)
			}
			if err != nil {
				return fmt.Errorf("already uploaded as evidence %s (record in %s), but its receipt could not be saved: %w", prev.ID, receiptPath(file), err)
			}
			fmt.Fprintf(c.Stdout, "already uploaded %s: evidence %s; its receipt saved now in %s\n", file, prev.ID, logReceiptPath(file))
			return nil
		}
	}
	meta := map[string]string{"filename": filepath.Base(file), "source": c.source}
	for k, v := range map[string]string{"device": c.device, "officer": c.officer, "note": c.note} {
		if v != "" {
			meta[k] = v
		}
	}
	bar := newProgressBar(c.Stderr, fmt.Sprintf("[%d/%d] %s", n, total, filepath.Base(file)), c.quiet)
	res, err := cl.UploadFile(ctx, file, meta, j, bar.update)
	bar.done()
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(res.Receipt, "", "  ")
	if err != nil {
		return err
	}
	resumed := ""
	if res.ResumedAt > 0 {
		resumed = fmt.Sprintf(", resumed at byte %d", res.ResumedAt)
	}
	if err := durable.WriteFile(receiptPath(file), append(b, '\n'), 0o600); err != nil {
		// A read-only card: the record must not be lost, so print it.
		fmt.Fprintf(c.Stdout, "%s\n", b)
		return fmt.Errorf("stored as evidence %s, but the record could not be saved beside the file (%v); it is printed above", res.ID, err)
	}
	rc, err := cl.UploadReceipt(ctx, res.UploadURL)
	if err == nil {
		b, _ := json.MarshalIndent(rc, "", "  ")
		err = durable.WriteFile(logReceiptPath(file), append(b, '\n'), 0o600)
	}
	if err != nil {
		return fmt.Errorf("stored as evidence %s (record in %s), but the receipt could not be saved (run the same command again to fetch it): %w", res.ID, receiptPath(file), err)
	}
	fmt.Fprintf(c.Stdout, "stored %s: evidence %s, sha256 %s, %d bytes%s; record in %s, receipt in %s\n",
		file, res.ID, res.SHA256, res.Size, resumed, receiptPath(file), logReceiptPath(file))
	return nil
}

// progressBar draws one upload's progress on a terminal, or prints a line
// every tenth of the way when the output is not a terminal.
type progressBar struct {
	w        io.Writer
	label    string
	tty      bool
	off      bool
	start    time.Time
	last     time.Time
	lastTick int64
	first    int64
}

func newProgressBar(w io.Writer, label string, off bool) *progressBar {
	tty := false
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	return &progressBar{w: w, label: label, tty: tty, off: off, start: time.Now(), first: -1}
}

func (p *progressBar) update(sent, total int64) {
	if p.off {
		return
	}
	if p.first < 0 {
		p.first = sent
	}
	pct := 100.0
	if total > 0 {
		pct = float64(sent) * 100 / float64(total)
	}
	elapsed := time.Since(p.start).Seconds()
	rate := float64(sent-p.first) / max(elapsed, 1e-3) / 1e6
	if p.tty {
		if time.Since(p.last) < 200*time.Millisecond && sent != total {
			return
		}
		p.last = time.Now()
		const width = 30
		filled := int(pct / 100 * width)
		fmt.Fprintf(p.w, "\r%s [%s%s] %5.1f%% %s/%s %.1f MB/s ", p.label,
			strings.Repeat("#", filled), strings.Repeat(".", width-filled), pct, human(sent), human(total), rate)
		return
	}
	if tick := int64(pct / 10); tick > p.lastTick || sent == p.first {
		p.lastTick = tick
		fmt.Fprintf(p.w, "%s: %.0f%% (%s of %s, %.1f MB/s)\n", p.label, pct, human(sent), human(total), rate)
	}
}

func (p *progressBar) done() {
	if p.tty && !p.off {
		fmt.Fprintln(p.w)
	}
}

func human(n int64) string {
	f, units := float64(n), []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.1f %s", f, units[i])
}

// sourceNames lists the cameras --source may name.
func sourceNames() []string {
	var out []string
	for _, s := range evidence.Sources {
		out = append(out, string(s))
	}
	return out
}
