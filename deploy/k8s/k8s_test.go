package k8s

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// services are streamcart's services, each a Deployment, a Service and a
// PodDisruptionBudget of that name.
var services = []string{"products", "orders", "payments", "orderhistory", "identity", "gateway"}

// consumed is what KEDA must watch: the streams each scaled service reads
// in its consumer group (named after the service).
var consumed = map[string][]string{
	"payments":     {"ORDERS_STREAM"},
	"orderhistory": {"ORDERS_STREAM", "PAYMENTS_STREAM", "TRANSACTION_STREAM"},
	"identity":     {"ORDERS_STREAM", "TRANSACTION_STREAM"},
}

// secrets are the Secrets made outside git (deploy/k8s/secrets.sh, from
// streamcart secrets): the manifests may refer to these and no other.
var secrets = []string{
	"streamcart-products", "streamcart-orders", "streamcart-payments", "streamcart-orderhistory",
	"streamcart-identity", "streamcart-gateway", "streamcart-migrate", "streamcart-scaler",
	"streamcart-redis", "streamcart-postgres",
}

// needs are the other services' URLs each service is started with
// (streamcart serve refuses to start without them).
var needs = map[string][]string{
	"orders":       {"STREAMCART_PRODUCTS_URL"},
	"payments":     {"STREAMCART_ORDERS_URL"},
	"identity":     {"STREAMCART_ORDERS_URL"},
	"orderhistory": {"STREAMCART_ORDERS_URL"},
	"gateway":      {"STREAMCART_PRODUCTS_URL", "STREAMCART_ORDERS_URL", "STREAMCART_HISTORY_URL", "STREAMCART_PAYMENTS_URL"},
}

// shutdownSeconds is how long a service takes at most to stop once asked:
// its HTTP server's shutdown, then its consumers' batch in flight
// (app.Config.ShutdownTimeout and stream.Config.ShutdownTimeout, 10 s each).
const shutdownSeconds = 20

func TestEveryOverlayRendersToValidObjectsThatPassTheChecks(t *testing.T) {
	for _, dir := range []string{"base", "overlays/local", "overlays/production"} {
		t.Run(dir, func(t *testing.T) {
			t.Parallel()
			m := renderDecoded(t, dir)
			for _, err := range m.check() {
				t.Error(err)
			}
			switch dir {
			case "overlays/local":
				checkLocal(t, m)
			case "overlays/production":
				checkProduction(t, m)
			}
		})
	}
}

// checkLocal checks what the local overlay adds: Redis and PostgreSQL in
// the cluster, where KEDA finds Redis.
func checkLocal(t *testing.T, m *manifests) {
	for _, name := range []string{"redis", "postgres"} {
		if m.StatefulSets[name] == nil || m.Services[name] == nil {
			t.Errorf("no StatefulSet and Service %s", name)
		}
	}
	if _, ok := m.Namespaces["streamcart"]; !ok {
		t.Errorf("no Namespace streamcart")
	}
	for _, cm := range m.ConfigMaps {
		if got := cm.Data["SCALER_REDIS_ADDRESS"]; got != "redis.streamcart.svc.cluster.local:6379" {
			t.Errorf("ConfigMap %s: SCALER_REDIS_ADDRESS %q is not the in-cluster Redis's full name", cm.Name, got)
		}
	}
}

// checkProduction checks that production runs no server of its own and a
// released image.
func checkProduction(t *testing.T, m *manifests) {
	if len(m.StatefulSets) > 0 {
		t.Errorf("production runs StatefulSets %v; its Redis and PostgreSQL are managed outside", keys(m.StatefulSets))
	}
	for _, d := range m.Deployments {
		if img := d.Spec.Template.Spec.Containers[0].Image; strings.HasSuffix(img, ":latest") || !strings.Contains(img, "/") {
			t.Errorf("Deployment %s runs image %q, not one from a registry at a release", d.Name, img)
		}
	}
	if ta := m.TriggerAuths["streamcart-scaler"]; ta == nil || len(ta.Spec.Env) == 0 || ta.Spec.Env[0].Parameter != "tls" {
		t.Errorf("KEDA does not reach the managed Redis over TLS (TriggerAuthentication %+v)", ta)
	}
}

