package forward

import (
	"context"
	"crypto/rand"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
)

// handshake runs in_forward's <security> handshake on a new connection:
//
//	receiver: ["HELO", {"nonce": N, "auth": A, "keepalive": bool}]
//	client:   ["PING", self_hostname, salt, sha512_hex(salt+self_hostname+N+key), "", ""]
//	receiver: ["PONG", ok, reason, its_hostname, sha512_hex(salt+its_hostname+N+key)]
//
// and checks that the receiver's digest proves it knows the same key.
// User and password authentication is not supported (the last two PING
// fields stay empty).
func (c *Client) handshake(ctx context.Context) error {
	v, err := c.readMessage(ctx)
	if err != nil {
		if isTimeout(err) {
			return fmt.Errorf("shared key handshake: no HELO from the receiver within %s (has its input a <security> section?)", c.cfg.DialTimeout)
		}
		return fmt.Errorf("shared key handshake: %w", err)
	}
	helo, ok := v.([]any)
	if !ok || len(helo) != 2 || helo[0] != "HELO" {
		return fmt.Errorf("shared key handshake: want HELO from the receiver, got %.200v", v)
	}
	opts, _ := helo[1].(map[string]any)
	nonce, _ := text(opts["nonce"])

	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return fmt.Errorf("shared key handshake: salt: %w", err)
	}
	salt := hex.EncodeToString(raw[:])
	ping := appendArrayHeader(nil, 6)
	for _, s := range []string{"PING", c.hostname, salt, digest(salt, c.hostname, nonce, c.cfg.SharedKey), "", ""} {
		ping = appendString(ping, s)
	}
	if err := c.write(ctx, ping); err != nil {
		return fmt.Errorf("shared key handshake: write PING: %w", err)
	}

	v, err = c.readMessage(ctx)
	if err != nil {
		return fmt.Errorf("shared key handshake: read PONG: %w", err)
	}
	pong, ok := v.([]any)
	if !ok || len(pong) != 5 || pong[0] != "PONG" {
		return fmt.Errorf("shared key handshake: want PONG from the receiver, got %.200v", v)
	}
	if accepted, _ := pong[1].(bool); !accepted {
		reason, _ := text(pong[2])
		return &AuthError{Reason: "the receiver refused: " + reason}
	}
	host, _ := text(pong[3])
	answer, _ := text(pong[4])
	if host == c.hostname {
		// A receiver echoing our own name could be replaying our PING.
		return &AuthError{Reason: fmt.Sprintf("the receiver's self_hostname %q is this client's own", host)}
	}
	if answer != digest(salt, host, nonce, c.cfg.SharedKey) {
		return &AuthError{Reason: "the receiver's answer does not match the shared key"}
	}
	return nil
}

// digest is sha512_hex of the concatenated parts.
func digest(parts ...string) string {
	h := sha512.New()
	for _, p := range parts {
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil))
}
