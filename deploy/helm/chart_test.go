// Package helm tests the orderpipe chart: helm lint --strict, helm template
// for the default and a production-like values file with every rendered
// manifest decoded strictly into its Kubernetes API type, the rules the
// chart enforces, and values.schema.json rejecting bad values.
package helm

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"

	"github.com/orderpipe/orderpipe/internal/devstack"
)

const (
	chart       = "orderpipe"
	kubeVersion = "1.33.0" // the chart needs >= 1.30 (preStop sleep)
)

var (
	helmOnce sync.Once
	helmPath string
	helmErr  error
)

// helm returns the helm binary, built by scripts/install-tools.sh into the
// git-ignored .cache/bin when missing.
func helm(t *testing.T) string {
	t.Helper()
	helmOnce.Do(func() {
		root, err := filepath.Abs("../..")
		if err != nil {
			helmErr = err
			return
		}
		helmPath = filepath.Join(root, ".cache", "bin", "helm")
		if _, err := os.Stat(helmPath); err == nil {
			return
		}
		cmd := exec.Command(filepath.Join(root, "scripts", "install-tools.sh"), "helm")
		out, err := cmd.CombinedOutput()
		if err != nil {
			helmErr = fmt.Errorf("install helm: %w\n%s", err, out)
		}
	})
	if helmErr != nil {
		t.Fatal(helmErr)
	}
	return helmPath
}

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(helm(t), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

func TestLintStrict(t *testing.T) {
	for _, values := range []string{"", "orderpipe/ci/production-values.yaml"} {
		args := []string{"lint", "--strict", chart, "--kube-version", kubeVersion}
		if values != "" {
			args = append(args, "-f", values)
		}
		if out, err := run(t, args...); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
	}
}

// manifest is one rendered document, decoded strictly by kind.
type manifest struct {
	Kind string
	Name string
	Obj  any
}

type meta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
}

// newObject returns the API type of apiVersion/kind.
func newObject(apiVersion, kind string) (any, error) {
	switch apiVersion + "/" + kind {
	case "v1/Service":
		return &corev1.Service{}, nil
	case "v1/Secret":
		return &corev1.Secret{}, nil
	case "v1/ConfigMap":
		return &corev1.ConfigMap{}, nil
	case "apps/v1/Deployment":
		return &appsv1.Deployment{}, nil
	case "apps/v1/StatefulSet":
		return &appsv1.StatefulSet{}, nil
	case "policy/v1/PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}, nil
	case "autoscaling/v2/HorizontalPodAutoscaler":
		return &autoscalingv2.HorizontalPodAutoscaler{}, nil
	case "networking.k8s.io/v1/Ingress":
		return &networkingv1.Ingress{}, nil
	case "batch/v1/Job":
		return &batchv1.Job{}, nil
	case "keda.sh/v1alpha1/ScaledObject":
		return &ScaledObject{}, nil
	case "keda.sh/v1alpha1/TriggerAuthentication":
		return &TriggerAuthentication{}, nil
	case "monitoring.coreos.com/v1/PrometheusRule":
		return &PrometheusRule{}, nil
	}
	return nil, fmt.Errorf("no API type for %s %s", apiVersion, kind)
}

var docSep = regexp.MustCompile(`(?m)^---\s*$`)

// render runs helm template with args and decodes every document strictly.
func render(t *testing.T, args ...string) []manifest {
	t.Helper()
	out, err := run(t, append([]string{"template", "op", chart, "--kube-version", kubeVersion}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	var ms []manifest
	for _, doc := range docSep.Split(out, -1) {
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		var m meta
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			t.Fatalf("%v\n%s", err, doc)
		}
		obj, err := newObject(m.APIVersion, m.Kind)
		if err != nil {
			t.Fatalf("%v\n%s", err, doc)
		}
		if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
			t.Fatalf("%s %s does not decode strictly: %v\n%s", m.Kind, m.Metadata.Name, err, doc)
		}
		ms = append(ms, manifest{Kind: m.Kind, Name: m.Metadata.Name, Obj: obj})
	}
	return ms
}

