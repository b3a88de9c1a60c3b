// Command sightline is the whole of Sightline in one binary: the server and
// the command-line tools that talk to it.
//
//	sightline serve   run the server (embedded defaults: SQLite and a local blob directory)
//	sightline upload  upload files or folders of footage, resuming where a previous run stopped
//	sightline keys    print the custody log's public verifier key
//	sightline verify  check a file against its receipt, offline
//	sightline refresh bring receipts up to the log's latest checkpoint, with consistency proofs
//	sightline admin   staff accounts, device and API tokens
//	sightline audit   check a data folder's originals, records and custody log
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
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

const usage = `usage: sightline <command> [flags]

commands:
  serve    run the server
  upload   upload footage: sightline upload --server URL --source S PATH...
  keys     print the custody log's public key: sightline keys [--data DIR]
  verify   check a file against its receipt, offline: sightline verify FILE [RECEIPT] [--key VKEY]
  refresh  bring receipts up to the log's latest checkpoint: sightline refresh --server URL RECEIPT...
  admin    staff accounts and tokens: sightline admin create-user --role R --name N [--unit U] [--badge B]
  audit    check a data folder: originals, records, the custody log: sightline audit [--data DIR]

Run "sightline <command> -h" for a command's flags.
`

// Run runs the command named by args[0].
func (m *Main) Run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(m.Stderr, usage)
		return flag.ErrHelp
	}
	switch args[0] {
	case "serve":
		return (&serveCmd{Main: m}).run(ctx, args[1:])
	case "upload":
		return (&uploadCmd{Main: m}).run(ctx, args[1:])
	case "keys":
		return m.keys(args[1:])
	case "verify":
		return m.verify(args[1:])
	case "refresh":
		return m.refresh(ctx, args[1:])
	case "audit":
		return m.audit(ctx, args[1:])
	case "admin":
		return m.admin(ctx, args[1:])
	case "help", "-h", "--help":
		fmt.Fprint(m.Stdout, usage)
		return nil
	}
	fmt.Fprintf(m.Stderr, "sightline: unknown command %q\n\n%s", args[0], usage)
	return flag.ErrHelp
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
