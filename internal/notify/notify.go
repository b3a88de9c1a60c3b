// Package notify sends the messages Sightline owes people outside it: a
// complainant's notices by email. A message says what happened and where
// to look; it never carries a key or a token (email is not private).
package notify

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/smtp"
	"strings"
	"time"
)

// Mailer sends one plain-text email. Send returns once the server has
// accepted the message for delivery; an error means it may not have.
type Mailer interface {
	Send(ctx context.Context, to, subject, body string) error
}

// SMTP sends through an SMTP server (a relay that needs no login, such as
// the local MTA), with STARTTLS when the server offers it.
type SMTP struct {
	Addr string // host:port
	From string
}

var _ Mailer = SMTP{}

// Send delivers one message.
func (m SMTP) Send(ctx context.Context, to, subject, body string) error {
	if strings.ContainsAny(to+subject+m.From, "\r\n") {
		return fmt.Errorf("notify: a header holds a line break")
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", m.Addr)
	if err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	defer conn.Close()
	if d, ok := ctx.Deadline(); ok {
		conn.SetDeadline(d)
	}
	host, _, _ := net.SplitHostPort(m.Addr)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(&tls.Config{ServerName: host}); err != nil {
			return fmt.Errorf("notify: STARTTLS: %w", err)
		}
	}
	if err := c.Mail(m.From); err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	if err := c.Rcpt(to); err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	msg := "From: " + m.From + "\r\nTo: " + to + "\r\nSubject: " + subject + "\r\nDate: " + time.Now().UTC().Format(time.RFC1123Z) +
		"\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + strings.ReplaceAll(body, "\n", "\r\n")
	if _, err := w.Write([]byte(msg)); err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	return c.Quit()
}
