// Command sightline is the whole of Sightline in one binary: the server and
// the command-line tools that talk to it.
//
//	sightline serve   run the server (embedded defaults: SQLite and a local blob directory)
//	sightline upload  upload files or folders of footage, resuming where a previous run stopped
//	sightline keys    print the custody log's public verifier key
//	sightline verify  check a file against its receipt, offline
//	sightline verify-package  check an evidence package, offline
//	sightline redact  render a redaction manifest again from the original, offline, and compare
//	sightline verify-redaction  check a redacted video against its manifest and its log entry
//	sightline verify-release    check a file of a public release against its proof and the log
//	sightline export  save an incident's or a case's evidence package, for court or disclosure
//	sightline refresh bring receipts up to the log's latest checkpoint, with consistency proofs
//	sightline admin   staff accounts, device and API tokens
//	sightline audit   check a data folder's originals, records and custody log
//	sightline migrate copy an embedded installation onto PostgreSQL and S3
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"k8s.io/klog/v2"

	"github.com/sightline/sightline/internal/audit"
	"github.com/sightline/sightline/internal/blob"
	"github.com/sightline/sightline/internal/ledger"
	"github.com/sightline/sightline/internal/server"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	m := &Main{Stdout: os.Stdout, Stderr: os.Stderr}
	if err := m.Run(ctx, os.Args[1:]); err != nil {
		if !errors.Is(err, errReported) && !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "sightline:", err)
		}
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// Main is the program, testable in process.
type Main struct {
	Stdout, Stderr io.Writer
}

// errReported means the failure was already explained on stderr.
var errReported = errors.New("failed")

// defaultData is where the server keeps its data unless told (--data).
const defaultData = "./sightline-data"

// command is one of the binary's commands.
type command struct {
	name, summary string
	run           func(m *Main, ctx context.Context, args []string) error
}

var commands = []command{
	{"serve", "run the server", func(m *Main, ctx context.Context, args []string) error { return (&serveCmd{Main: m}).run(ctx, args) }},
	{"upload", "upload footage: sightline upload --server URL --source S PATH...", func(m *Main, ctx context.Context, args []string) error {
		return (&uploadCmd{Main: m}).run(ctx, args)
	}},
	{"keys", "print the custody log's public key: sightline keys [--data DIR]", func(m *Main, _ context.Context, args []string) error { return m.keys(args) }},
	{"verify", "check a file against its receipt, offline: sightline verify FILE [RECEIPT] [--key VKEY]", func(m *Main, _ context.Context, args []string) error {
		return m.verify(args)
	}},
	{"verify-package", "check an evidence package, offline: sightline verify-package FILE.zip --key VKEY", func(m *Main, _ context.Context, args []string) error {
		return m.verifyPackage(args)
	}},
	{"redact", "render a redaction manifest again, offline: sightline redact --manifest M --original F -o OUT", (*Main).redact},
	{"verify-redaction", "check a redacted video against its manifest: sightline verify-redaction VIDEO --manifest M [--receipt R --key VKEY]", func(m *Main, _ context.Context, args []string) error {
		return m.verifyRedaction(args)
	}},
	{"verify-release", "check a file of a public release, offline: sightline verify-release FILE --manifest PROOF --key VKEY", (*Main).verifyRelease},
	{"export", "save an evidence package: sightline export --server URL --token T (--incident ID | --case ID) --reason R -o FILE.zip", (*Main).export},
	{"refresh", "bring receipts up to the log's latest checkpoint: sightline refresh --server URL RECEIPT...", (*Main).refresh},
	{"admin", "staff accounts and tokens: sightline admin create-user --role R --name N [--unit U] [--badge B]", (*Main).admin},
	{"audit", "check a data folder: originals, records, the custody log: sightline audit [--data DIR]", (*Main).audit},
	{"migrate", "copy an embedded installation onto PostgreSQL and S3: sightline migrate --from-data OLD --data NEW --database URL --blobs URL", (*Main).migrate},
}

func (m *Main) usage(w io.Writer) {
	fmt.Fprint(w, "usage: sightline <command> [flags]\n\ncommands:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-14s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, "\nRun \"sightline help <command>\" or \"sightline <command> -h\" for a command's flags.\n")
}

// Run runs the command named by args[0].
func (m *Main) Run(ctx context.Context, args []string) error {
	// The log library's messages are the server's to log (serve routes
	// them); a command prints only its own unless asked (--verbose).
	klog.SetOutput(io.Discard)
	klog.LogToStderr(false)
	if len(args) == 0 {
		m.usage(m.Stderr)
		return flag.ErrHelp
	}
	name := args[0]
	switch name {
	case "-h", "--help":
		m.usage(m.Stdout)
		return nil
	case "help":
		if len(args) == 1 {
			m.usage(m.Stdout)
			return nil
		}
		// "sightline help upload" is "sightline upload -h", printed where
		// asked for help goes: standard output.
		name, args = args[1], []string{args[1], "-h"}
		m = &Main{Stdout: m.Stdout, Stderr: m.Stdout}
	}
	for _, c := range commands {
		if c.name == name {
			err := c.run(m, ctx, args[1:])
			if errors.Is(err, flag.ErrHelp) && slices.ContainsFunc(args[1:], isHelp) {
				return nil // asked for help, and given it
			}
			return err
		}
	}
	fmt.Fprintf(m.Stderr, "sightline: unknown command %q\n\n", name)
	m.usage(m.Stderr)
	return flag.ErrHelp
}