// TestTheChecksCatchWhatTheyAreFor breaks the rendered base in each way the
// checks exist for and expects each to be reported.
func TestTheChecksCatchWhatTheyAreFor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		breakIt func(m *manifests)
		want    string
	}{
		{"a missing readiness probe", func(m *manifests) {
			m.Deployments["payments"].Spec.Template.Spec.Containers[0].ReadinessProbe = nil
		}, "payments: container streamcart has no readiness probe"},
		{"a liveness probe on the wrong path", func(m *manifests) {
			m.Deployments["orders"].Spec.Template.Spec.Containers[0].LivenessProbe.HTTPGet.Path = "/readyz"
		}, "orders: container streamcart's liveness probe is not GET /healthz"},
		{"missing resources", func(m *manifests) {
			m.Deployments["identity"].Spec.Template.Spec.Containers[0].Resources.Limits = nil
		}, "identity: container streamcart has no cpu limit"},
		{"a container that may run as root", func(m *manifests) {
			m.Deployments["gateway"].Spec.Template.Spec.SecurityContext.RunAsNonRoot = nil
		}, "gateway: container streamcart may run as root"},
		{"a container that runs as root", func(m *manifests) {
			root := int64(0)
			m.Jobs["streamcart-migrate"].Spec.Template.Spec.Containers[0].SecurityContext.RunAsUser = &root
		}, "streamcart-migrate: container streamcart may run as root"},
		{"a writable root filesystem", func(m *manifests) {
			m.Deployments["products"].Spec.Template.Spec.Containers[0].SecurityContext.ReadOnlyRootFilesystem = nil
		}, "products: container streamcart has a writable root filesystem"},
		{"a short grace period", func(m *manifests) {
			short := int64(10)
			m.Deployments["payments"].Spec.Template.Spec.TerminationGracePeriodSeconds = &short
		}, "payments: terminationGracePeriodSeconds 10"},
		{"no disruption budget", func(m *manifests) { delete(m.PDBs, "orderhistory") }, "orderhistory: no PodDisruptionBudget"},
		{"no KEDA scaling", func(m *manifests) { delete(m.ScaledObjects, "identity") }, "identity: no ScaledObject"},
		{"lag of another group", func(m *manifests) {
			m.ScaledObjects["payments"].Spec.Triggers[0].Metadata["consumerGroup"] = "orders"
		}, "ScaledObject payments watches no lag of group payments on ORDERS_STREAM"},
		{"replicas that fight the autoscaler", func(m *manifests) {
			two := int32(2)
			m.Deployments["gateway"].Spec.Replicas = &two
		}, "gateway sets replicas"},
		{"a consumer without the orders URL", func(m *manifests) {
			for _, cm := range m.ConfigMaps {
				delete(cm.Data, "STREAMCART_ORDERS_URL")
			}
		}, "payments: STREAMCART_ORDERS_URL is \"\""},
		{"an unknown Secret", func(m *manifests) {
			m.Deployments["orders"].Spec.Template.Spec.Volumes[0].Secret.SecretName = "orders-secrets"
		}, "orders: Secret orders-secrets is not one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := renderDecoded(t, "base")
			if errs := m.check(); len(errs) > 0 {
				t.Fatalf("the base fails before it is broken: %v", errs)
			}
			tt.breakIt(m)
			errs := m.check()
			if !slices.ContainsFunc(errs, func(err error) bool { return strings.Contains(err.Error(), tt.want) }) {
				t.Errorf("with %s, the checks report %v; want an error saying %q", tt.name, errs, tt.want)
			}
		})
	}
}

func TestAnUnknownFieldFailsTheDecoding(t *testing.T) {
	t.Parallel()
	objs := render(t, "base")
	for _, raw := range objs {
		var head struct{ Kind string }
		if err := json.Unmarshal(raw, &head); err != nil || head.Kind != "Deployment" {
			continue
		}
		// A probe under a misspelt name: a decoder that ignores it would
		// let a pod go without one.
		typo := strings.Replace(string(raw), `"readinessProbe"`, `"readinesProbe"`, 1)
		if _, err := decode([][]byte{[]byte(typo)}); err == nil || !strings.Contains(err.Error(), `unknown field "spec.template.spec.containers[0].readinesProbe"`) {
			t.Errorf("decoding a Deployment with readinesProbe: %v, want an unknown field error", err)
		}
		return
	}
	t.Fatal("the base has no Deployment")
}

