package web_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sightline/sightline/internal/account"
	"github.com/sightline/sightline/internal/media/mediatest"
	"github.com/sightline/sightline/internal/server"
	"github.com/sightline/sightline/internal/server/servertest"
)

// A client that sends a body one byte at a time is cut off once the body
// has had its time (BodyTimeout), outside uploads: the server answers or
// closes the connection while the client is still sending.
func TestSlowBodiesAreCutOff(t *testing.T) {
	env := servertest.Start(t, func(c *server.Config) { c.BodyTimeout = time.Second })
	conn, err := net.Dial("tcp", strings.TrimPrefix(env.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /api/v1/receipts/refresh HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{")
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
			if _, err := conn.Write([]byte(" ")); err != nil {
				return
			}
		}
	}()
	// The deadline is the test's, far past the server's second.
	conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Errorf("a trickled body answered %d", resp.StatusCode)
		}
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the server still read a trickled body after a minute")
	}
}

// Behind a trusted proxy, failures count against the address it names
// in X-Forwarded-For, so one client's guesses block that client only; a
// client that is not a trusted proxy cannot name an address to escape.
func TestTrustedProxyNamesTheClient(t *testing.T) {
	loopback := netip.MustParsePrefix("127.0.0.1/32")
	for _, tc := range []struct {
		name    string
		proxies []netip.Prefix
		other   int // the second client's answer once the first is blocked
	}{
		{"trusted proxy", []netip.Prefix{loopback}, 404},
		{"no trusted proxy", nil, 429},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := servertest.Start(t, func(c *server.Config) { c.FailureLimit = 2; c.TrustedProxies = tc.proxies })
			r, _ := uploadAs(t, env, "", mediatest.NoiseWAV(30_000, 9), map[string]string{"source": "phone"})
			guess := func(client string) int {
				got, _ := callH(t, env, "GET", "/api/v1/evidence/"+r.ID, "wrong", "", map[string]string{"X-Forwarded-For": "203.0.113.9, " + client})
				return got
			}
			for range 2 {
				if got := guess("198.51.100.1"); got != 404 {
					t.Fatalf("a first guess: %d", got)
				}
			}
			if got := guess("198.51.100.1"); got != 429 {
				t.Errorf("the guessing client's third guess: %d, want 429", got)
			}
			if got := guess("198.51.100.2"); got != tc.other {
				t.Errorf("another client's guess: %d, want %d", got, tc.other)
			}
		})
	}
}

// Staff names cannot be found out through the share endpoint: a wrong
// name counts as a failed attempt, and past the limit every name is
// answered 429.
func TestShareNamesCannotBeEnumerated(t *testing.T) {
	env := servertest.Start(t, func(c *server.Config) { c.FailureLimit = 3 })
	env.StaffToken("sgt.reyes", account.Supervisor, "central", "301")
	r, _ := uploadAs(t, env, "", mediatest.NoiseWAV(30_000, 9), map[string]string{"source": "phone"})
	for _, name := range []string{"sgt.a", "sgt.b", "sgt.c"} {
		if got, body := call(t, env, "POST", "/api/v1/evidence/"+r.ID+"/shares", r.AccessToken, `{"user":"`+name+`"}`); got != 400 {
			t.Fatalf("sharing with %s: %d %s", name, got, body)
		}
	}
	if got, body := call(t, env, "POST", "/api/v1/evidence/"+r.ID+"/shares", r.AccessToken, `{"user":"sgt.reyes"}`); got != 429 {
		t.Errorf("a real name after 3 wrong ones: %d %s, want 429", got, body)
	}
}

// What an address without an account may make the server store is
// bounded: uploads begun, share codes and shares count together; past
// the limit they answer 429. A device's uploads are not counted.
func TestWritesWithoutAnAccountAreLimited(t *testing.T) {
	env := servertest.Start(t, func(c *server.Config) { c.WriteLimit = 4 })
	_, device, err := env.Server.Accounts().IssueToken(t.Context(), "test", account.Token{Kind: account.DeviceToken, Unit: "north", Device: "dock-1"})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := uploadAs(t, env, "", mediatest.NoiseWAV(30_000, 9), map[string]string{"source": "phone"}) // 1
	for i := range 3 {                                                                                // 2, 3, 4
		if got, body := call(t, env, "POST", "/api/v1/evidence/"+r.ID+"/share-codes", r.AccessToken, ""); got != 201 {
			t.Fatalf("share code %d: %d %s", i, got, body)
		}
	}
	create := func(token string) int {
		h := map[string]string{"Upload-Length": "1000", "Upload-Metadata": "source cGhvbmU="}
		if token != "" {
			h["Authorization"] = "Bearer " + token
		}
		resp, _ := env.Do("POST", "/api/v1/uploads/", h, nil)
		return resp.StatusCode
	}
	if got := create(""); got != 429 {
		t.Errorf("a fifth write from the address: %d, want 429", got)
	}
	if got, _ := call(t, env, "POST", "/api/v1/evidence/"+r.ID+"/share-codes", r.AccessToken, ""); got != 429 {
		t.Errorf("a share code past the limit: %d, want 429", got)
	}
	if got := create(device); got != 201 {
		t.Errorf("a device's upload from the same address: %d, want 201", got)
	}
}
