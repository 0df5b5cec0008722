{{- define "kof.labels" -}}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end }}

{{/* The Secret promxy-operator renders PromxyServerGroups into; PSGs select it by label value. */}}
{{- define "promxy.secretname" -}}
{{- .Values.promxy.secret | default (printf "%s-promxy-config" .Release.Name) -}}
{{- end }}

{{/* kcm names templates <chart>-<version with dots as dashes> */}}
{{- define "kof.templateName" -}}
{{- printf "%s-%s" .chart (.version | replace "." "-") -}}
{{- end }}

{{- define "kof.deployment" -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .name }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    app.kubernetes.io/name: {{ .app | default .name }}
    {{- include "kof.labels" .root | nindent 4 }}
spec:
  replicas: 1
  selector:
    matchLabels: {app.kubernetes.io/name: {{ .app | default .name }}, app.kubernetes.io/instance: {{ .root.Release.Name }}}
  template:
    metadata:
      labels: {app.kubernetes.io/name: {{ .app | default .name }}, app.kubernetes.io/instance: {{ .root.Release.Name }}}
    spec:
      containers:
        - name: {{ .container | default "main" }}
          image: {{ .image }}
          {{- with .volumes }}
          volumeMounts:
            {{- range . }}
            - {name: {{ .name }}, mountPath: {{ .mountPath }}}
            {{- end }}
          {{- end }}
      {{- with .volumes }}
      volumes:
        {{- range . }}
        - name: {{ .name }}
          {{- if .secret }}
          secret: {secretName: {{ .secret }}}
          {{- else }}
          persistentVolumeClaim: {claimName: {{ .claim }}}
          {{- end }}
        {{- end }}
      {{- end }}
{{- end }}
