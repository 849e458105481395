{{/* The chart name, or nameOverride. */}}
{{- define "postmaster.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The prefix of every object name: the release name when it already says
"postmaster" (helm install postmaster ...), else "<release>-postmaster".
*/}}
{{- define "postmaster.fullname" -}}
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

{{- define "postmaster.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "postmaster.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Labels that select this release's pods; never change them (Deployment selectors are immutable). */}}
{{- define "postmaster.selectorLabels" -}}
app.kubernetes.io/name: {{ include "postmaster.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "postmaster.labels" -}}
{{ include "postmaster.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: postmaster
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{- define "postmaster.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* The Lease the replicas elect a leader with. */}}
{{- define "postmaster.leaseName" -}}
{{- printf "%s-leader" (include "postmaster.fullname" .) }}
{{- end }}

{{- define "postmaster.smtpTlsDir" -}}/etc/postmaster/smtp-tls{{- end }}

{{/*
The operator's flags. One line per feature: a new one is a line here and, for a
Secret, an entry in postmaster.env. The store's settings are all environment
variables (postmaster.env), so a kustomize patch can add them without
replacing the args list (manifests/components/valkey does).
*/}}
{{- define "postmaster.args" -}}
- --log-level={{ .Values.logLevel }}
- --http-port={{ .Values.ports.http }}
- --smtp-port={{ .Values.ports.smtp }}
- --health-port={{ .Values.ports.health }}
- --service-name={{ include "postmaster.fullname" . }}
- --service-namespace={{ .Release.Namespace }}
- --leader-election-namespace={{ .Release.Namespace }}
- --leader-election-id={{ include "postmaster.leaseName" . }}
{{- with .Values.namespaces }}
- --namespaces={{ join "," . }}
{{- end }}
{{- with .Values.dnsServers }}
- --dns-server={{ join "," . }}
{{- end }}
{{- if .Values.smtpTls.secretName }}
- --smtp-tls-cert={{ include "postmaster.smtpTlsDir" . }}/tls.crt
- --smtp-tls-key={{ include "postmaster.smtpTlsDir" . }}/tls.key
{{- end }}
{{- with .Values.extraArgs }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "postmaster.env" -}}
{{- /* The store's variables first: a kustomize strategic merge patch puts the
variables it adds first too, so manifests/components/valkey builds what helm does. */}}
{{- include "postmaster.storeEnv" . }}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Where a monitoring object goes: its own namespace value, or the release's. */}}
{{- define "postmaster.monitoringNamespace" -}}
{{- .namespace | default .root.Release.Namespace }}
{{- end }}

{{/* The bundled Valkey (store.valkey): its object names and Secret. */}}
{{- define "postmaster.valkeyName" -}}
{{- printf "%s-valkey" (include "postmaster.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "postmaster.valkeySecret" -}}
{{- .Values.store.valkey.existingSecret | default (include "postmaster.valkeyName" .) }}
{{- end }}

{{/* Labels that select the bundled Valkey's pod, and never the operator's. */}}
{{- define "postmaster.valkeySelectorLabels" -}}
app.kubernetes.io/name: valkey
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: store
{{- end }}

{{- define "postmaster.valkeyLabels" -}}
{{ include "postmaster.valkeySelectorLabels" . }}
app.kubernetes.io/version: {{ .Values.store.valkey.image.tag | quote }}
app.kubernetes.io/part-of: postmaster
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{- define "postmaster.valkeyImage" -}}
{{- $i := .Values.store.valkey.image }}
{{- if $i.digest }}
{{- printf "%s@%s" $i.repository $i.digest }}
{{- else }}
{{- printf "%s:%s" $i.repository $i.tag }}
{{- end }}
{{- end }}

{{/* Whether a store is configured: store.redis.url or the bundled Valkey. */}}
{{- define "postmaster.hasStore" -}}
{{- if and .Values.store.valkey.enabled .Values.store.redis.url }}
{{- fail "store.valkey.enabled and store.redis.url both set: use the bundled Valkey or your own, not both" }}
{{- end }}
{{- if or .Values.store.valkey.enabled .Values.store.redis.url }}true{{ end }}
{{- end }}

{{- define "postmaster.redisCaDir" -}}/etc/postmaster/redis-ca{{- end }}

{{/*
The store's environment (the operator's --redis-* flags): the URL, the ACL
user, the password from a Secret (never in args, where `ps` and the pod spec
would show it) and the CA file of a private CA.
*/}}
{{- define "postmaster.storeEnv" -}}
{{- $_ := include "postmaster.hasStore" . }}
{{- $r := .Values.store.redis }}
{{- if .Values.store.valkey.enabled }}
- name: POSTMASTER_REDIS_URL
  value: {{ printf "redis://%s.%s.svc:6379/0" (include "postmaster.valkeyName" .) .Release.Namespace | quote }}
- name: POSTMASTER_REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "postmaster.valkeySecret" . }}
      key: password
{{- else if $r.url }}
- name: POSTMASTER_REDIS_URL
  value: {{ $r.url | quote }}
{{- if $r.usernameKey }}
{{- if not $r.existingSecret }}
{{- fail "store.redis.usernameKey names a key of store.redis.existingSecret, which is not set" }}
{{- end }}
- name: POSTMASTER_REDIS_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ $r.existingSecret }}
      key: {{ $r.usernameKey }}
{{- else if $r.username }}
- name: POSTMASTER_REDIS_USERNAME
  value: {{ $r.username | quote }}
{{- end }}
{{- if $r.existingSecret }}
- name: POSTMASTER_REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $r.existingSecret }}
      key: {{ $r.passwordKey }}
{{- end }}
{{- if $r.tls.caSecret }}
- name: POSTMASTER_REDIS_TLS_CA_FILE
  value: {{ printf "%s/%s" (include "postmaster.redisCaDir" .) $r.tls.caKey | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/* The bundled Valkey's valkey.conf (a ConfigMap; its hash restarts the pod when it changes). */}}
{{- define "postmaster.valkeyConf" -}}
# Every interface of the pod; the NetworkPolicy admits only postmaster's pods.
bind * -::*
port 6379
# The PersistentVolumeClaim.
dir /data
# Durability: every write is appended to the append-only file, which Valkey
# replays on start. appendfsync everysec flushes it to disk once a second:
# a crash of Valkey alone normally loses nothing (the writes are in the
# kernel's cache), a node that loses power loses about the last second (at
# worst two). "always" flushes before each write is answered (nothing
# accepted is lost while the disk survives) and costs a disk flush per write.
appendonly yes
appendfsync {{ .Values.store.valkey.appendfsync }}
# BullMQ needs noeviction: an evicted queue key is a lost message. When
# maxmemory is reached writes fail, and postmaster refuses Queued sends (503).
maxmemory {{ .Values.store.valkey.maxmemory }}
maxmemory-policy noeviction
# requirepass, written at start from the Secret (see the container's command).
include /run/valkey/auth.conf
{{- end }}