func stripComments(doc string) string {
	var b strings.Builder
	for l := range strings.SplitSeq(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

func count(ms []manifest, kind string) int {
	n := 0
	for _, m := range ms {
		if m.Kind == kind {
			n++
		}
	}
	return n
}

func find[T any](t *testing.T, ms []manifest, name string) T {
	t.Helper()
	for _, m := range ms {
		if o, ok := m.Obj.(T); ok && m.Name == name {
			return o
		}
	}
	var zero T
	t.Fatalf("no %T named %s", zero, name)
	return zero
}

func TestTemplateDefaults(t *testing.T) {
	ms := render(t)
	want := map[string]int{"Deployment": 2, "StatefulSet": 2, "Service": 6, "PodDisruptionBudget": 4, "Job": 1, "Secret": 1,
		"Ingress": 0, "ScaledObject": 0, "HorizontalPodAutoscaler": 0, "PrometheusRule": 0, "ConfigMap": 0}
	for kind, n := range want {
		if got := count(ms, kind); got != n {
			t.Errorf("%d %s, want %d", got, kind, n)
		}
	}
	for _, name := range []string{"op-orderpipe-order-processor", "op-orderpipe-inventory-processor"} {
		checkPod(t, name, find[*appsv1.StatefulSet](t, ms, name).Spec.Template.Spec, 20, true)
	}
	for _, name := range []string{"op-orderpipe-ingress", "op-orderpipe-catalog-api"} {
		d := find[*appsv1.Deployment](t, ms, name)
		if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
			t.Errorf("%s replicas %v", name, d.Spec.Replicas)
		}
		checkPod(t, name, d.Spec.Template.Spec, 20, false)
	}
	job := find[*batchv1.Job](t, ms, "op-orderpipe-topics")
	if c := job.Spec.Template.Spec.Containers[0].Command; !slices.Equal(c, []string{"orderpipe", "topics", "apply"}) {
		t.Errorf("topics job runs %v", c)
	}
	if h := job.Annotations["helm.sh/hook"]; h != "pre-install,pre-upgrade" {
		t.Errorf("topics job hook %q", h)
	}
}

// checkPod: probes on /health/*, graceful drain longer than the service's,
// stable INSTANCE_ID from the pod name on the processors.
func checkPod(t *testing.T, name string, spec corev1.PodSpec, drain int64, processor bool) {
	t.Helper()
	c := spec.Containers[0]
	for probe, path := range map[*corev1.Probe]string{c.LivenessProbe: "/health/live", c.ReadinessProbe: "/health/ready", c.StartupProbe: "/health/startup"} {
		if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != path {
			t.Errorf("%s: no probe on %s", name, path)
		}
	}
	if spec.TerminationGracePeriodSeconds == nil || *spec.TerminationGracePeriodSeconds <= drain {
		t.Errorf("%s: terminationGracePeriodSeconds %v not above the drain %ds", name, spec.TerminationGracePeriodSeconds, drain)
	}
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil {
		t.Errorf("%s: no preStop", name)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
		t.Errorf("%s: no resource requests", name)
	}
	if len(spec.TopologySpreadConstraints) == 0 {
		t.Errorf("%s: no topology spread", name)
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	if env["SHUTDOWN_DRAIN_TIMEOUT"].Value != fmt.Sprintf("%ds", drain) {
		t.Errorf("%s: SHUTDOWN_DRAIN_TIMEOUT %q", name, env["SHUTDOWN_DRAIN_TIMEOUT"].Value)
	}
	for _, secret := range []string{"DATABASE_URL", "REDIS_URL", "KAFKA_SASL_PASSWORD"} {
		if e := env[secret]; e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			t.Errorf("%s: %s is not from a Secret", name, secret)
		}
	}
	id, ok := env["INSTANCE_ID"]
	if processor != ok || (ok && (id.ValueFrom == nil || id.ValueFrom.FieldRef == nil || id.ValueFrom.FieldRef.FieldPath != "metadata.name")) {
		t.Errorf("%s: INSTANCE_ID %+v (processor %v)", name, id, processor)
	}
}

func TestTemplateProduction(t *testing.T) {
	ms := render(t, "-f", "orderpipe/ci/production-values.yaml")
	want := map[string]int{"ScaledObject": 2, "HorizontalPodAutoscaler": 2, "Ingress": 1, "Secret": 0, "PrometheusRule": 1, "ConfigMap": 1}
	for kind, n := range want {
		if got := count(ms, kind); got != n {
			t.Errorf("%d %s, want %d", got, kind, n)
		}
	}
	sts := find[*appsv1.StatefulSet](t, ms, "op-orderpipe-order-processor")
	if sts.Spec.Replicas != nil {
		t.Errorf("a KEDA-scaled StatefulSet must not set replicas (upgrades would reset it)")
	}
	checkPod(t, sts.Name, sts.Spec.Template.Spec, 30, true)

	// The Ingress routes exactly devstack.Routes.
	ing := find[*networkingv1.Ingress](t, ms, "op-orderpipe")
	var got, wantRoutes []string
	for _, p := range ing.Spec.Rules[0].HTTP.Paths {
		got = append(got, p.Path+" "+string(*p.PathType)+" "+p.Backend.Service.Name)
	}
	for _, r := range devstack.Routes {
		wantRoutes = append(wantRoutes, r.Prefix+" Prefix op-orderpipe-"+r.Service)
	}
	if !slices.Equal(got, wantRoutes) {
		t.Errorf("Ingress paths\n%v\nwant (devstack.Routes)\n%v", got, wantRoutes)
	}

	// KEDA scales on the lag metric the CLI shows, never above the partitions.
	for name, parts := range map[string]int32{"op-orderpipe-order-processor": 24, "op-orderpipe-inventory-processor": 12} {
		so := find[*ScaledObject](t, ms, name)
		if so.Spec.MaxReplicaCount == nil || *so.Spec.MaxReplicaCount > parts {
			t.Errorf("%s: maxReplicaCount %v above %d partitions", name, so.Spec.MaxReplicaCount, parts)
		}
		tr := so.Spec.Triggers[0]
		if tr.Type != "prometheus" || !strings.Contains(tr.Metadata["query"], "orderpipe_consumer_lag_records") || tr.Metadata["threshold"] != "5000" {
			t.Errorf("%s: trigger %+v", name, tr)
		}
	}
	// The PrometheusRule carries files/alerts.yaml unchanged (annotations'
	// {{ $labels.x }} included), the ConfigMap every dashboard byte for byte.
	pr := find[*PrometheusRule](t, ms, "op-orderpipe")
	if got, want := must(yaml.Marshal(pr.Spec)), must(yaml.Marshal(loadRules(t))); !bytes.Equal(got, want) {
		t.Errorf("PrometheusRule spec differs from files/alerts.yaml:\n%s", got)
	}
	cm := find[*corev1.ConfigMap](t, ms, "op-orderpipe-dashboards")
	if cm.Labels["grafana_dashboard"] != "1" {
		t.Errorf("dashboards ConfigMap labels %v: no Grafana sidecar label", cm.Labels)
	}
	files, _ := filepath.Glob("orderpipe/files/dashboards/*.json")
	for _, f := range files {
		if got := cm.Data[filepath.Base(f)]; strings.TrimSpace(got) != strings.TrimSpace(string(must(os.ReadFile(f)))) {
			t.Errorf("ConfigMap %s differs from %s", filepath.Base(f), f)
		}
	}
	if len(files) == 0 || len(cm.Data) != len(files) {
		t.Errorf("ConfigMap holds %d dashboards, files/dashboards %d", len(cm.Data), len(files))
	}
	// auth: JWKS mounted from the Secret on the public services only.
	for _, name := range []string{"op-orderpipe-ingress", "op-orderpipe-catalog-api"} {
		d := find[*appsv1.Deployment](t, ms, name)
		if !hasEnv(d.Spec.Template.Spec.Containers[0], "AUTH_JWKS_FILE") {
			t.Errorf("%s: no AUTH_JWKS_FILE", name)
		}
	}
}

func hasEnv(c corev1.Container, name string) bool {
	return slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == name })
}

