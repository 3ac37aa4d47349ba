package servicetest

import (
	"net/http"
	"time"

	"streamcart/internal/platform/auth"
)

// signerSecret is the secret of Signer's signers: one for every call, so
// that a service under test verifies what its test signs.
const signerSecret = "the services' test secret, 32 bytes or more"

// Signer returns a signer of identities as the gateway signs them, for a
// service under test to verify and its test to sign requests with. Every
// signer it returns has the same secret and signs for an hour.
func Signer() *auth.Signer {
	s, err := auth.NewSigner([]byte(signerSecret), time.Hour)
	if err != nil {
		panic("servicetest: " + err.Error()) // only a secret too short fails
	}
	return s
}

// As returns the header of a request that caller sends through the
// gateway: its identity, signed by Signer.
func As(caller auth.Identity) http.Header {
	return http.Header{auth.Header: {Signer().Sign(caller)}}
}