// render returns the objects of the kustomization in dir as JSON, rendered
// by the kustomize library as kubectl apply -k does.
func render(t *testing.T, dir string) [][]byte {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	res, err := k.Run(filesys.MakeFsOnDisk(), filepath.FromSlash(dir))
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	var objs [][]byte
	for _, r := range res.Resources() {
		b, err := r.MarshalJSON()
		if err != nil {
			t.Fatalf("%s: %s: %v", dir, r.CurId(), err)
		}
		objs = append(objs, b)
	}
	return objs
}

func renderDecoded(t *testing.T, dir string) *manifests {
	t.Helper()
	m, err := decode(render(t, dir))
	if err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	return m
}

// manifests are the objects of one rendered kustomization, by kind (the
// tag: apiVersion and kind) and name.
type manifests struct {
	Deployments   map[string]*appsv1.Deployment                     `kind:"apps/v1 Deployment"`
	StatefulSets  map[string]*appsv1.StatefulSet                    `kind:"apps/v1 StatefulSet"`
	Jobs          map[string]*batchv1.Job                           `kind:"batch/v1 Job"`
	Services      map[string]*corev1.Service                        `kind:"v1 Service"`
	ConfigMaps    map[string]*corev1.ConfigMap                      `kind:"v1 ConfigMap"`
	Namespaces    map[string]*corev1.Namespace                      `kind:"v1 Namespace"`
	PDBs          map[string]*policyv1.PodDisruptionBudget          `kind:"policy/v1 PodDisruptionBudget"`
	HPAs          map[string]*autoscalingv2.HorizontalPodAutoscaler `kind:"autoscaling/v2 HorizontalPodAutoscaler"`
	ScaledObjects map[string]*kedav1alpha1.ScaledObject             `kind:"keda.sh/v1alpha1 ScaledObject"`
	TriggerAuths  map[string]*kedav1alpha1.TriggerAuthentication    `kind:"keda.sh/v1alpha1 TriggerAuthentication"`
}

// decode decodes each object strictly into its API type: an unknown or
// duplicate field, or a kind the manifests should not have, is an error.
func decode(objs [][]byte) (*manifests, error) {
	m := &manifests{}
	fields := reflect.ValueOf(m).Elem()
	for i := range fields.NumField() {
		fields.Field(i).Set(reflect.MakeMap(fields.Field(i).Type()))
	}
	for _, raw := range objs {
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct{ Name string }
		}
		if err := json.Unmarshal(raw, &head); err != nil {
			return nil, err
		}
		name, kind := head.Metadata.Name, head.APIVersion+" "+head.Kind
		i := slices.IndexFunc(reflect.VisibleFields(fields.Type()), func(f reflect.StructField) bool { return f.Tag.Get("kind") == kind })
		if i < 0 {
			return nil, fmt.Errorf("%s %s: not a kind the manifests should have", kind, name)
		}
		objs := fields.Field(i)
		obj := reflect.New(objs.Type().Elem().Elem())
		objs.SetMapIndex(reflect.ValueOf(name), obj)
		strict, err := sigsjson.UnmarshalStrict(raw, obj.Interface(), sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", head.Kind, name, err)
		}
		if len(strict) > 0 {
			return nil, fmt.Errorf("%s %s: %v", head.Kind, name, strict)
		}
	}
	return m, nil
}

// workload is a pod template, with the kind and name of its owner.
type workload struct {
	kind, name string
	labels     map[string]string
	spec       *corev1.PodSpec
}

