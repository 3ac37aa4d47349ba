package storefront

import (
	"fmt"
	"html/template"
	"time"
)

// pageFiles are the full pages; each defines "content" for layout.html.
var pageFiles = []string{"dashboard.html", "cart.html", "orders.html", "order.html", "ops.html", "journey.html", "login.html", "error.html"}

// fragments are the parts that the pages' script fetches on their own.
var fragments = []string{"results-fragment", "orders-fragment", "ops-fragment", "error-fragment"}

// parseTemplates parses every page with the layout and the partials, and
// indexes pages and fragments by name.
func (s *Storefront) parseTemplates() (map[string]*template.Template, error) {
	common, err := template.New("common").Funcs(templateFuncs).ParseFS(templateFS, "templates/layout.html", "templates/partials.html")
	if err != nil {
		return nil, err
	}
	out := map[string]*template.Template{}
	for _, name := range pageFiles {
		t, err := common.Clone()
		if err != nil {
			return nil, err
		}
		if t, err = t.ParseFS(templateFS, "templates/"+name); err != nil {
			return nil, err
		}
		out[name] = t.Lookup(name)
	}
	for _, name := range fragments {
		if out[name] = common.Lookup(name); out[name] == nil {
			return nil, fmt.Errorf("storefront: no template %q", name)
		}
	}
	return out, nil
}

var templateFuncs = template.FuncMap{
	"money":         formatMoney,
	"shortID":       shortID,
	"statusTone":    statusTone,
	"statusCaption": statusCaption,
	"score":         func(f float64) string { return fmt.Sprintf("%.2f", f) },
	"dur":           formatDuration,
	"rate":          func(r float64) string { return fmt.Sprintf("%.1f", r) },
	// opsStream pairs a stream of the operations page with its form
	// token, for the "ops-stream" partial.
	"opsStream": func(s any, token string) any {
		return struct {
			Stream any
			Token  string
		}{s, token}
	},
}

// statusTone is the badge color of an order status: ok, fail or wait.
func statusTone(status int) string {
	switch status {
	case 4:
		return "ok"
	case -4:
		return "fail"
	}
	return "wait"
}

// statusCaption says what an order status means to the shopper. The
// page's script has the same table.
func statusCaption(status int) string {
	switch status {
	case 4:
		return "Paid — thank you!"
	case -4:
		return "Payment declined"
	case 3:
		return "Taking payment…"
	case 0, 1, 2:
		return "Waiting for payment…"
	}
	return ""
}

// formatDuration shows d briefly: "850ms", "12s", "3m 4s", "2h 5m".
func formatDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm %ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh %dm", int(d.Hours()), int(d.Minutes())%60)
}
