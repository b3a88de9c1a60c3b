package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"text/tabwriter"

	"github.com/sightline/sightline/internal/account"
	"github.com/sightline/sightline/internal/server"
)

// adminCommand is one of `sightline admin`'s commands: its flags, and
// what it does with them.
type adminCommand struct {
	name, synopsis, summary string
	// flags adds the command's own flags and returns what it does.
	flags func(fs *flag.FlagSet) func(m *Main, c adminAPI) error
}

const adminAbout = `The commands talk to the running server through DIR/admin.sock; with no
server running they open the data folder themselves. Whoever can reach the
data folder is its operator: every change is logged in the custody log.
`

// setupLink adds --url; what it returns gives the setup link of a
// secret, once the address checks.
func setupLink(fs *flag.FlagSet) func() (func(secret string) string, error) {
	base := fs.String("url", "http://127.0.0.1:8080", "the server's public address, for setup links")
	return func() (func(string) string, error) {
		return func(secret string) string { return strings.TrimSuffix(*base, "/") + "/setup/" + secret }, serverURL("url", *base)
	}
}

var adminCommands = []adminCommand{
	{"create-user", "--role R --name N [--unit U] [--badge B] [--url URL]", "create a staff account and print its one-time setup link",
		func(fs *flag.FlagSet) func(*Main, adminAPI) error {
			role := fs.String("role", "", "officer, supervisor, investigator or admin")
			name := fs.String("name", "", "the account's name, such as sgt.reyes")
			unit := fs.String("unit", "", "the unit, such as central-patrol")
			badge := fs.String("badge", "", "the badge number (officers and supervisors)")
			link := setupLink(fs)
			return func(m *Main, c adminAPI) error {
				link, err := link()
				if err != nil {
					return err
				}
				var out struct {
					User        account.User `json:"user"`
					SetupSecret string       `json:"setup_secret"`
				}
				if err := c.call("POST", "/admin/users", map[string]string{"name": *name, "role": *role, "unit": *unit, "badge": *badge}, &out); err != nil {
					return err
				}
				fmt.Fprintf(m.Stdout, "created %s (%s, %s)\none-time setup link, valid 72 hours:\n%s\n", out.User.Name, out.User.Role, out.User.ID, link(out.SetupSecret))
				return nil
			}
		}},
	{"reset-user", "--name N [--url URL]", "a new setup link for an account (lost phone, forgotten password)",
		func(fs *flag.FlagSet) func(*Main, adminAPI) error {
			name := fs.String("name", "", "the account's name")
			link := setupLink(fs)
			return func(m *Main, c adminAPI) error {
				link, err := link()
				if err != nil {
					return err
				}
				var out struct {
					SetupSecret string `json:"setup_secret"`
				}
				if err := c.call("POST", "/admin/users/"+*name+"/setup", nil, &out); err != nil {
					return err
				}
				fmt.Fprintf(m.Stdout, "one-time setup link for %s, valid 72 hours:\n%s\n", *name, link(out.SetupSecret))
				return nil
			}
		}},
	{"set-role", "--name N --role R [--unit U] [--badge B]", "change an account's role, unit or badge; its sessions end",
		func(fs *flag.FlagSet) func(*Main, adminAPI) error {
			name := fs.String("name", "", "the account's name")
			role := fs.String("role", "", "officer, supervisor, investigator or admin")
			unit := fs.String("unit", "", "the unit")
			badge := fs.String("badge", "", "the badge number")
			return func(m *Main, c adminAPI) error {
				if err := c.call("POST", "/admin/users/"+*name+"/role", map[string]string{"role": *role, "unit": *unit, "badge": *badge}, nil); err != nil {
					return err
				}
				fmt.Fprintf(m.Stdout, "%s is now %s; their sessions have ended\n", *name, *role)
				return nil
			}
		}},
	{"users", "", "list accounts",
		func(fs *flag.FlagSet) func(*Main, adminAPI) error {
			return func(m *Main, c adminAPI) error {
				return table(m, c, "/admin/users", "NAME ROLE UNIT BADGE ID", func(u account.User) []string {
					return []string{u.Name, string(u.Role), u.Unit, u.Badge, u.ID}
				})
			}
		}},
	{"token", "--user NAME [--expires 24h] [--label L]", "print a personal API token acting as that user",
		func(fs *flag.FlagSet) func(*Main, adminAPI) error {
			user := fs.String("user", "", "the account the token acts as")
			expires := fs.String("expires", "", "how long the token lives, such as 24h (default: until revoked)")
			label := fs.String("label", "", "a note on what the token is for")
			return func(m *Main, c adminAPI) error {
				return issueToken(m, c, map[string]string{"kind": string(account.APIToken), "user": *user, "expires_in": *expires, "name": *label})
			}
		}},
	{"device-token", "--unit U [--device D] [--badge B] [--label L]", "print a token that lets a camera dock or exporter upload for a unit",
		func(fs *flag.FlagSet) func(*Main, adminAPI) error {
			unit := fs.String("unit", "", "the unit the device uploads for")
			device := fs.String("device", "", "the device, such as dock-3")
			badge := fs.String("badge", "", "the badge number of the officer the camera is issued to")
			expires := fs.String("expires", "", "how long the token lives, such as 720h (default: until revoked)")
			label := fs.String("label", "", "a note on what the token is for")
			return func(m *Main, c adminAPI) error {
				return issueToken(m, c, map[string]string{"kind": string(account.DeviceToken), "unit": *unit, "device": *device, "badge": *badge, "expires_in": *expires, "name": *label})
			}
		}},
	{"revoke", "--id TOKEN-ID", "revoke a token",
		func(fs *flag.FlagSet) func(*Main, adminAPI) error {
			id := fs.String("id", "", "a token id, as `sightline admin tokens` lists them")
			return func(m *Main, c adminAPI) error {
				if err := c.call("POST", "/admin/tokens/"+*id+"/revoke", nil, nil); err != nil {
					return err
				}
				fmt.Fprintf(m.Stdout, "revoked %s\n", *id)
				return nil
			}
		}},
	{"tokens", "", "list tokens",
		func(fs *flag.FlagSet) func(*Main, adminAPI) error {
			return func(m *Main, c adminAPI) error {
				return table(m, c, "/admin/tokens", "ID KIND USER UNIT DEVICE STATE", func(t account.Token) []string {
					state := "live"
					if !t.RevokedAt.IsZero() {
						state = "revoked"
					} else if !t.ExpiresAt.IsZero() {
						state = "expires " + t.ExpiresAt.Format("2006-01-02 15:04Z")
					}
					return []string{t.ID, string(t.Kind), t.UserID, t.Unit, t.Device, state}
				})
			}
		}},
}