// TestKafkaTrigger: with keda.trigger=kafka each processor scales on KEDA's
// Kafka scaler for its own consumer group, lagThreshold from its values,
// never above its input partitions, idle transactional partitions (a
// constant lag of 1, the commit marker) left out, and the credentials the
// pods use: SASL user from the container's environment, password from the
// credential Secret, CA from the TLS Secret.
func TestKafkaTrigger(t *testing.T) {
	t.Run("production", func(t *testing.T) {
		ms := render(t, "-f", "orderpipe/ci/production-values.yaml", "--set", "keda.trigger=kafka")
		for name, want := range map[string]struct {
			group, lag string
			parts      int32
		}{
			"op-orderpipe-order-processor":     {"prod.order-processor", "5000", 24},
			"op-orderpipe-inventory-processor": {"prod.inventory-processor", "5000", 12},
		} {
			so := find[*ScaledObject](t, ms, name)
			if len(so.Spec.Triggers) != 1 {
				t.Fatalf("%s: %d triggers", name, len(so.Spec.Triggers))
			}
			tr := so.Spec.Triggers[0]
			md := tr.Metadata
			if tr.Type != "kafka" || md["consumerGroup"] != want.group || md["lagThreshold"] != want.lag ||
				md["bootstrapServers"] != "b-1.kafka.internal:9096,b-2.kafka.internal:9096,b-3.kafka.internal:9096" ||
				md["excludePersistentLag"] != "true" || md["allowIdleConsumers"] != "false" ||
				md["sasl"] != "scram_sha512" || md["tls"] != "enable" {
				t.Errorf("%s: kafka trigger %+v", name, tr)
			}
			if so.Spec.MaxReplicaCount == nil || *so.Spec.MaxReplicaCount > want.parts {
				t.Errorf("%s: maxReplicaCount %v above %d partitions", name, so.Spec.MaxReplicaCount, want.parts)
			}
			if so.Spec.ScaleTargetRef.Kind != "StatefulSet" || so.Spec.ScaleTargetRef.Name != name {
				t.Errorf("%s: scales %+v", name, so.Spec.ScaleTargetRef)
			}
			if tr.AuthenticationRef == nil {
				t.Fatalf("%s: no authenticationRef", name)
			}
			ta := find[*TriggerAuthentication](t, ms, tr.AuthenticationRef.Name)
			c := find[*appsv1.StatefulSet](t, ms, name).Spec.Template.Spec.Containers[0]
			env := map[string]corev1.EnvVar{}
			for _, e := range c.Env {
				env[e.Name] = e
			}
			got := map[string]string{}
			for _, e := range ta.Spec.Env {
				if e.ContainerName != c.Name || env[e.Name].Value == "" {
					t.Errorf("%s: %s from env %s of container %s, which has no literal value", name, e.Parameter, e.Name, e.ContainerName)
				}
				got[e.Parameter] = "env " + env[e.Name].Value
			}
			for _, r := range ta.Spec.SecretTargetRef {
				got[r.Parameter] = r.Name + "/" + r.Key
			}
			pw := env["KAFKA_SASL_PASSWORD"].ValueFrom.SecretKeyRef
			wantAuth := map[string]string{"username": "env orderpipe", "password": pw.Name + "/" + pw.Key, "ca": "kafka-ca/ca.crt"}
			if fmt.Sprint(got) != fmt.Sprint(wantAuth) {
				t.Errorf("%s: trigger credentials %v, want %v (what the pods use)", name, got, wantAuth)
			}
		}
		if n := count(ms, "TriggerAuthentication"); n != 2 {
			t.Errorf("%d TriggerAuthentications, want one per processor", n)
		}
	})
	t.Run("plaintext", func(t *testing.T) {
		ms := render(t, "--set", "keda.trigger=kafka", "--set", "inventoryProcessor.keda.enabled=true",
			"--set", "inventoryProcessor.keda.lagThreshold=750", "--set", "inventoryProcessor.keda.maxReplicas=12")
		so := find[*ScaledObject](t, ms, "op-orderpipe-inventory-processor")
		tr := so.Spec.Triggers[0]
		if tr.Type != "kafka" || tr.Metadata["consumerGroup"] != "inventory-processor" || tr.Metadata["lagThreshold"] != "750" ||
			tr.Metadata["sasl"] != "" || tr.Metadata["tls"] != "" || tr.AuthenticationRef != nil {
			t.Errorf("kafka trigger %+v", tr)
		}
		if count(ms, "ScaledObject") != 1 || count(ms, "TriggerAuthentication") != 0 {
			t.Errorf("want one ScaledObject and no TriggerAuthentication")
		}
	})
}