func (m *manifests) workloads() []workload {
	var ws []workload
	for _, name := range keys(m.Deployments) {
		d := m.Deployments[name]
		ws = append(ws, workload{"Deployment", name, d.Spec.Template.Labels, &d.Spec.Template.Spec})
	}
	for _, name := range keys(m.StatefulSets) {
		s := m.StatefulSets[name]
		ws = append(ws, workload{"StatefulSet", name, s.Spec.Template.Labels, &s.Spec.Template.Spec})
	}
	for _, name := range keys(m.Jobs) {
		j := m.Jobs[name]
		ws = append(ws, workload{"Job", name, j.Spec.Template.Labels, &j.Spec.Template.Spec})
	}
	return ws
}

// check returns what is wrong with the manifests.
func (m *manifests) check() []error {
	var errs []error
	for _, w := range m.workloads() {
		errs = append(errs, m.checkPod(w)...)
	}
	for _, name := range services {
		errs = append(errs, m.checkService(name)...)
	}
	for name := range consumed {
		errs = append(errs, m.checkScaledObject(name)...)
	}
	errs = append(errs, m.checkGatewayHPA()...)
	if j := m.Jobs["streamcart-migrate"]; j == nil || !slices.Equal(j.Spec.Template.Spec.Containers[0].Args, []string{"migrate"}) {
		errs = append(errs, fmt.Errorf("no Job streamcart-migrate running streamcart migrate"))
	}
	return errs
}

// checkPod checks what every pod needs: resources, probes (but a Job's), a
// security context in which no container may run as root, gain privileges
// or write its root filesystem, and references to what exists.
func (m *manifests) checkPod(w workload) []error {
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s %s: %s", w.kind, w.name, fmt.Sprintf(format, a...)))
	}
	if t := w.spec.AutomountServiceAccountToken; t == nil || *t {
		bad("mounts a service account token it does not need")
	}
	for _, v := range w.spec.Volumes {
		if v.Secret != nil && !slices.Contains(secrets, v.Secret.SecretName) {
			bad("Secret %s is not one that deploy/k8s/secrets.sh makes (%v)", v.Secret.SecretName, secrets)
		}
	}
	for _, c := range w.spec.Containers {
		sc := c.SecurityContext
		if !nonRoot(w.spec.SecurityContext, sc) {
			bad("container %s may run as root: runAsNonRoot is not true, or runAsUser is 0", c.Name)
		}
		if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			bad("container %s may gain privileges: allowPrivilegeEscalation is not false", c.Name)
		}
		if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			bad("container %s has a writable root filesystem", c.Name)
		}
		if sc != nil && sc.Privileged != nil && *sc.Privileged {
			bad("container %s is privileged", c.Name)
		}
		if sc == nil || sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
			bad("container %s keeps capabilities: drop ALL", c.Name)
		}
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if _, ok := c.Resources.Requests[r]; !ok {
				bad("container %s has no %s request", c.Name, r)
			}
			if _, ok := c.Resources.Limits[r]; !ok {
				bad("container %s has no %s limit", c.Name, r)
			}
		}
		for _, from := range c.EnvFrom {
			if ref := from.ConfigMapRef; ref != nil && m.ConfigMaps[ref.Name] == nil {
				bad("container %s takes its environment from ConfigMap %s, which is not there", c.Name, ref.Name)
			}
		}
		if w.kind == "Job" {
			continue
		}
		if c.ReadinessProbe == nil {
			bad("container %s has no readiness probe", c.Name)
		}
		if c.LivenessProbe == nil {
			bad("container %s has no liveness probe", c.Name)
		}
	}
	return errs
}

// nonRoot reports whether Kubernetes refuses to run the container as root:
// runAsNonRoot true, and no runAsUser 0, in the container's or the pod's
// security context (the container's wins).
func nonRoot(pod *corev1.PodSecurityContext, c *corev1.SecurityContext) bool {
	var nonRoot *bool
	var user *int64
	if pod != nil {
		nonRoot, user = pod.RunAsNonRoot, pod.RunAsUser
	}
	if c != nil && c.RunAsNonRoot != nil {
		nonRoot = c.RunAsNonRoot
	}
	if c != nil && c.RunAsUser != nil {
		user = c.RunAsUser
	}
	return nonRoot != nil && *nonRoot && (user == nil || *user != 0)
}

