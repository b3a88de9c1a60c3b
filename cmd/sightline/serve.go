package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	"k8s.io/klog/v2"

	"github.com/sightline/sightline/internal/redact"
	"github.com/sightline/sightline/internal/server"
	"github.com/sightline/sightline/verify"
)

type serveCmd struct {
	*Main
	cfg           server.Config
	maxSize       byteSize
	listen        string
	logLevel      string
	witnessPolicy string
	bases         string
	stores        stores
}

func (c *serveCmd) flags() *flag.FlagSet {
	fs := flag.NewFlagSet("sightline serve", flag.ContinueOnError)
	fs.SetOutput(c.Stderr)
	c.maxSize = 64 << 30
	fs.StringVar(&c.cfg.Data, "data", defaultData, "folder for the database, originals and uploads in progress")
	c.stores.flags(fs)
	fs.StringVar(&c.listen, "listen", "127.0.0.1:8080", "address to serve HTTP on; port 0 picks a free one")
	fs.Var(&c.maxSize, "max-size", "largest file accepted")
	fs.DurationVar(&c.cfg.UploadExpiry, "upload-expiry", 7*24*time.Hour, "how long an unfinished upload may stay silent")
	fs.DurationVar(&c.cfg.PartialAfter, "partial-after", 10*time.Minute, "how long a recording streamed from the capture page may stay silent before what arrived is kept as evidence marked partial")
	fs.DurationVar(&c.cfg.ShareCodeTTL, "share-code-ttl", 30*time.Minute, "how long a civilian's share code may be used by a supervisor")
	fs.DurationVar(&c.cfg.CaseDeadline, "case-deadline", 365*24*time.Hour, "how long from receipt a complaint or internal review may stay open (its deadline; pauses move it on)")
	fs.DurationVar(&c.cfg.CaseTarget, "case-target", 180*24*time.Hour, "the goal for finishing a case, from receipt")
	fs.DurationVar(&c.cfg.CaseNoticeEvery, "case-notice-every", 180*24*time.Hour, "how often an open case's complainant is told it is still open")
	fs.IntVar(&c.cfg.AlertAllegations, "alert-allegations", 0, "flag an officer named in this many allegations within --alert-window, for early intervention (0: off)")
	fs.DurationVar(&c.cfg.AlertWindow, "alert-window", 365*24*time.Hour, "the window --alert-allegations counts in")
	fs.StringVar(&c.cfg.SMTP, "smtp", "", "host:port of a mail relay that emails complainants their notices (none: notices are only on their page)")
	fs.StringVar(&c.cfg.SMTPFrom, "smtp-from", "sightline@localhost", "the sender of those emails")
	fs.StringVar(&c.cfg.Organization, "organization", "", "who runs this server, as evidence packages name their source (default: the log's origin)")
	fs.StringVar(&c.cfg.Models, "models", "models", "the face detector's folder, as scripts/models.sh installs it (make run does); without it faces are drawn by hand")
	fs.StringVar(&c.bases, "redaction-bases", "", "a file of the legal bases a redaction's changes may give, a line each: a code (a-z, 0-9, -) and its meaning (default: privacy, minor, medical, victim, informant, identifiers, security, investigation)")
	fs.StringVar(&c.cfg.LogOrigin, "log-origin", "", "name of the custody log in its checkpoints, fixed when its key is created (default "+server.DefaultLogOrigin+")")
	fs.StringVar(&c.witnessPolicy, "witness-policy", "", "a C2SP tlog-policy file: the witnesses (with their add-checkpoint URLs) whose quorum must cosign every checkpoint before it is published; none: the log is not witnessed")
	fs.DurationVar(&c.cfg.CheckpointInterval, "checkpoint-interval", time.Second, "longest wait from an acknowledged event to a signed checkpoint covering it (its receipt); at least 200ms")
	fs.DurationVar(&c.cfg.MediaTimeout, "media-timeout", time.Minute, "time limit of each ffprobe/ffmpeg run")
	fs.DurationVar(&c.cfg.JobLease, "job-lease", time.Minute, "how long a media job stays this server's without a renewal: when it dies, another server on the same database takes its jobs over after this long")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.Func("public-url", "the address people and clients reach this server at, such as https://sightline.example.org (behind a load balancer, the balancer's): links and upload URLs point there; default: the host each request names", func(v string) error {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("%q is not a scheme and host, such as https://sightline.example.org", v)
		}
		c.cfg.PublicURL = strings.TrimSuffix(v, "/")
		return nil
	})
	fs.IntVar(&c.cfg.WriteLimit, "write-limit", 600, "uploads, share codes and shares one client address without a staff account may begin in 10 minutes")
	fs.IntVar(&c.cfg.LookupLimit, "lookup-limit", 20, "clip lookups one client address without a staff account may ask for in 10 minutes")
	fs.Func("trusted-proxy", "a reverse proxy (address or CIDR; repeat or separate by commas) whose X-Forwarded-For names the client for per-address limits; none by default", func(v string) error {
		for _, part := range strings.Split(v, ",") {
			part = strings.TrimSpace(part)
			p, err := netip.ParsePrefix(part)
			if err != nil {
				a, aerr := netip.ParseAddr(part)
				if aerr != nil {
					return fmt.Errorf("%q is neither an address nor a CIDR prefix", part)
				}
				p = netip.PrefixFrom(a, a.BitLen())
			}
			c.cfg.TrustedProxies = append(c.cfg.TrustedProxies, p.Masked())
		}
		return nil
	})
	return fs
}

