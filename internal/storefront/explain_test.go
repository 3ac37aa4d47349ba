package storefront

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"streamcart/internal/platform/errs"
)

// TestExplainGivesEveryKindItsStatusAndPlainWords: a page's own error
// is shown with the status of its kind and its message as it is, except
// that rate limits, outages and faults of the server get the shop's own
// sentence; an API's answer is shown with its message as a sentence,
// except for not found, which names nothing the shopper knows.
func TestExplainGivesEveryKindItsStatusAndPlainWords(t *testing.T) {
	const said = "Choose a quantity from 1 to 99."
	page := func(k errs.Kind) error { return errs.E(k, "", said) }
	answer := func(k errs.Kind, msg string) error { return &apiError{Kind: k, Code: "some_code", Message: msg} }
	tests := []struct {
		name       string
		err        error
		wantStatus int
		wantMsg    string
	}{
		{"page internal", page(errs.KindInternal), 500, msgSorry},
		{"page invalid", page(errs.KindInvalid), 400, said},
		{"page not found", page(errs.KindNotFound), 404, said},
		{"page conflict", page(errs.KindConflict), 409, said},
		{"page unprocessable", page(errs.KindUnprocessable), 422, said},
		{"page unauthorized", page(errs.KindUnauthorized), 401, said},
		{"page forbidden", page(errs.KindForbidden), 403, said},
		{"page unavailable", page(errs.KindUnavailable), 503, msgDown},
		{"page too large", page(errs.KindTooLarge), 413, said},
		{"page unsupported media", page(errs.KindUnsupportedMedia), 415, said},
		{"page rate limited", page(errs.KindRateLimited), 429, msgRateLimited},
		{"page timeout", page(errs.KindTimeout), 504, msgDown},
		{"page bad gateway", page(errs.KindBadGateway), 502, msgDown},

		{"api invalid", answer(errs.KindInvalid, "qty must be 1 to 99"), 400, "Qty must be 1 to 99."},
		{"api not found", answer(errs.KindNotFound, "order o1 not found"), 404, msgNotFound},
		{"api conflict", answer(errs.KindConflict, "the price of p1 is now 40.00"), 409, "The price of p1 is now 40.00."},
		{"api unprocessable", answer(errs.KindUnprocessable, "cart is empty"), 422, "Cart is empty."},
		{"api unauthorized", answer(errs.KindUnauthorized, "no session"), 401, "No session."},
		{"api forbidden", answer(errs.KindForbidden, "not yours"), 403, "Not yours."},
		{"api too large", answer(errs.KindTooLarge, "body too large"), 413, "Body too large."},
		{"api unsupported media", answer(errs.KindUnsupportedMedia, "send json"), 415, "Send json."},
		{"api rate limited", answer(errs.KindRateLimited, "slow down"), 429, msgRateLimited},
		{"api unavailable", answer(errs.KindUnavailable, "database down"), 503, msgDown},
		{"api answer without a message", answer(errs.KindConflict, ""), 409, msgRefused},

		{"page words about an api answer win", refusal(errs.KindNotFound, answer(errs.KindNotFound, "order o1 not found"), "We could not find that order."),
			404, "We could not find that order."},
		{"wrapped api answer", fmt.Errorf("get cart: %w", answer(errs.KindRateLimited, "")), 429, msgRateLimited},
		{"api unreachable", errs.Unavailable(errors.New("connection refused"), msgUnreachable), 503, msgDown},
		{"any other error", errors.New("decode answer: unexpected EOF"), 500, msgSorry},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, msg := explain(tt.err)
			if status != tt.wantStatus || msg != tt.wantMsg {
				t.Errorf("explain(%v) = %d %q, want %d %q", tt.err, status, msg, tt.wantStatus, tt.wantMsg)
			}
		})
	}
}

// TestAnswerKindShowsEveryServerErrorAsUnavailable: the kind of an API
// answer is its status's kind, but any 5xx is Unavailable and a 4xx the
// web layer does not know is Invalid.
func TestAnswerKindShowsEveryServerErrorAsUnavailable(t *testing.T) {
	tests := []struct {
		status int
		want   errs.Kind
	}{
		{http.StatusBadRequest, errs.KindInvalid},
		{http.StatusUnauthorized, errs.KindUnauthorized},
		{http.StatusForbidden, errs.KindForbidden},
		{http.StatusNotFound, errs.KindNotFound},
		{http.StatusMethodNotAllowed, errs.KindInvalid},
		{http.StatusConflict, errs.KindConflict},
		{http.StatusRequestEntityTooLarge, errs.KindTooLarge},
		{http.StatusUnsupportedMediaType, errs.KindUnsupportedMedia},
		{http.StatusUnprocessableEntity, errs.KindUnprocessable},
		{http.StatusTooManyRequests, errs.KindRateLimited},
		{http.StatusInternalServerError, errs.KindUnavailable},
		{http.StatusNotImplemented, errs.KindUnavailable},
		{http.StatusBadGateway, errs.KindUnavailable},
		{http.StatusServiceUnavailable, errs.KindUnavailable},
		{http.StatusGatewayTimeout, errs.KindUnavailable},
	}
	for _, tt := range tests {
		if got := answerKind(tt.status); got != tt.want {
			t.Errorf("answerKind(%d) = %s, want %s", tt.status, got, tt.want)
		}
	}
}