// TestBadValuesRejected: values.schema.json and the template's checks stop
// bad values at install time.
func TestBadValuesRejected(t *testing.T) {
	cases := map[string][]string{
		"zero partitions":           {"--set", "kafka.orderPartitions=0"},
		"privileged port":           {"--set", "ingress.port=80"},
		"unknown pull policy":       {"--set", "image.pullPolicy=Sometimes"},
		"unknown top-level key":     {"--set", "replicaCount=3"},
		"unknown service key":       {"--set", "ingress.replica=3"},
		"credential in config":      {"--set", "config.DATABASE_URL=postgres://x"},
		"bad env name":              {"--set", "config.log-level=debug"},
		"broker without port":       {"--set", "kafka.brokers={kafka}"},
		"bad duration":              {"--set", "kafka.sessionTimeout=ten"},
		"bad sasl mechanism":        {"--set", "kafka.sasl.mechanism=GSSAPI"},
		"auth without issuer":       {"--set", "auth.enabled=true"},
		"no grace margin":           {"--set", "shutdown.graceMarginSeconds=0"},
		"unknown keda trigger":      {"--set", "keda.trigger=cpu"},
		"bad redis url":             {"--set", "secrets.redisUrl=localhost:6379"},
		"keda above partitions":     {"--set", "orderProcessor.keda.enabled=true", "--set", "orderProcessor.keda.maxReplicas=13"},
		"keda min above max":        {"--set", "inventoryProcessor.keda.enabled=true", "--set", "inventoryProcessor.keda.minReplicas=5", "--set", "inventoryProcessor.keda.maxReplicas=4"},
		"ingress to disabled route": {"--set", "publicIngress.enabled=true", "--set", "catalogApi.enabled=false"},
		"keda threads above partitions": {"--set", "orderProcessor.keda.enabled=true", "--set", "orderProcessor.keda.maxReplicas=12",
			"--set", "orderProcessor.env.STREAMS_THREADS=2"},
		"kafka trigger scale to zero": {"--set", "keda.trigger=kafka", "--set", "orderProcessor.keda.enabled=true", "--set", "orderProcessor.keda.minReplicas=0"},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			out, err := run(t, append([]string{"template", "op", chart, "--kube-version", kubeVersion}, args...)...)
			if err == nil {
				t.Fatalf("accepted:\n%.300s", out)
			}
			var ee *exec.ExitError
			if !errors.As(err, &ee) && !strings.Contains(err.Error(), "exit status") {
				t.Fatalf("helm did not run: %v", err)
			}
			if !strings.Contains(err.Error(), "values don't meet the specifications of the schema") && !strings.Contains(err.Error(), "execution error") {
				t.Fatalf("rejected for another reason: %v", err)
			}
		})
	}
}

