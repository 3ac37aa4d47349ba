// Package postgres opens connection pools and applies each service's
// embedded migrations to the service's own schema.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Open returns a pool for url with at most maxConns connections (0 keeps
// pgx's default) once a ping succeeds, waiting at most 10s.
func Open(ctx context.Context, url string, maxConns int32) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres url: %w", err)
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	// A request must fail fast while the database is down, not wait for
	// the OS's TCP timeouts.
	cfg.ConnConfig.ConnectTimeout = 2 * time.Second
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres pool: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres ping %s: %w", cfg.ConnConfig.Host, err)
	}
	return pool, nil
}

// Migrate applies the migrations/*.sql files of fsys (a service's
// embedded files), in name order, that schema has
// not had yet, each in its own transaction together with its record in
// <schema>.schema_migrations. The schema is created if missing. Replicas
// starting together are serialized by an advisory lock, so each file runs
// once.
func Migrate(ctx context.Context, pool *pgxpool.Pool, schema string, fsys fs.FS) error {
	files, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return err
	}
	slices.Sort(files)
	s := pgx.Identifier{schema}.Sanitize()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", schema, err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock(hashtext($1))", "migrate:"+schema); err != nil {
		return fmt.Errorf("migrate %s: lock: %w", schema, err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(hashtext($1))", "migrate:"+schema) //nolint:errcheck // released with the session anyway

	setup := fmt.Sprintf(`CREATE SCHEMA IF NOT EXISTS %[1]s;
		CREATE TABLE IF NOT EXISTS %[1]s.schema_migrations (
			version    text PRIMARY KEY,
			applied_at timestamptz NOT NULL DEFAULT now())`, s)
	if _, err := conn.Exec(ctx, setup); err != nil {
		return fmt.Errorf("migrate %s: %w", schema, err)
	}
	for _, name := range files {
		if err := applyOnce(ctx, conn.Conn(), fsys, s, name); err != nil {
			return fmt.Errorf("migrate %s: %s: %w", schema, name, err)
		}
	}
	return nil
}

func applyOnce(ctx context.Context, conn *pgx.Conn, fsys fs.FS, schema, name string) error {
	sql, err := fs.ReadFile(fsys, name)
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "INSERT INTO "+schema+".schema_migrations (version) VALUES ($1) ON CONFLICT DO NOTHING", name)
		if err != nil || tag.RowsAffected() == 0 {
			return err // applied before
		}
		_, err = tx.Exec(ctx, string(sql))
		return err
	})
}

// IsUnavailable reports whether err means the database could not be
// reached, the connection broke, or the server will not take work now
// (shutting down, starting up, in recovery, read-only, out of
// connections), as opposed to a problem with the query. It is the one
// place that decides this, for HTTP (503) and consumers (retry) alike.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// Class 08: connection exception; 57P: operator intervention
		// (admin shutdown, crash shutdown, cannot connect now); 53300:
		// too many connections; 25006: read-only transaction (a standby
		// or a primary being demoted).
		return strings.HasPrefix(pgErr.Code, "08") || strings.HasPrefix(pgErr.Code, "57P") ||
			pgErr.Code == "53300" || pgErr.Code == "25006"
	}
	var (
		connErr *pgconn.ConnectError
		netErr  net.Error
	)
	return errors.As(err, &connErr) || pgconn.SafeToRetry(err) || pgconn.Timeout(err) ||
		errors.Is(err, context.DeadlineExceeded) || errors.As(err, &netErr) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, pgconn.ErrConnClosed) || strings.Contains(err.Error(), "closed pool")
}

// OutcomeUnknown reports whether err, returned by a statement that writes
// or by a COMMIT, leaves unknown whether the write happened: the database
// went away or the connection broke (IsUnavailable) after the statement
// may have reached the server, which may have committed it before the
// answer was lost. The caller cannot tell, so it must not say the write
// failed; a retry has to find out (by an idempotency key, say).
//
// It is false when the write certainly did not happen: no connection was
// had (a failed connect, which includes the server refusing connections
// while it starts, shuts down or is full; a closed pool; a deadline met
// waiting for a free connection), nothing was sent (a context done before
// sending), or the server refused the statement (read-only). It is also
// false for an error that is not an outage, such as a constraint
// violation: the statement failed, and nothing of it was committed.
//
// A closed connection ("conn closed") counts as unknown although pgx
// calls it safe to retry: when the connection breaks while pgx waits for
// the answer to a statement it sent, pgx may drop the read error and
// report the connection closed instead. A pool never lends a connection
// that was closed before, so through a pool it means that.
func OutcomeUnknown(err error) bool {
	if !IsUnavailable(err) {
		return false
	}
	var connErr *pgconn.ConnectError
	if errors.As(err, &connErr) || strings.Contains(err.Error(), "closed pool") {
		return false
	}
	// pgconn wraps a deadline met during a statement as a timeout
	// (pgconn.Timeout); a bare one was met waiting for a connection.
	if errors.Is(err, context.DeadlineExceeded) && !pgconn.Timeout(err) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "25006" { // read_only_sql_transaction
		return false
	}
	return !pgconn.SafeToRetry(err) || errors.Is(err, pgconn.ErrConnClosed)
}

// IsUniqueViolation reports whether err is a unique constraint violation.
func IsUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}
