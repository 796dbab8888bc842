{{/* The four services: values key → name, workload kind, consumer group and partition count key. */}}
{{- define "orderpipe.services" -}}
ingress: {name: ingress, kind: Deployment}
catalogApi: {name: catalog-api, kind: Deployment}
orderProcessor: {name: order-processor, kind: StatefulSet, group: order-processor, partitions: orderPartitions}
inventoryProcessor: {name: inventory-processor, kind: StatefulSet, group: inventory-processor, partitions: productPartitions}
{{- end -}}

{{- define "orderpipe.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "orderpipe.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* selector labels of one component: (dict "root" $ "component" "ingress") */}}
{{- define "orderpipe.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "orderpipe.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "orderpipe.secretName" -}}
{{- .Values.secrets.existingSecret | default (printf "%s-secrets" (include "orderpipe.fullname" .)) -}}
{{- end -}}

{{- define "orderpipe.grace" -}}
{{- $s := .Values.shutdown -}}
{{- if le (int $s.graceMarginSeconds) 0 -}}{{- fail "shutdown.graceMarginSeconds must be > 0: terminationGracePeriodSeconds has to exceed the drain" -}}{{- end -}}
{{- add $s.preStopSleepSeconds $s.drainTimeoutSeconds $s.graceMarginSeconds -}}
{{- end -}}

{{/* Environment every container gets: the README configuration table's variables. */}}
{{- define "orderpipe.env" -}}
{{- $k := .Values.kafka -}}
- name: KAFKA_BROKERS
  value: {{ join "," $k.brokers | quote }}
- name: TOPIC_PREFIX
  value: {{ $k.topicPrefix | quote }}
- name: ORDER_PARTITIONS
  value: {{ $k.orderPartitions | quote }}
- name: PRODUCT_PARTITIONS
  value: {{ $k.productPartitions | quote }}
- name: KAFKA_REPLICATION_FACTOR
  value: {{ $k.replicationFactor | quote }}
- name: KAFKA_MIN_INSYNC_REPLICAS
  value: {{ $k.minInsyncReplicas | quote }}
- name: KAFKA_SESSION_TIMEOUT
  value: {{ $k.sessionTimeout | quote }}
- name: KAFKA_TRANSACTION_TIMEOUT
  value: {{ $k.transactionTimeout | quote }}
{{- if $k.sasl.mechanism }}
- name: KAFKA_SASL_MECHANISM
  value: {{ $k.sasl.mechanism | quote }}
- name: KAFKA_SASL_USERNAME
  value: {{ $k.sasl.username | quote }}
{{- end }}
- name: KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ include "orderpipe.secretName" . }}, key: KAFKA_SASL_PASSWORD, optional: true}
{{- if $k.tls.enabled }}
- name: KAFKA_TLS
  value: "true"
{{- if $k.tls.secretName }}
- name: KAFKA_TLS_CA_FILE
  value: /etc/orderpipe/kafka-tls/ca.crt
{{- if $k.tls.mutual }}
- name: KAFKA_TLS_CERT_FILE
  value: /etc/orderpipe/kafka-tls/tls.crt
- name: KAFKA_TLS_KEY_FILE
  value: /etc/orderpipe/kafka-tls/tls.key
{{- end }}
{{- end }}
{{- end }}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef: {name: {{ include "orderpipe.secretName" . }}, key: DATABASE_URL}
- name: REDIS_URL
  valueFrom:
    secretKeyRef: {name: {{ include "orderpipe.secretName" . }}, key: REDIS_URL}
- name: SHUTDOWN_DRAIN_TIMEOUT
  value: {{ printf "%ds" (int .Values.shutdown.drainTimeoutSeconds) | quote }}
- name: IDEMPOTENCY_WINDOW
  value: {{ .Values.topicsJob.idempotencyWindow | quote }}
{{- range $name, $value := .Values.config }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end -}}

{{- define "orderpipe.tlsVolume" -}}
{{- if and .Values.kafka.tls.enabled .Values.kafka.tls.secretName }}
- name: kafka-tls
  secret: {secretName: {{ .Values.kafka.tls.secretName }}}
{{- end }}
{{- end -}}

{{- define "orderpipe.tlsMount" -}}
{{- if and .Values.kafka.tls.enabled .Values.kafka.tls.secretName }}
- name: kafka-tls
  mountPath: /etc/orderpipe/kafka-tls
  readOnly: true
{{- end }}
{{- end -}}
