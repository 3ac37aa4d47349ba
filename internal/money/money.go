// Package money handles amounts of money as integer minor units (cents),
// never as floating point, and their decimal text form "39.99".
package money

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Format returns cents as a decimal string with two places: 3999 → "39.99",
// -150 → "-1.50".
func Format(cents int64) string {
	sign := ""
	u := uint64(cents)
	if cents < 0 {
		sign, u = "-", uint64(-cents)
	}
	return fmt.Sprintf("%s%d.%02d", sign, u/100, u%100)
}

// Parse reads a decimal amount with at most two places ("39.99", "40",
// "0.5") into cents. It rejects signs, exponents and anything else.
func Parse(s string) (int64, error) {
	whole, frac, hasFrac := strings.Cut(s, ".")
	if whole == "" || (hasFrac && (frac == "" || len(frac) > 2)) || !digits(whole) || !digits(frac) {
		return 0, fmt.Errorf("amount %q: want digits with at most two decimal places", s)
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || w > (1<<62)/100 {
		return 0, fmt.Errorf("amount %q: too large", s)
	}
	f := int64(0)
	if frac != "" {
		f, _ = strconv.ParseInt(frac, 10, 64)
		if len(frac) == 1 {
			f *= 10
		}
	}
	return w*100 + f, nil
}

func digits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// ErrOverflow is returned by Mul when a product does not fit in int64.
var ErrOverflow = errors.New("amount overflows")

// Mul returns cents × qty, or ErrOverflow.
func Mul(cents int64, qty int64) (int64, error) {
	if qty != 0 && (cents > (1<<63-1)/qty || cents < -(1<<63-1)/qty) {
		return 0, ErrOverflow
	}
	return cents * qty, nil
}
