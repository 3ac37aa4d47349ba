package main

import (
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"time"

	"streamcart/internal/platform/auth"
)

// maxTokenTTL bounds the life of a minted token: a leaked one stops
// working within a day.
const maxTokenTTL = 24 * time.Hour

const tokenUsage = `usage: streamcart token [flags]

Print a credential for calling a service directly: an identity signed with
the identity secret, the value of the X-Streamcart-Identity header. The
services take it as they take the gateway's. For a catalog write:

  curl -X PATCH -H "X-Streamcart-Identity: $(streamcart token --as alice)" \
       -H 'Content-Type: application/json' -d '{"priceCents": 2599}' \
       http://products.internal:8081/products/p-00003

Roles: operator (catalog writes, any payment), shopper (one shopper's
orders; --as is the user id), service (--as names the service), reader
(catalog reads; no --as).`

// runToken prints a signed identity for a direct call to a service.
func runToken(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("streamcart token", flag.ContinueOnError)
	secret := fs.String("identity-secret", "", "hex secret (>= 32 bytes) the services share with the gateway")
	role := fs.String("role", string(auth.RoleOperator), "role of the identity: operator, shopper, service or reader")
	as := fs.String("as", "operator", "who the identity is: the operator's name, the shopper's user id or the service's name (ignored for reader)")
	ttl := fs.Duration("ttl", time.Hour, "how long the token is valid (at most 24h)")
	if err := parseFlags(fs, "STREAMCART", tokenUsage, args, stdout, stderr); err != nil {
		return err
	}
	key, err := hex.DecodeString(*secret)
	if err != nil || len(key) < auth.MinSecretLen {
		return usageErrorf("--identity-secret (env STREAMCART_IDENTITY_SECRET) must be the services' secret: at least %d bytes, hex encoded", auth.MinSecretLen)
	}
	if *ttl <= 0 || *ttl > maxTokenTTL {
		return usageErrorf("--ttl %v is not between 0 and %v", *ttl, maxTokenTTL)
	}
	id := auth.Identity{Role: auth.Role(*role), UserID: *as}
	if id.Role == auth.RoleReader {
		id.UserID = ""
	}
	if err := id.Validate(); err != nil {
		return usageErrorf("token: %v", err)
	}
	signer, err := auth.NewSigner(key, *ttl)
	if err != nil {
		return usageError{err}
	}
	fmt.Fprintln(stdout, signer.Sign(id))
	fmt.Fprintf(stderr, "token: role %s, user %q, valid until %s\n", id.Role, id.UserID, time.Now().Add(*ttl).UTC().Format(time.RFC3339))
	return nil
}
