{{- define "kof.labels" -}}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end }}

{{- define "kof.storageClass" -}}
{{- if .Values.global.storageClass }}
storageClassName: {{ .Values.global.storageClass }}
{{- end }}
{{- end }}

{{/* The Deployment / StatefulSet of a subchart of the real chart (one container). */}}
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
  replicas: 1
  {{- if eq (.kind | default "Deployment") "StatefulSet" }}
  serviceName: {{ .name }}
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
          {{- with .mounts }}
          volumeMounts: {{- toYaml . | nindent 12 }}
          {{- end }}
      {{- with .volumes }}
      volumes: {{- toYaml . | nindent 8 }}
      {{- end }}
  {{- with .claim }}
  volumeClaimTemplates:
    - metadata:
        name: {{ .name }}
      spec:
        {{- with .accessModes }}
        accessModes: {{- toYaml . | nindent 10 }}
        {{- end }}
        {{- with .storageClass }}
        storageClassName: {{ . }}
        {{- end }}
        resources:
          requests:
            storage: {{ .size }}
  {{- end }}
{{- end }}
