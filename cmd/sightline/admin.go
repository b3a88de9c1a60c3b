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

const adminUsage = `usage: sightline admin <command> [--data DIR] [flags]

commands:
  create-user --role R --name N [--unit U] [--badge B] [--url URL]
                 create a staff account and print its one-time setup link
  reset-user  --name N [--url URL]
                 a new setup link for an account (lost phone, forgotten password)
  set-role    --name N --role R [--unit U] [--badge B]
  users          list accounts
  token       --user NAME [--expires 24h] [--label L]
                 print a personal API token acting as that user
  device-token --unit U [--device D] [--badge B] [--label L]
                 print a token that lets a camera dock or exporter upload for a unit
  revoke      --id TOKEN-ID
  tokens         list tokens

The commands talk to the running server through DIR/admin.sock; with no
server running they open the data folder themselves. Whoever can reach the
data folder is its operator: every change is logged in the custody log.
`

// admin runs the operator's account commands.
func (m *Main) admin(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(m.Stderr, adminUsage)
		return flag.ErrHelp
	}
	cmd := args[0]
	fs := flag.NewFlagSet("sightline admin "+cmd, flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	data := fs.String("data", "./sightline-data", "the server's data folder")
	base := fs.String("url", "http://127.0.0.1:8080", "the server's public address, for setup links")
	role := fs.String("role", "", "officer, supervisor, investigator or admin")
	name := fs.String("name", "", "the account's name, such as sgt.reyes")
	unit := fs.String("unit", "", "the unit, such as central-patrol")
	badge := fs.String("badge", "", "the badge number (officers; devices issued to one officer)")
	user := fs.String("user", "", "the account an API token acts as")
	expires := fs.String("expires", "", "how long a token lives, such as 24h (default: until revoked)")
	device := fs.String("device", "", "the device a token is for, such as dock-3")
	label := fs.String("label", "", "a note on what the token is for")
	id := fs.String("id", "", "a token id, as `sightline admin tokens` lists them")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	c, closeFn, err := adminClient(ctx, *data)
	if err != nil {
		return err
	}
	defer closeFn()
	link := func(secret string) string { return strings.TrimSuffix(*base, "/") + "/setup/" + secret }

	switch cmd {
	case "create-user":
		var out struct {
			User        account.User `json:"user"`
			SetupSecret string       `json:"setup_secret"`
		}
		if err := c.call("POST", "/admin/users", map[string]string{"name": *name, "role": *role, "unit": *unit, "badge": *badge}, &out); err != nil {
			return err
		}
		fmt.Fprintf(m.Stdout, "created %s (%s, %s)\none-time setup link, valid 72 hours:\n%s\n", out.User.Name, out.User.Role, out.User.ID, link(out.SetupSecret))
	case "reset-user":
		var out struct {
			SetupSecret string `json:"setup_secret"`
		}
		if err := c.call("POST", "/admin/users/"+*name+"/setup", nil, &out); err != nil {
			return err
		}
		fmt.Fprintf(m.Stdout, "one-time setup link for %s, valid 72 hours:\n%s\n", *name, link(out.SetupSecret))
	case "set-role":
		if err := c.call("POST", "/admin/users/"+*name+"/role", map[string]string{"role": *role, "unit": *unit, "badge": *badge}, nil); err != nil {
			return err
		}
		fmt.Fprintf(m.Stdout, "%s is now %s; their sessions have ended\n", *name, *role)
	case "users":
		var out []account.User
		if err := c.call("GET", "/admin/users", nil, &out); err != nil {
			return err
		}
		tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tROLE\tUNIT\tBADGE\tID")
		for _, u := range out {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.Name, u.Role, u.Unit, u.Badge, u.ID)
		}
		return tw.Flush()
	case "token", "device-token":
		in := map[string]string{"kind": string(account.APIToken), "user": *user, "expires_in": *expires, "name": *label}
		if cmd == "device-token" {
			in = map[string]string{"kind": string(account.DeviceToken), "unit": *unit, "device": *device, "badge": *badge, "expires_in": *expires, "name": *label}
		}
		var out struct {
			Token  account.Token `json:"token"`
			Secret string        `json:"secret"`
		}
		if err := c.call("POST", "/admin/tokens", in, &out); err != nil {
			return err
		}
		fmt.Fprintf(m.Stderr, "token %s; shown once, keep it secret; revoke with: sightline admin revoke --id %s\n", out.Token.ID, out.Token.ID)
		fmt.Fprintln(m.Stdout, out.Secret)
	case "revoke":
		if err := c.call("POST", "/admin/tokens/"+*id+"/revoke", nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(m.Stdout, "revoked %s\n", *id)
	case "tokens":
		var out []account.Token
		if err := c.call("GET", "/admin/tokens", nil, &out); err != nil {
			return err
		}
		tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tKIND\tUSER\tUNIT\tDEVICE\tSTATE")
		for _, t := range out {
			state := "live"
			if !t.RevokedAt.IsZero() {
				state = "revoked"
			} else if !t.ExpiresAt.IsZero() {
				state = "expires " + t.ExpiresAt.Format("2006-01-02 15:04Z")
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Kind, t.UserID, t.Unit, t.Device, state)
		}
		return tw.Flush()
	default:
		fmt.Fprintf(m.Stderr, "sightline admin: unknown command %q\n\n%s", cmd, adminUsage)
		return flag.ErrHelp
	}
	return nil
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
func adminClient(ctx context.Context, data string) (adminAPI, func(), error) {
	sock := server.AdminSocket(data)
	conn, err := net.Dial("unix", sock)
	if err == nil {
		conn.Close()
		tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}}
		return adminAPI{&http.Client{Transport: tr}}, tr.CloseIdleConnections, nil
	}
	srv, err := server.Open(ctx, server.Config{Data: data})
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
