{{- define "kof.labels" -}}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end }}

{{/* Render-time dependency of the real chart: basic auth credentials are read with lookup from the Secret named
     in kof.<logs|metrics>.credentials_secret_name, which must already be in the release namespace. Without it,
     helm fails with "error calling index: index of untyped nil", as the real chart does. */}}
{{- define "basic_auth_extensions" -}}
{{- range tuple "metrics" "logs" }}
{{- $c := index $.Values.kof . }}
{{- $secret := lookup "v1" "Secret" $.Release.Namespace $c.credentials_secret_name }}
{{- if not $.Values.global.lint }}
basicauth/{{ . }}:
  client_auth:
    username: {{ index $secret.data $c.username_key | b64dec | quote }}
    password: {{ index $secret.data $c.password_key | b64dec | quote }}
{{- end }}
{{- end }}
{{- end }}

{{- define "kof.collector" -}}
apiVersion: opentelemetry.io/v1beta1
kind: OpenTelemetryCollector
metadata:
  name: {{ .root.Release.Name }}-{{ .name }}
  namespace: {{ .root.Release.Namespace }}
  labels: {{- include "kof.labels" .root | nindent 4 }}
spec:
  mode: {{ .mode }}
  serviceAccount: {{ .root.Release.Name }}-k8s-cluster-collector
  config:
    receivers: {{- toYaml .receivers | nindent 6 }}
    processors:
      batch: {}
    {{- /* the real chart always authenticates (basic auth read from the credentials Secret) */}}
    extensions: {{- include "basic_auth_extensions" .root | nindent 6 }}
    exporters:
      prometheusremotewrite:
        endpoint: {{ .root.Values.kof.metrics.endpoint }}
        external_labels:
          {{ .root.Values.global.clusterLabel }}: {{ .root.Values.global.clusterName | quote }}
        auth:
          authenticator: basicauth/metrics
      otlphttp:
        logs_endpoint: {{ .root.Values.kof.logs.endpoint }}
        auth:
          authenticator: basicauth/logs
    service:
      extensions: [basicauth/metrics, basicauth/logs]
      pipelines:
        metrics:
          receivers: {{ keys .receivers | sortAlpha | toJson }}
          processors: [batch]
          exporters: [prometheusremotewrite]
        logs:
          receivers: [{{ if eq .mode "daemonset" }}filelog{{ else }}k8s_events{{ end }}]
          processors: [batch]
          exporters: [otlphttp]
{{- end }}

{{- define "kof.workload" -}}
apiVersion: apps/v1
kind: {{ .kind | default "Deployment" }}
metadata:
  name: {{ .name }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    app.kubernetes.io/name: {{ .app }}
    {{- include "kof.labels" .root | nindent 4 }}
spec:
  {{- if ne (.kind | default "Deployment") "DaemonSet" }}
  replicas: 1
  {{- end }}
  selector:
    matchLabels: {app.kubernetes.io/name: {{ .app }}, app.kubernetes.io/instance: {{ .root.Release.Name }}}
  template:
    metadata:
      labels: {app.kubernetes.io/name: {{ .app }}, app.kubernetes.io/instance: {{ .root.Release.Name }}}
    spec:
      containers:
        - name: {{ .container | default "main" }}
          image: {{ .image }}
          {{- with .env }}
          env: {{- toYaml . | nindent 12 }}
          {{- end }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ .name }}
  namespace: {{ .root.Release.Namespace }}
  labels: {{- include "kof.labels" .root | nindent 4 }}
spec:
  selector: {app.kubernetes.io/name: {{ .app }}, app.kubernetes.io/instance: {{ .root.Release.Name }}}
  ports: [{name: http, port: {{ .port }}, targetPort: {{ .port }}}]
{{- end }}
