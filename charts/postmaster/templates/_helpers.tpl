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
The operator's flags. One line per feature: a new one (e.g. --redis-url for the
shared store) is a line here and, for a Secret, an entry in postmaster.env.
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
