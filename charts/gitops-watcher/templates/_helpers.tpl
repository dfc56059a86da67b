{{/*
Names. Every object is named from the release, so one release per team
namespace never clashes with another team's; the chart creates nothing
cluster-scoped.
*/}}
{{- define "gitops-watcher.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "gitops-watcher.fullname" -}}
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

{{- define "gitops-watcher.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels that select the pods: stable across upgrades. */}}
{{- define "gitops-watcher.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gitops-watcher.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The recommended labels, on every object. */}}
{{- define "gitops-watcher.labels" -}}
helm.sh/chart: {{ include "gitops-watcher.chart" . }}
{{ include "gitops-watcher.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: daemon
app.kubernetes.io/part-of: gitops-watcher
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "gitops-watcher.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "gitops-watcher.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "gitops-watcher.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{- define "gitops-watcher.claimName" -}}
{{- default (printf "%s-state" (include "gitops-watcher.fullname" .)) .Values.state.persistence.existingClaim }}
{{- end }}

{{/* true when the state folder is a PersistentVolumeClaim. */}}
{{- define "gitops-watcher.usesClaim" -}}
{{- if and (eq .Values.state.backend "sqlite") .Values.state.persistence.enabled }}true{{ end }}
{{- end }}

{{/* Names of the environment variables that only a Secret may set. */}}
{{- define "gitops-watcher.secretEnvNames" -}}
{{- list "MLFLOW_TRACKING_TOKEN" "MLFLOW_TRACKING_PASSWORD" "GIT_TOKEN" "AWS_SECRET_ACCESS_KEY" "AWS_SESSION_TOKEN" "GITOPS_WATCHER_WEBHOOK_SECRET" "GITOPS_WATCHER_STATE_DB_URL" "ARGOCD_AUTH_TOKEN" | toJson }}
{{- end }}

{{/* Names of the environment variables the chart sets itself. */}}
{{- define "gitops-watcher.ownEnvNames" -}}
{{- $names := list "HOME" "GITOPS_WATCHER_CONFIG" "GITOPS_WATCHER_STATE_DIR" "GITOPS_WATCHER_RENDER__FETCH_IMAGE" }}
{{- if .Values.mlflow.trackingUri }}{{ $names = append $names "MLFLOW_TRACKING_URI" }}{{ end }}
{{- if .Values.git.repoUrl }}{{ $names = append $names "GIT_REPO_URL" }}{{ end }}
{{- if .Values.git.branch }}{{ $names = append $names "GIT_BRANCH" }}{{ end }}
{{- if .Values.git.ssh.existingSecret }}{{ $names = concat $names (list "GIT_SSH_KEY_FILE" "GIT_KNOWN_HOSTS_FILE") }}{{ end }}
{{- if .Values.git.https.username }}{{ $names = append $names "GIT_USERNAME" }}{{ end }}
{{- if .Values.s3.bucket }}{{ $names = append $names "BUCKET_NAME" }}{{ end }}
{{- if .Values.s3.endpointUrl }}{{ $names = append $names "MLFLOW_S3_ENDPOINT_URL" }}{{ end }}
{{- if .Values.mlflow.credentials.existingSecret }}
{{- with .Values.mlflow.credentials }}
{{- if .tokenKey }}{{ $names = append $names "MLFLOW_TRACKING_TOKEN" }}{{ end }}
{{- if .usernameKey }}{{ $names = append $names "MLFLOW_TRACKING_USERNAME" }}{{ end }}
{{- if .passwordKey }}{{ $names = append $names "MLFLOW_TRACKING_PASSWORD" }}{{ end }}
{{- end }}
{{- end }}
{{- if .Values.git.https.existingSecret }}{{ $names = append $names "GIT_TOKEN" }}{{ end }}
{{- if .Values.s3.credentials.existingSecret }}
{{- $names = concat $names (list "AWS_ACCESS_KEY_ID" "AWS_SECRET_ACCESS_KEY") }}
{{- if .Values.s3.credentials.sessionTokenKey }}{{ $names = append $names "AWS_SESSION_TOKEN" }}{{ end }}
{{- end }}
{{- if .Values.webhook.existingSecret }}{{ $names = append $names "GITOPS_WATCHER_WEBHOOK_SECRET" }}{{ end }}
{{- if .Values.argocd.existingSecret }}{{ $names = append $names "ARGOCD_AUTH_TOKEN" }}{{ end }}
{{- if eq .Values.state.backend "postgresql" }}{{ $names = append $names "GITOPS_WATCHER_STATE_DB_URL" }}{{ end }}
{{- $names | toJson }}
{{- end }}

{{/*
Checks that values.schema.json cannot express; each fails the install with
what to change.
*/}}
{{- define "gitops-watcher.validate" -}}
{{- $replicas := int .Values.replicaCount }}
{{- if and (eq .Values.state.backend "sqlite") (gt $replicas 1) }}
{{- fail (printf "replicaCount is %d, but state.backend is \"sqlite\": the SQLite ledger lives on one ReadWriteOnce volume and supports exactly one replica. Set replicaCount: 1, or use state.backend: postgresql with state.postgresql.existingSecret to run 2 replicas." $replicas) }}
{{- end }}
{{- if and (eq .Values.state.backend "postgresql") (not .Values.state.postgresql.existingSecret) }}
{{- fail "state.backend is \"postgresql\", but state.postgresql.existingSecret is empty: name the Secret whose key state.postgresql.urlKey holds the database URL (GITOPS_WATCHER_STATE_DB_URL)." }}
{{- end }}
{{- if and .Values.state.persistence.existingClaim (eq .Values.state.backend "postgresql") }}
{{- fail "state.persistence.existingClaim is set, but state.backend is \"postgresql\": with PostgreSQL the state folder is an emptyDir. Remove the claim or use state.backend: sqlite." }}
{{- end }}
{{- $secretNames := include "gitops-watcher.secretEnvNames" . | fromJsonArray }}
{{- $ownNames := include "gitops-watcher.ownEnvNames" . | fromJsonArray }}
{{- range $name, $value := .Values.env }}
{{- if has $name $secretNames }}
{{- fail (printf "env.%s holds a credential in plain text: put it in a Secret and reference it (see mlflow.credentials, git.https, s3.credentials, webhook, argocd and state.postgresql, or extraEnv with valueFrom.secretKeyRef)." $name) }}
{{- end }}
{{- if has $name $ownNames }}
{{- fail (printf "env.%s is already set by the chart from its own values: remove it from env (see docs/kubernetes.md for the value that sets it)." $name) }}
{{- end }}
{{- end }}
{{- $configJson := toJson .Values.config }}
{{- /* Like the daemon: a key whose value is not a mapping and whose name contains a secret word. */}}
{{- $secretKey := regexFind "\"[^\"]*(?i:password|token|secret|private_key)[^\"]*\":[^{]" $configJson }}
{{- if $secretKey }}
{{- fail (printf "config holds the key %s, which looks like a credential: the daemon refuses secrets in its config file. Give it through the environment from a Secret instead." (regexFind "\"[^\"]*\"" $secretKey)) }}
{{- end }}
{{- end }}