// checkService checks a streamcart service's Deployment: its probes on
// /readyz and /healthz, a grace period above its shutdown, its secrets
// mounted where its environment says, the URLs of the services it needs,
// a Service and a PodDisruptionBudget that select its pods.
func (m *manifests) checkService(name string) []error {
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("Deployment %s: %s", name, fmt.Sprintf(format, a...)))
	}
	d := m.Deployments[name]
	if d == nil {
		return []error{fmt.Errorf("no Deployment %s", name)}
	}
	spec := d.Spec.Template.Spec
	if len(spec.Containers) != 1 {
		bad("%d containers, want 1", len(spec.Containers))
		return errs
	}
	c := spec.Containers[0]
	if !slices.Equal(c.Args, []string{"serve", name}) {
		bad("container %s runs %v, want serve %s", c.Name, c.Args, name)
	}
	for kind, p := range map[string]struct {
		probe *corev1.Probe
		path  string
	}{"readiness": {c.ReadinessProbe, "/readyz"}, "liveness": {c.LivenessProbe, "/healthz"}} {
		if p.probe == nil {
			continue // checkPod says so
		}
		if g := p.probe.HTTPGet; g == nil || g.Path != p.path || !slices.ContainsFunc(c.Ports, func(cp corev1.ContainerPort) bool {
			return cp.Name == g.Port.String() || strconv.Itoa(int(cp.ContainerPort)) == g.Port.String()
		}) {
			bad("container %s's %s probe is not GET %s on one of its ports", c.Name, kind, p.path)
		}
	}
	if g := spec.TerminationGracePeriodSeconds; g == nil || *g <= shutdownSeconds {
		var got int64 = 30 // Kubernetes' default
		if g != nil {
			got = *g
		}
		bad("terminationGracePeriodSeconds %d is not above the %d s the service may take to stop", got, shutdownSeconds)
	}
	for _, e := range c.Env {
		if !strings.HasSuffix(e.Name, "_FILE") {
			continue
		}
		if !slices.ContainsFunc(c.VolumeMounts, func(vm corev1.VolumeMount) bool { return strings.HasPrefix(e.Value, vm.MountPath+"/") }) {
			bad("%s=%s is under no volume the container mounts", e.Name, e.Value)
		}
	}
	env := m.envOf(d)
	for _, v := range needs[name] {
		if !strings.HasPrefix(env[v], "http://") && !strings.HasPrefix(env[v], "https://") {
			bad("%s is %q, not a service's URL", v, env[v])
		}
	}
	pods := labels.Set(d.Spec.Template.Labels)
	if !slices.ContainsFunc(values(m.Services), func(s *corev1.Service) bool {
		return len(s.Spec.Selector) > 0 && labels.SelectorFromSet(s.Spec.Selector).Matches(pods)
	}) {
		bad("no Service selects its pods")
	}
	if !slices.ContainsFunc(values(m.PDBs), func(p *policyv1.PodDisruptionBudget) bool {
		return p.Spec.Selector != nil && labels.SelectorFromSet(p.Spec.Selector.MatchLabels).Matches(pods)
	}) {
		bad("no PodDisruptionBudget selects its pods")
	}
	return errs
}

