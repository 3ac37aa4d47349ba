// Package chaos is the fault suite, run by "make chaos" and not by
// "make test": its test (build tag chaos) starts streamcart as separate
// "streamcart serve" processes, two of them payments, on a managed Redis
// and PostgreSQL, drives them with the load generator and injects one
// fault per scenario: SIGKILL or SIGTERM a payments process, SIGKILL
// Redis, restart Redis empty, stop PostgreSQL -m immediate, duplicate and
// poison entries. It prints one line per scenario with its figures and
// PASS or FAIL. See docs/operations.md, "Fault suite".
package chaos