func (c *serveCmd) run(ctx context.Context, args []string) error {
	fs := c.flags()
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("serve takes no arguments, got %q", fs.Args())
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	c.cfg.Logger = slog.New(slog.NewTextHandler(c.Stderr, &slog.HandlerOptions{Level: level}))
	klog.SetSlogLogger(c.cfg.Logger.With("part", "tessera")) // the log library's own messages
	c.cfg.MaxSize = int64(c.maxSize)
	if c.witnessPolicy != "" {
		b, err := os.ReadFile(c.witnessPolicy)
		if err != nil {
			return fmt.Errorf("--witness-policy: %w", err)
		}
		if _, err := verify.ParsePolicy(b); err != nil {
			return fmt.Errorf("--witness-policy %s: %w", c.witnessPolicy, err)
		}
		c.cfg.WitnessPolicy = b
	}
	if c.bases != "" {
		b, err := os.ReadFile(c.bases)
		if err != nil {
			return fmt.Errorf("--redaction-bases: %w", err)
		}
		if c.cfg.RedactionBases, err = redact.ParseBases(string(b)); err != nil {
			return fmt.Errorf("--redaction-bases %s: %w", c.bases, err)
		}
	}
	if err := c.stores.config(ctx, &c.cfg); err != nil {
		return err
	}
	srvr, err := server.Open(ctx, c.cfg)
	if err != nil {
		return err
	}
	defer srvr.Close()

	ln, err := net.Listen("tcp", c.listen)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           srvr.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		// No overall read or write timeout: uploads and downloads of large
		// files take as long as they take. The tus handler moves a read
		// deadline forward as long as bytes keep arriving.
	}
	go srvr.Run(ctx)
	addr := ln.Addr().(*net.TCPAddr)
	host := addr.IP.String()
	if addr.IP.IsUnspecified() {
		host = "localhost"
	}
	url := "http://" + net.JoinHostPort(host, fmt.Sprint(addr.Port))
	fmt.Fprintf(c.Stdout, "sightline: serving on %s (data in %s)\n", url, c.cfg.Data)

	// The operator's admin socket, beside the data it administers.
	sock := server.AdminSocket(c.cfg.Data)
	os.Remove(sock) // a stale one from a killed server; the data lock is held
	adminLn, err := net.Listen("unix", sock)
	if err != nil {
		return err
	}
	if err := os.Chmod(sock, 0o600); err != nil {
		return err
	}
	adminSrv := &http.Server{Handler: srvr.AdminHandler(), ReadHeaderTimeout: 10 * time.Second}
	defer adminSrv.Close()

	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	go func() { errc <- adminSrv.Serve(adminLn) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	c.cfg.Logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
