package media

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Tool runs ffprobe and ffmpeg on untrusted files, each run bounded in time
// and, where prlimit(1) is available, in address space.
type Tool struct {
	FFprobe string        // path or name of ffprobe; "ffprobe" if empty
	FFmpeg  string        // path or name of ffmpeg; "ffmpeg" if empty
	Timeout time.Duration // per run; 60 s if zero
	// MemoryLimit caps each run's address space in bytes (RLIMIT_AS); 0
	// means 4 GiB, a negative value means no limit.
	MemoryLimit int64
	// Parallel caps how many runs go at once, so that a burst of finished
	// uploads queues for the CPUs instead of thrashing them. 0 means twice
	// the number of CPUs.
	Parallel int

	once sync.Once
	sem  chan struct{}
}

// ErrTimeout is wrapped by errors from runs that hit Tool.Timeout.
var ErrTimeout = errors.New("media: tool timed out")

// runError is a tool that ran and failed on its input: a fact about the
// file, not about the server.
type runError struct {
	tool string
	msg  string
}

func (e *runError) Error() string { return e.tool + ": " + e.msg }

func (t *Tool) timeout() time.Duration {
	if t.Timeout > 0 {
		return t.Timeout
	}
	return 60 * time.Second
}

// maxReport bounds what a tool may print on its standard output when it is
// kept in memory (ffprobe's JSON report); a tool that prints more is
// stopped and the file reported as unreadable.
const maxReport = 1 << 20

// errOutputTooLarge is a tool's output past its bound.
var errOutputTooLarge = errors.New("output too large")

// run executes name with args and returns its standard output (at most
// maxReport bytes) and error output (at most 64 KiB). An error of type
// *runError means the tool rejected the input; any other error means it
// could not be run at all.
func (t *Tool) run(parent context.Context, name string, args ...string) (stdout, stderr []byte, err error) {
	out := &cappedBuffer{max: maxReport}
	stderr, err = t.runTo(parent, out, name, args...)
	return out.Bytes(), stderr, err
}

// runTo is run with the standard output written to w, which may stop the
// tool by returning an error (errOutputTooLarge, for a bound).
func (t *Tool) runTo(parent context.Context, w io.Writer, name string, args ...string) (stderr []byte, err error) {
	return t.runIO(parent, nil, w, name, args...)
}

// runIO is runTo with the tool's standard input read from stdin (nil:
// none).
func (t *Tool) runIO(parent context.Context, stdin io.Reader, w io.Writer, name string, args ...string) (stderr []byte, err error) {
	if parent.Value(turnKey{t}) == nil {
		var release func()
		if parent, release, err = t.Turn(parent); err != nil {
			return nil, err
		}
		defer release()
	}
	ctx, cancel := context.WithTimeout(parent, t.timeout())
	defer cancel()
	limit := t.MemoryLimit
	if limit == 0 {
		limit = 4 << 30
	}
	argv := append([]string{name}, args...)
	if limit > 0 {
		if p, err := exec.LookPath("prlimit"); err == nil {
			argv = append([]string{p, "--as=" + strconv.FormatInt(limit, 10), "--core=0", "--"}, argv...)
		}
	}
	if _, err := exec.LookPath(name); err != nil {
		return nil, fmt.Errorf("media: %s is not installed: %w", name, err)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var errb bytes.Buffer
	sink := &stopWriter{w: w}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, sink, &limitedBuffer{buf: &errb, max: 64 << 10}
	err = cmd.Run()
	if err := parent.Err(); err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		return errb.Bytes(), fmt.Errorf("%s after %v: %w", name, t.timeout(), ErrTimeout)
	}
	if sink.err != nil {
		// The writer refused more: the tool was stopped (its pipe closed)
		// because of what the file made it print.
		return errb.Bytes(), &runError{tool: name, msg: sink.err.Error()}
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return errb.Bytes(), &runError{tool: name, msg: summarize(errb.Bytes(), exit.String())}
	}
	return errb.Bytes(), err
}

type turnKey struct{ t *Tool }

// Turn takes one of the tool's turns (of Parallel) for a pipeline of runs
// that must go at once, one feeding the other: runs given the returned
// context take no turn of their own, so a pipeline never waits on its
// own half. release gives the turn back.
func (t *Tool) Turn(ctx context.Context) (context.Context, func(), error) {
	t.once.Do(func() {
		n := t.Parallel
		if n <= 0 {
			n = 2 * runtime.NumCPU()
		}
		t.sem = make(chan struct{}, n)
	})
	select {
	case t.sem <- struct{}{}:
		return context.WithValue(ctx, turnKey{t}, true), func() { <-t.sem }, nil
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
}

// stopWriter passes a tool's output on until its writer refuses more,
// and remembers why.
type stopWriter struct {
	w   io.Writer
	err error
}

func (s *stopWriter) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.w.Write(p)
	s.err = err
	return n, err
}

// cappedBuffer keeps what is written to it up to max bytes, and refuses
// the write that would pass it.
type cappedBuffer struct {
	bytes.Buffer
	max int
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	if c.Len()+len(p) > c.max {
		return 0, fmt.Errorf("%w: over %d bytes", errOutputTooLarge, c.max)
	}
	return c.Buffer.Write(p)
}

func (t *Tool) ffprobe() string { return or(t.FFprobe, "ffprobe") }
func (t *Tool) ffmpeg() string  { return or(t.FFmpeg, "ffmpeg") }

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// ffmpeg prefixes its messages with "[demuxer @ 0x55…] "; the pointer
// differs on every run and means nothing to a reader.
var logPrefix = regexp.MustCompile(`^\[[^\]]* @ 0x[0-9a-f]+\] `)

// summarize turns a tool's error output into one short line: the distinct
// messages in order, at most three, with file names left out.
func summarize(stderr []byte, fallback string) string {
	var msgs []string
	seen := map[string]bool{}
	for _, line := range strings.Split(string(stderr), "\n") {
		line = strings.TrimSpace(logPrefix.ReplaceAllString(strings.TrimSpace(line), ""))
		if line == "" || seen[line] {
			continue
		}
		// "/path/to/file: Invalid data…" names our own temporary path.
		if i := strings.LastIndex(line, ": "); i > 0 && strings.HasPrefix(line, "/") {
			line = line[i+2:]
		}
		seen[line] = true
		msgs = append(msgs, text([]byte(line)))
		if len(msgs) == 3 {
			break
		}
	}
	if len(msgs) == 0 {
		return fallback
	}
	return strings.Join(msgs, "; ")
}

// limitedBuffer keeps the first max bytes written to it and discards the
// rest, so a tool that floods its error output cannot exhaust memory.
type limitedBuffer struct {
	buf *bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - l.buf.Len(); room > 0 {
		l.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