// checkScaledObject checks that KEDA scales the consumer name on the lag of
// its group on every stream it reads, as the scaler Redis user, between a
// minimum of one and a larger maximum, and that nothing else sets its
// replicas.
func (m *manifests) checkScaledObject(name string) []error {
	so := m.ScaledObjects[name]
	if so == nil {
		return []error{fmt.Errorf("Deployment %s: no ScaledObject", name)}
	}
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("ScaledObject %s: %s", name, fmt.Sprintf(format, a...)))
	}
	d := m.Deployments[so.Spec.ScaleTargetRef.Name]
	if d == nil || so.Spec.ScaleTargetRef.Name != name {
		bad("scales %q, want the Deployment %s", so.Spec.ScaleTargetRef.Name, name)
		return errs
	}
	if d.Spec.Replicas != nil {
		bad("Deployment %s sets replicas, which KEDA's HPA would fight", name)
	}
	if min, max := so.Spec.MinReplicaCount, so.Spec.MaxReplicaCount; min == nil || *min < 1 || max == nil || *max <= *min {
		bad("replicas from %v to %v: want a minimum of at least 1 (a consumer takes over a dead one's entries) and a larger maximum", min, max)
	}
	env := m.envOf(d)
	for _, stream := range consumed[name] {
		if !slices.ContainsFunc(so.Spec.Triggers, func(tr kedav1alpha1.ScaleTriggers) bool {
			return tr.Type == "redis-streams" && tr.Metadata["stream"] == stream && tr.Metadata["consumerGroup"] == name
		}) {
			errs = append(errs, fmt.Errorf("ScaledObject %s watches no lag of group %s on %s", name, name, stream))
		}
	}
	for i, tr := range so.Spec.Triggers {
		md := tr.Metadata
		if lag, err := strconv.Atoi(md["lagCount"]); err != nil || lag <= 0 {
			bad("trigger %d: lagCount %q is not a positive number (without it KEDA counts pending entries)", i, md["lagCount"])
		}
		if md["username"] != "scaler" {
			bad("trigger %d: Redis user %q, want scaler (app.Scaler)", i, md["username"])
		}
		if addr := env[md["addressFromEnv"]]; !strings.Contains(addr, ".") || !strings.Contains(addr, ":") {
			bad("trigger %d: addressFromEnv %q is %q in the Deployment's environment, not a host's full name and port (KEDA resolves it from its own namespace)", i, md["addressFromEnv"], addr)
		}
		ref := tr.AuthenticationRef
		if ref == nil || m.TriggerAuths[ref.Name] == nil {
			bad("trigger %d: no TriggerAuthentication %v", i, ref)
			continue
		}
		ta := m.TriggerAuths[ref.Name]
		if !slices.ContainsFunc(ta.Spec.SecretTargetRef, func(s kedav1alpha1.AuthSecretTargetRef) bool {
			return s.Parameter == "password" && s.Name == "streamcart-scaler" && s.Key == "redis-password"
		}) {
			bad("trigger %d: TriggerAuthentication %s gives no password from streamcart-scaler's redis-password", i, ref.Name)
		}
	}
	return errs
}

// checkGatewayHPA checks that the gateway scales on CPU, from at least two.
func (m *manifests) checkGatewayHPA() []error {
	for _, h := range m.HPAs {
		if h.Spec.ScaleTargetRef.Kind != "Deployment" || h.Spec.ScaleTargetRef.Name != "gateway" {
			continue
		}
		var errs []error
		if !slices.ContainsFunc(h.Spec.Metrics, func(ms autoscalingv2.MetricSpec) bool {
			return ms.Resource != nil && ms.Resource.Name == corev1.ResourceCPU
		}) {
			errs = append(errs, fmt.Errorf("HorizontalPodAutoscaler %s does not scale the gateway on CPU", h.Name))
		}
		if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 2 || h.Spec.MaxReplicas <= *h.Spec.MinReplicas {
			errs = append(errs, fmt.Errorf("HorizontalPodAutoscaler %s: replicas from %v to %d, want from 2 or more to more", h.Name, h.Spec.MinReplicas, h.Spec.MaxReplicas))
		}
		if m.Deployments["gateway"].Spec.Replicas != nil {
			errs = append(errs, fmt.Errorf("Deployment gateway sets replicas, which its HorizontalPodAutoscaler would fight"))
		}
		return errs
	}
	return []error{fmt.Errorf("no HorizontalPodAutoscaler scales the gateway")}
}

// envOf returns the environment of d's first container that comes from
// values and ConfigMaps, as KEDA resolves it.
func (m *manifests) envOf(d *appsv1.Deployment) map[string]string {
	env := map[string]string{}
	c := d.Spec.Template.Spec.Containers[0]
	for _, from := range c.EnvFrom {
		if from.ConfigMapRef != nil && m.ConfigMaps[from.ConfigMapRef.Name] != nil {
			for k, v := range m.ConfigMaps[from.ConfigMapRef.Name].Data {
				env[k] = v
			}
		}
	}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	return env
}

func keys[T any](m map[string]T) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func values[T any](m map[string]T) []T {
	vs := make([]T, 0, len(m))
	for _, k := range keys(m) {
		vs = append(vs, m[k])
	}
	return vs
}
