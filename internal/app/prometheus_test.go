package app_test

import (
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"streamcart/internal/app"
	"streamcart/internal/platform/servers"
	"streamcart/internal/platform/testenv"
)

// observability is the directory of the Prometheus configuration and
// alert rules.
const observability = "../../deploy/observability"

// prometheusBinary returns the path of Debian's prometheus. Without one
// the test fails in CI and is skipped elsewhere.
func prometheusBinary(t *testing.T) string {
	t.Helper()
	return testenv.Program(t, "prometheus not found; install it with: bash scripts/deps.sh (sudo apt-get install -y prometheus)", "prometheus")
}

// startPrometheus runs prometheus on a free loopback port, in a
// temporary directory, with deploy/observability's configuration and
// rules, its targets moved to metricsHost and its scrapes and rule
// evaluations made every second. It returns Prometheus's base URL; the process is stopped at the
// end of the test.
func startPrometheus(t *testing.T, metricsHost string) string {
	t.Helper()
	bin := prometheusBinary(t)
	dir := testenv.TempDir(t)
	config, err := os.ReadFile(filepath.Join(observability, "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(config)
	for _, want := range []string{"127.0.0.1:9464", "scrape_interval: 5s", "evaluation_interval: 5s"} {
		if !strings.Contains(text, want) {
			t.Fatalf("prometheus.yml has no %q to replace:\n%s", want, text)
		}
	}
	text = strings.ReplaceAll(text, "127.0.0.1:9464", metricsHost)
	text = strings.ReplaceAll(text, "scrape_interval: 5s", "scrape_interval: 1s")
	text = strings.ReplaceAll(text, "evaluation_interval: 5s", "evaluation_interval: 1s")
	rules, err := os.ReadFile(filepath.Join(observability, "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"prometheus.yml": []byte(text), "alerts.yml": rules} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var out testenv.Buffer // written by prometheus as the test reads it
	cmd := exec.Command(bin,
		"--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--log.level=warn")
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the test
	exit, err := servers.StartChild(cmd)
	if err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{}) // closed once prometheus has exited, with exitErr
	var exitErr error
	go func() {
		exitErr = <-exit
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("prometheus did not stop within 20s of SIGTERM")
		}
		if t.Failed() {
			t.Logf("prometheus's output:\n%s", out.String())
		}
	})
	base := "http://" + addr
	testenv.WaitFor(t, 60*time.Second, "prometheus ready", func() bool {
		select {
		case <-exited:
			t.Fatalf("prometheus exited: %v\n%s", exitErr, out.String())
		default:
		}
		resp, err := httpGet(base + "/-/ready")
		return err == nil && resp == 200
	})
	return base
}

// promClient is the tests' client of Prometheus's HTTP API.
var promClient = &http.Client{Timeout: 10 * time.Second}

// httpGet returns the status of GET u.
func httpGet(u string) (int, error) {
	resp, err := promClient.Get(u)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// promSample is one sample of an instant query's answer.
type promSample struct {
	Metric map[string]string
	Value  float64
}

// query runs the PromQL instant query q against the Prometheus at base.
func query(t *testing.T, base, q string) []promSample {
	t.Helper()
	resp, body := testenv.Do(t, promClient, testenv.Request{
		Method: "GET", URL: base + "/api/v1/query?query=" + url.QueryEscape(q),
	})
	var answer struct {
		Status string
		Error  string
		Data   struct {
			Result []struct {
				Metric map[string]string
				Value  [2]any
			}
		}
	}
	if err := json.Unmarshal(body, &answer); err != nil || resp.StatusCode != 200 || answer.Status != "success" {
		t.Fatalf("query %s: %d %v %s\n%s", q, resp.StatusCode, err, answer.Error, body)
	}
	var out []promSample
	for _, r := range answer.Data.Result {
		s, _ := r.Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("query %s: value %v: %v", q, r.Value, err)
		}
		out = append(out, promSample{Metric: r.Metric, Value: v})
	}
	return out
}

// scalar returns the value of q, which must answer one sample or none
// (then 0).
func scalar(t *testing.T, base, q string) float64 {
	t.Helper()
	res := query(t, base, q)
	switch len(res) {
	case 0:
		return 0
	case 1:
		return res[0].Value
	}
	t.Fatalf("query %s: %d samples, want one", q, len(res))
	return 0
}

func TestPrometheusScrapesEveryServiceAndSeesOrdersProcessed(t *testing.T) {
	t.Parallel()
	prometheusBinary(t) // skip before starting a shop
	s := startShop(t, shopOptions{trustProxy: true, redisUsers: true, metrics: true})
	u, err := url.Parse(s.sys.MetricsURLs[app.Gateway])
	if err != nil {
		t.Fatal(err)
	}
	prom := startPrometheus(t, u.Host)

	testenv.WaitFor(t, 60*time.Second, "prometheus to scrape every service once", func() bool {
		return len(query(t, prom, "up")) == len(app.Services)
	})
	before := scalar(t, prom, `sum(streamcart_stream_messages_total{outcome="processed"})`)

	sh := s.shopper("prometheus-test", "10.9.8.7")
	p := s.catalog(1)[0]
	const orders = 3
	for range orders {
		if code := sh.do("POST", "/api/v1/orders", map[string]any{"items": []item{{ProductID: p.ID, Qty: 1}}}, nil); code != 201 {
			t.Fatalf("order: status %d", code)
		}
	}
	// Each order is processed by payments, orders (its payment),
	// identity and the order history (twice: the order and its payment).
	testenv.WaitFor(t, 60*time.Second, "prometheus to see the orders processed", func() bool {
		return scalar(t, prom, `sum(streamcart_stream_messages_total{outcome="processed"})`) >= before+5*orders
	})
	testenv.WaitFor(t, 60*time.Second, "prometheus to see the orders paid", func() bool {
		return scalar(t, prom, `sum(streamcart_orders_total{status="PAYMENT_SUCCESS"})`) == orders
	})
	// Each job is scraped on its own: the gateway's may come a second later.
	testenv.WaitFor(t, 60*time.Second, "prometheus to see the gateway's created orders", func() bool {
		return scalar(t, prom, `sum(http_server_request_duration_seconds_count{job="gateway",route="POST /api/v1/orders",status_code="201"})`) == orders
	})

	var jobs []string
	for _, sample := range query(t, prom, "up") {
		jobs = append(jobs, sample.Metric["job"])
		if sample.Value != 1 {
			t.Errorf("target %s (%s) is down", sample.Metric["job"], sample.Metric["instance"])
		}
	}
	slices.Sort(jobs)
	want := slices.Sorted(slices.Values(app.Services))
	if !slices.Equal(jobs, want) {
		t.Errorf("prometheus scrapes %v, want every service %v", jobs, want)
	}
	// None fires on a healthy shop; but the tests' StuckAfter is 2 s, so
	// on a busy machine the reconciler may republish.
	firing := `ALERTS{alertstate="firing",alertname!="StreamcartReconcilerRepublishing"}`
	if got := query(t, prom, firing); len(got) != 0 {
		t.Errorf("alerts fire on a healthy shop: %v", got)
	}
	checkDashboard(t, prom)

	// The rules of alerts.yml are loaded.
	_, body := testenv.Do(t, promClient, testenv.Request{Method: "GET", URL: prom + "/api/v1/rules?type=alert"})
	var rules struct {
		Data struct {
			Groups []struct {
				Rules []struct{ Name, Health string }
			}
		}
	}
	testenv.DecodeJSON(t, body, &rules)
	var alerts []string
	for _, g := range rules.Data.Groups {
		for _, r := range g.Rules {
			alerts = append(alerts, r.Name+" "+r.Health)
		}
	}
	if len(alerts) != 7 || slices.ContainsFunc(alerts, func(a string) bool { return !strings.HasSuffix(a, " ok") }) {
		t.Errorf("prometheus's alert rules: %v, want the seven of alerts.yml, each ok", alerts)
	}
}

// metricName matches the names of streamcart's metrics in PromQL.
var metricName = regexp.MustCompile(`\b(?:streamcart|http_server)_[a-z_]+`)

// checkDashboard checks that every query of the Grafana dashboard is
// valid PromQL for the Prometheus at base, and that every metric that
// the dashboard and the alert rules name is one that the shop exports.
func checkDashboard(t *testing.T, base string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(observability, "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	exported := map[string]bool{}
	for _, s := range query(t, base, `count by (__name__) ({__name__=~"streamcart_.+|http_server_.+"})`) {
		exported[s.Metric["__name__"]] = true
	}
	named := map[string]string{} // metric -> where
	grafana := strings.NewReplacer("$__rate_interval", "1m", "$__range", "1h")
	queries := 0
	for _, p := range dash.Panels {
		for _, target := range p.Targets {
			query(t, base, grafana.Replace(target.Expr)) // fails the test if Prometheus refuses it
			queries++
			for _, m := range metricName.FindAllString(target.Expr, -1) {
				named[m] = "the dashboard's panel " + p.Title
			}
		}
	}
	if queries < 20 {
		t.Errorf("the dashboard has %d queries; did its format change?", queries)
	}
	rules, err := os.ReadFile(filepath.Join(observability, "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range metricName.FindAllString(string(rules), -1) {
		named[m] = "alerts.yml"
	}
	for m, where := range named {
		if !exported[m] {
			t.Errorf("%s names %s, which the shop does not export", where, m)
		}
	}
}
