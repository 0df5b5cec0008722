{{/* kofsim stand-in for KOF 1.10.0's kof chart: labels and names as the real chart renders them
     (k0rdent/kof@v1.10.0 charts/kof/templates/_helpers.tpl); kofsim's own template text. */}}
{{- define "kofsim.kof.name" -}}
{{- .Values.nameOverride | default .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "kofsim.kof.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "kofsim.kof.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
k0rdent.mirantis.com/managed: "true"
{{- end }}

{{- define "kofsim.kof.namespace" -}}
{{- .Values.global.namespace | default "kof" }}
{{- end }}