// isHelp reports whether a command-line argument asks for help.
func isHelp(arg string) bool {
	switch arg {
	case "-h", "-help", "--help", "help":
		return true
	}
	return false
}

// verbose adds --verbose to a command that opens a data folder, and
// returns the function that turns the log library's messages on.
func verbose(fs *flag.FlagSet, stderr io.Writer) func() {
	on := fs.Bool("verbose", false, "also print the messages of the log library")
	return func() {
		if *on {
			klog.SetSlogLogger(slog.New(slog.NewTextHandler(stderr, nil)))
		}
	}
}

// openData checks that dir is a data folder a server made, before a
// command opens it: only `sightline serve` creates one.
func openData(dir string) error {
	if _, err := os.Stat(server.KeyFile(dir)); err != nil {
		abs, _ := filepath.Abs(dir)
		return fmt.Errorf("no Sightline data folder at %s (it has no %s): give the server's folder with --data DIR; `sightline serve` makes one when it first starts",
			abs, filepath.Base(server.KeyFile(dir)))
	}
	return nil
}

// stores are the flags naming where a server's records and blobs are, when
// not in its data folder; serve, admin, audit and migrate take them.
type stores struct{ database, blobs, log, logDB, logKey string }

// logKeyEnv names the environment variable that may hold the custody
// log's signing key itself, as replicas are given a shared secret.
const logKeyEnv = "SIGHTLINE_LOG_KEY"

func (st *stores) flags(fs *flag.FlagSet) {
	fs.StringVar(&st.database, "database", "", "the records' database, if not SQLite in the data folder: a postgres:// URL")
	fs.StringVar(&st.log, "log", "", "the custody log's folder, if not the data folder's log/ (servers sharing a database on one host share it)")
	fs.StringVar(&st.blobs, "blobs", "", "the originals' store, if not the data folder's blobs/: s3://BUCKET[/PREFIX][?endpoint=URL&region=REGION], with credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or a profile)")
	fs.StringVar(&st.logDB, "log-db", "", "a custody log several servers share: the MySQL-compatible database that sequences it, 'USER[:PASSWORD]@tcp(HOST:PORT)/DB'; its tiles are kept at the root of the --blobs bucket (one shared log per bucket), its checkpoint history in --database")
	fs.StringVar(&st.logKey, "log-key", "", "the custody log's signing key file, if not the data folder's log.key (or the key itself in $"+logKeyEnv+")")
}

// config sets cfg's stores.
func (st *stores) config(ctx context.Context, cfg *server.Config) error {
	cfg.Database, cfg.Log, cfg.LogKeyFile, cfg.LogKey = st.database, st.log, st.logKey, os.Getenv(logKeyEnv)
	if st.logDB != "" {
		c, err := st.sharedLogBucket()
		if err != nil {
			return err
		}
		if cfg.SharedLog, err = ledger.NewShared(ctx, c, st.logDB); err != nil {
			return fmt.Errorf("--log-db: %w", err)
		}
	}
	if st.blobs == "" {
		return nil
	}
	b, err := server.OpenBlobs(ctx, cfg.Data, st.blobs)
	if err != nil {
		return fmt.Errorf("--blobs: %w", err)
	}
	cfg.Blobs = b
	return nil
}

// sharedLogBucket is the bucket of a shared log's tiles: --blobs's.
func (st *stores) sharedLogBucket() (blob.S3Config, error) {
	if st.log != "" {
		return blob.S3Config{}, errors.New("--log names a folder and --log-db a shared log: give one")
	}
	if !strings.HasPrefix(st.blobs, "s3:") {
		return blob.S3Config{}, errors.New("--log-db keeps the log's tiles in the --blobs bucket: give --blobs s3://…")
	}
	c, err := blob.ParseS3URL(st.blobs)
	if err != nil {
		return blob.S3Config{}, fmt.Errorf("--blobs: %w", err)
	}
	if st.database == "" {
		return blob.S3Config{}, errors.New("--log-db keeps the log's checkpoint history in the shared --database: give --database postgres://…")
	}
	return c, nil
}

// auditPaths are the parts of the installation on data.
func (st *stores) auditPaths(data string) (audit.Paths, error) {
	p := server.AuditPaths(data)
	p.DB = cmp.Or(st.database, p.DB)
	p.Blobs = cmp.Or(st.blobs, p.Blobs)
	p.Log = cmp.Or(st.log, p.Log)
	p.KeyFile, p.Key = cmp.Or(st.logKey, p.KeyFile), os.Getenv(logKeyEnv)
	if st.logDB != "" {
		if _, err := st.sharedLogBucket(); err != nil {
			return p, err
		}
		// The audit reads the tiles from the bucket and the history from
		// the database; the sequencer holds nothing it checks.
		p.Log, p.History = st.blobs, ""
	}
	return p, nil
}

// serverURL checks the address of a server given on the command line.
func serverURL(flagName, s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--%s %q: give the server's address with its scheme, such as http://127.0.0.1:8080 or https://sightline.example.org", flagName, s)
	}
	return nil
}

// parseInterleaved parses flags that may come before, between or after
// positional arguments, as people type them.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