func issueToken(m *Main, c adminAPI, in map[string]string) error {
	var out struct {
		Token  account.Token `json:"token"`
		Secret string        `json:"secret"`
	}
	if err := c.call("POST", "/admin/tokens", in, &out); err != nil {
		return err
	}
	fmt.Fprintf(m.Stderr, "token %s; shown once, keep it secret; revoke with: sightline admin revoke --id %s\n", out.Token.ID, out.Token.ID)
	fmt.Fprintln(m.Stdout, out.Secret)
	return nil
}

func (m *Main) adminUsage(w io.Writer) {
	fmt.Fprint(w, "usage: sightline admin <command> [--data DIR] [flags]\n\ncommands:\n")
	for _, c := range adminCommands {
		fmt.Fprintf(w, "  %-13s %s\n  %-13s   %s\n", c.name, c.synopsis, "", c.summary)
	}
	fmt.Fprint(w, "\n"+adminAbout+"\nRun \"sightline admin <command> -h\" for a command's flags.\n")
}

// admin runs the operator's account commands.
func (m *Main) admin(ctx context.Context, args []string) error {
	if len(args) == 0 || isHelp(args[0]) {
		m.adminUsage(m.Stderr)
		return flag.ErrHelp
	}
	var cmd *adminCommand
	for i := range adminCommands {
		if adminCommands[i].name == args[0] {
			cmd = &adminCommands[i]
		}
	}
	if cmd == nil {
		fmt.Fprintf(m.Stderr, "sightline admin: unknown command %q\n\n", args[0])
		m.adminUsage(m.Stderr)
		return flag.ErrHelp
	}
	fs := flag.NewFlagSet("sightline admin "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(m.Stderr, "usage: sightline admin %s %s [--data DIR]\n\n%s.\n\nflags:\n", cmd.name, cmd.synopsis, cmd.summary)
		fs.PrintDefaults()
	}
	data := fs.String("data", defaultData, "the server's data folder")
	var st stores
	st.flags(fs)
	logs := verbose(fs, m.Stderr)
	do := cmd.flags(fs)
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("admin %s takes no arguments, only flags: %q", cmd.name, fs.Args())
	}
	logs()
	c, closeFn, err := adminClient(ctx, *data, st)
	if err != nil {
		return err
	}
	defer closeFn()
	return do(m, c)
}

// adminAPI calls the admin API of a server.
type adminAPI struct{ http *http.Client }

func (a adminAPI) call(method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://admin"+path, body)
	if err != nil {
		return err
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var e struct {
			Error string `json:"error"`
		}
		json.NewDecoder(resp.Body).Decode(&e)
		return fmt.Errorf("%s", e.Error)
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// adminClient reaches the running server's admin socket or, if no server
// runs on data, opens it in this process (the data folder's lock keeps the
// two from running at once).
func adminClient(ctx context.Context, data string, st stores) (adminAPI, func(), error) {
	sock := server.AdminSocket(data)
	conn, err := net.Dial("unix", sock)
	if err == nil {
		conn.Close()
		tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}}
		return adminAPI{&http.Client{Transport: tr}}, tr.CloseIdleConnections, nil
	}
	if err := openData(data); err != nil {
		return adminAPI{}, nil, fmt.Errorf("no server answers on %s, and %w", sock, err)
	}
	cfg := server.Config{Data: data}
	if err := st.config(ctx, &cfg); err != nil {
		return adminAPI{}, nil, err
	}
	srv, err := server.Open(ctx, cfg)
	if err != nil {
		return adminAPI{}, nil, fmt.Errorf("no server answers on %s, and opening the data folder failed: %w", sock, err)
	}
	return adminAPI{&http.Client{Transport: handlerTransport{srv.AdminHandler()}}}, func() { srv.Close() }, nil
}

// handlerTransport serves requests with a handler in this process.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

// table prints what GET path lists, a row each, under header's words.
func table[T any](m *Main, c adminAPI, path, header string, row func(T) []string) error {
	var out []T
	if err := c.call("GET", path, nil, &out); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.ReplaceAll(header, " ", "\t"))
	for _, v := range out {
		fmt.Fprintln(tw, strings.Join(row(v), "\t"))
	}
	return tw.Flush()
}
