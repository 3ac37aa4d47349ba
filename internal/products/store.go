package products

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Versioned is a product as stored, with its version: the number of its
// changes, from 1. The cache compares it to keep the newest entry, and so
// does the orders service's copy of the prices.
type Versioned struct {
	Product
	Version int64 `json:"version"`
}

// store runs the catalog's SQL.
type store struct {
	pool *pgxpool.Pool
}

// columns are the columns scan reads, in order.
const columns = `id, display_name, brand, master_category, sub_category, article_type,
	gender, age_group, variant_name, description, price_cents, currency, active, updated_at, version`

func scan(row pgx.Row, extra ...any) (Versioned, error) {
	var r Versioned
	p := &r.Product
	dest := append([]any{&p.ID, &p.DisplayName, &p.Brand, &p.MasterCategory, &p.SubCategory, &p.ArticleType,
		&p.Gender, &p.AgeGroup, &p.VariantName, &p.Description, &p.PriceCents, &p.Currency, &p.Active, &p.UpdatedAt, &r.Version},
		extra...)
	if err := row.Scan(dest...); err != nil {
		return Versioned{}, err
	}
	p.ImageURL = ImagePath(p.ID)
	p.UpdatedAt = p.UpdatedAt.UTC()
	return r, nil
}

// product returns the product with id, active or not.
func (s *store) product(ctx context.Context, id string) (Versioned, error) {
	r, err := scan(s.pool.QueryRow(ctx, "SELECT "+columns+" FROM products.products WHERE id = $1", id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Versioned{}, fmt.Errorf("product %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Versioned{}, fmt.Errorf("select product %s: %w", id, err)
	}
	return r, nil
}

// products returns the products among ids, active or not, in no order.
func (s *store) products(ctx context.Context, ids []string) ([]Versioned, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+columns+" FROM products.products WHERE id = ANY($1)", ids)
	if err != nil {
		return nil, fmt.Errorf("select %d products: %w", len(ids), err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Versioned, error) { return scan(row) })
	if err != nil {
		return nil, fmt.Errorf("select %d products: %w", len(ids), err)
	}
	return out, nil
}

// search returns a page of active products matching q, which must be
// normalized. The SQL has only the conditions q needs: with optional
// conditions written as "$1 is empty OR …" a cached generic plan could not
// use the trigram index.
func (s *store) search(ctx context.Context, q Query) (Page, error) {
	var (
		where = []string{"active"}
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if q.Q != "" {
		where = append(where, "lower(display_name) LIKE lower("+arg("%"+escapeLike(q.Q)+"%")+")")
	}
	if master, sub := q.categories(); master != "" || sub != "" {
		where = append(where, "lower(master_category) = lower("+arg(master)+")")
		if sub != "" {
			where = append(where, "lower(sub_category) = lower("+arg(sub)+")")
		}
	}
	cond := strings.Join(where, " AND ")
	sql := "SELECT " + columns + ", count(*) OVER () FROM products.products WHERE " + cond +
		` ORDER BY display_name COLLATE "C", id LIMIT ` + arg(q.Limit) + " OFFSET " + arg(q.Offset)
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return Page{}, fmt.Errorf("search products: %w", err)
	}
	page := Page{Products: []Product{}, Limit: q.Limit, Offset: q.Offset}
	for rows.Next() {
		r, err := scan(rows, &page.Total)
		if err != nil {
			rows.Close()
			return Page{}, fmt.Errorf("search products: %w", err)
		}
		page.Products = append(page.Products, r.Product)
	}
	if err := rows.Err(); err != nil {
		return Page{}, fmt.Errorf("search products: %w", err)
	}
	if len(page.Products) == 0 && q.Offset > 0 {
		// Past the last page the window count has no row to ride on.
		count := "SELECT count(*) FROM products.products WHERE " + cond
		if err := s.pool.QueryRow(ctx, count, args[:len(args)-2]...).Scan(&page.Total); err != nil {
			return Page{}, fmt.Errorf("count products: %w", err)
		}
	}
	return page, nil
}

// escapeLike quotes the LIKE wildcards of s, so it matches literally.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// update applies p, which must be normalized, to the product with id as
// part of tx and returns the result.
func update(ctx context.Context, tx pgx.Tx, id string, p Patch) (Versioned, error) {
	r, err := scan(tx.QueryRow(ctx, `UPDATE products.products SET
			price_cents  = COALESCE($2, price_cents),
			active       = COALESCE($3, active),
			display_name = COALESCE($4, display_name),
			version      = version + 1,
			updated_at   = now()
		WHERE id = $1
		RETURNING `+columns, id, p.PriceCents, p.Active, p.DisplayName))
	if errors.Is(err, pgx.ErrNoRows) {
		return Versioned{}, fmt.Errorf("product %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Versioned{}, fmt.Errorf("update product %s: %w", id, err)
	}
	return r, nil
}

// categories counts the active products per master and sub category.
func (s *store) categories(ctx context.Context) ([]Category, error) {
	rows, err := s.pool.Query(ctx, `SELECT master_category, sub_category, count(*)
		FROM products.products WHERE active
		GROUP BY master_category, sub_category
		ORDER BY master_category COLLATE "C", sub_category COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("count categories: %w", err)
	}
	out := []Category{}
	var master, sub string
	var n int
	_, err = pgx.ForEachRow(rows, []any{&master, &sub, &n}, func() error {
		if len(out) == 0 || out[len(out)-1].Name != master {
			out = append(out, Category{Name: master})
		}
		c := &out[len(out)-1]
		c.Count += n
		c.SubCategories = append(c.SubCategories, SubCategory{Name: sub, Count: n})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("count categories: %w", err)
	}
	return out, nil
}

// seed inserts catalog if the table is empty and returns how many products
// it inserted. Replicas seeding at once are serialized by a table lock
// that conflicts with itself, so exactly one inserts. announce is called
// in the same transaction with the products as inserted, for their
// events to commit with them.
func (s *store) seed(ctx context.Context, catalog []Product, announce func(pgx.Tx, []Versioned) error) (int, error) {
	var exists bool
	if err := s.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM products.products)").Scan(&exists); err != nil {
		return 0, fmt.Errorf("seed: %w", err)
	}
	if exists {
		return 0, nil
	}
	var n int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "LOCK TABLE products.products IN SHARE ROW EXCLUSIVE MODE"); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM products.products)").Scan(&exists); err != nil || exists {
			return err
		}
		var err error
		n, err = tx.CopyFrom(ctx, pgx.Identifier{Schema, "products"},
			[]string{"id", "display_name", "brand", "master_category", "sub_category", "article_type",
				"gender", "age_group", "variant_name", "description", "price_cents", "currency", "active"},
			pgx.CopyFromSlice(len(catalog), func(i int) ([]any, error) {
				p := catalog[i]
				return []any{p.ID, p.DisplayName, p.Brand, p.MasterCategory, p.SubCategory, p.ArticleType,
					p.Gender, p.AgeGroup, p.VariantName, p.Description, p.PriceCents, p.Currency, p.Active}, nil
			}))
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, "SELECT "+columns+" FROM products.products ORDER BY id")
		if err != nil {
			return err
		}
		inserted, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Versioned, error) { return scan(row) })
		if err != nil {
			return err
		}
		return announce(tx, inserted)
	})
	if err != nil {
		return 0, fmt.Errorf("seed: %w", err)
	}
	return int(n), nil
}

// page returns up to limit products, active or not, whose ids sort after
// after, in the order of the primary key's index.
func (s *store) page(ctx context.Context, after string, limit int) ([]Versioned, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+columns+" FROM products.products WHERE id > $1 ORDER BY id LIMIT $2",
		after, limit)
	if err != nil {
		return nil, fmt.Errorf("select products after %q: %w", after, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Versioned, error) { return scan(row) })
	if err != nil {
		return nil, fmt.Errorf("select products after %q: %w", after, err)
	}
	return out, nil
}

// ping checks that the database answers.
func (s *store) ping(ctx context.Context) error { return s.pool.Ping(ctx) }
