{{/* Chart name, truncated to a DNS label. */}}
{{- define "sso-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-qualified name; the release name alone when it already contains the chart name. */}}
{{- define "sso-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "sso-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "sso-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sso-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "sso-operator.labels" -}}
helm.sh/chart: {{ include "sso-operator.chart" . }}
{{ include "sso-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: sso-operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "sso-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "sso-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* publicURL, checked: required and https (the operator refuses plain http off loopback). */}}
{{- define "sso-operator.publicURL" -}}
{{- $url := required "publicURL is required: the externally visible https URL of the operator, e.g. --set publicURL=https://sso.example.com" .Values.publicURL }}
{{- if not (hasPrefix "https://" $url) }}
{{- fail (printf "publicURL must be an https:// URL (the login-state cookie must be Secure), got %q" $url) }}
{{- end }}
{{- $url }}
{{- end }}

{{/* The watched namespaces, de-duplicated, as a list (empty: cluster-wide). */}}
{{- define "sso-operator.namespaces" -}}
{{- toJson (uniq .Values.namespaces) }}
{{- end }}

{{- define "sso-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The Secret holding the Redis URL and its key, or nothing without Redis. */}}
{{- define "sso-operator.redisSecretName" -}}
{{- if .Values.redis.existingSecret }}
{{- .Values.redis.existingSecret }}
{{- else if .Values.redis.url }}
{{- printf "%s-redis" (include "sso-operator.fullname" .) }}
{{- end }}
{{- end }}

{{/* The operator's access to the watched objects: the same rules in a ClusterRole or in each namespace's Role. */}}
{{- define "sso-operator.watchRules" -}}
- apiGroups: ["sso.operator.dev"]
  resources: ["ssoconnectors", "userbindings"]
  verbs: ["get", "list", "watch"]
# Status only, by server-side apply: the spec belongs to the users.
- apiGroups: ["sso.operator.dev"]
  resources: ["ssoconnectors/status", "userbindings/status"]
  verbs: ["get", "patch", "update"]
# Access requests (spec.access.requests): create only, never update or
# delete, so a binding declared in Git is never changed by the operator.
- apiGroups: ["sso.operator.dev"]
  resources: ["userbindings"]
  verbs: ["create"]
- apiGroups: [""]
  resources: ["secrets", "configmaps"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}