// TestEnvIsKnownSettings: every environment variable the chart gives a
// container (services and the topics Job, default and production-like
// values) is a setting the services read — the README configuration table
// (`orderpipe config`) — so a renamed setting or a typo in the chart fails
// here rather than being silently ignored in production.
func TestEnvIsKnownSettings(t *testing.T) {
	known := map[string]bool{}
	for _, v := range devstack.ConfigVars() {
		known[v.Env] = true
	}
	// read by the Go runtime and by app.Main's memory limit (docs/operations.md)
	for _, v := range []string{"GOGC", "GOMEMLIMIT", "AUTOMEMLIMIT", "GOMAXPROCS"} {
		known[v] = true
	}
	for _, args := range [][]string{nil, {"-f", "orderpipe/ci/production-values.yaml"}} {
		for _, m := range render(t, args...) {
			var pod *corev1.PodSpec
			switch o := m.Obj.(type) {
			case *appsv1.Deployment:
				pod = &o.Spec.Template.Spec
			case *appsv1.StatefulSet:
				pod = &o.Spec.Template.Spec
			case *batchv1.Job:
				pod = &o.Spec.Template.Spec
			default:
				continue
			}
			for _, c := range pod.Containers {
				for _, e := range c.Env {
					if !known[e.Name] {
						t.Errorf("%s %s (values %v): container %s sets %s, which no service reads", m.Kind, m.Name, args, c.Name, e.Name)
					}
				}
			}
		}
	}
}
