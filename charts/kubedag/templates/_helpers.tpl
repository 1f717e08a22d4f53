{{/* Chart name. */}}
{{- define "kubedag.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name prefix for every object, at most 40 characters so suffixes fit. */}}
{{- define "kubedag.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "kubedag.aggregator.fullname" -}}{{ include "kubedag.fullname" . }}-aggregator{{- end -}}
{{- define "kubedag.agent.fullname" -}}{{ include "kubedag.fullname" . }}-agent{{- end -}}
{{- define "kubedag.tlsSecretName" -}}
{{- default (printf "%s-stream-tls" (include "kubedag.fullname" .)) .Values.tls.existingSecret -}}
{{- end -}}

{{/* DNS name agents dial; it is also in the generated certificate. */}}
{{- /*
kubedag.streamTLS: the generated stream Secret's data as JSON (base64 crt, key,
ca): the existing Secret's, kept across upgrades because agents trust its CA,
or a new CA and certificate. Generated once per render and remembered (in
.Release, which every template of the render shares), so the Secret and the
pods' checksum/tls annotation see the same certificate.
*/ -}}
{{- define "kubedag.streamTLS" -}}
{{- if not (hasKey .Release "kubedagStreamTLS") -}}
{{- $name := include "kubedag.tlsSecretName" . -}}
{{- $svc := include "kubedag.aggregator.fullname" . -}}
{{- $existing := lookup "v1" "Secret" .Release.Namespace $name -}}
{{- $data := dict -}}
{{- if and $existing $existing.data (index $existing.data "tls.crt") (index $existing.data "tls.key") (index $existing.data "ca.crt") -}}
{{- $data = dict "crt" (index $existing.data "tls.crt") "key" (index $existing.data "tls.key") "ca" (index $existing.data "ca.crt") -}}
{{- else -}}
{{- $days := int .Values.tls.validityDays -}}
{{- $caCert := genCA (printf "%s-ca" $svc) $days -}}
{{- $dns := list $svc (printf "%s.%s" $svc .Release.Namespace) (printf "%s.%s.svc" $svc .Release.Namespace) (printf "%s.%s.svc.%s" $svc .Release.Namespace .Values.clusterDomain) -}}
{{- $cert := genSignedCert (include "kubedag.aggregator.host" .) nil $dns $days $caCert -}}
{{- $data = dict "crt" ($cert.Cert | b64enc) "key" ($cert.Key | b64enc) "ca" ($caCert.Cert | b64enc) -}}
{{- end -}}
{{- $_ := set .Release "kubedagStreamTLS" $data -}}
{{- end -}}
{{- get .Release "kubedagStreamTLS" | toJson -}}
{{- end -}}

{{- /*
kubedag.tlsChecksum: what the pods' checksum/tls annotation hashes: the
certificate the chart renders (the binaries reload a rotated Secret by
themselves; the roll makes a regenerated CA take effect everywhere at once),
or, when the Secret comes from elsewhere, the values that choose it.
*/ -}}
{{- define "kubedag.tlsChecksum" -}}
{{- if or .Values.tls.existingSecret .Values.tls.certManager.enabled -}}
{{- toJson .Values.tls | sha256sum -}}
{{- else -}}
{{- include "kubedag.streamTLS" . | sha256sum -}}
{{- end -}}
{{- end -}}

{{- define "kubedag.aggregator.host" -}}
{{- printf "%s.%s.svc" (include "kubedag.aggregator.fullname" .) .Release.Namespace -}}
{{- end -}}

{{- define "kubedag.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "kubedag.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "kubedag.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kubedag
{{- end -}}

{{- define "kubedag.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kubedag.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Pod and container security settings shared by agent and aggregator. */}}
{{- define "kubedag.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "kubedag.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
capabilities:
  drop: ["ALL"]
{{- end -}}

{{/* Identity for telemetry resources (k8s semantic conventions). */}}
{{- define "kubedag.identityEnv" -}}
- name: CLUSTER_NAME
  value: {{ .Values.cluster | quote }}
- name: NODE_NAME
  valueFrom:
    fieldRef:
      fieldPath: spec.nodeName
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: POD_UID
  valueFrom:
    fieldRef:
      fieldPath: metadata.uid
{{- end -}}

{{- define "kubedag.otelEnv" -}}
{{- if .Values.otel.endpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ .Values.otel.endpoint | quote }}
{{- end }}
{{- if .Values.otel.protocol }}
- name: OTEL_EXPORTER_OTLP_PROTOCOL
  value: {{ .Values.otel.protocol | quote }}
{{- end }}
{{- end -}}

{{/*
Seconds in a Go duration string ("1h30m", "500ms"): the schema checks the
syntax, this lets templates check the ranges the binaries enforce.
*/}}
{{- define "kubedag.seconds" -}}
{{- $units := dict "ns" 0.000000001 "us" 0.000001 "µs" 0.000001 "ms" 0.001 "s" 1.0 "m" 60.0 "h" 3600.0 -}}
{{- $total := 0.0 -}}
{{- range regexFindAll "[0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h)" (toString .) -1 -}}
{{- $num := regexFind "^[0-9]+(\\.[0-9]+)?" . -}}
{{- $total = addf $total (mulf (float64 $num) (get $units (trimPrefix $num .))) -}}
{{- end -}}
{{- $total -}}
{{- end -}}

{{/*
Checks of values the schema cannot express; the limits are the binaries'
(aggregator/config: MinTagTTL, MaxTagTTL; charts/values_test.go keeps them
equal).
*/}}
{{- define "kubedag.validate" -}}
{{- $a := .Values.aggregator -}}
{{- $ttl := float64 (include "kubedag.seconds" $a.tagTTL) -}}
{{- if and (gt $ttl 0.0) (or (lt $ttl 60.0) (gt $ttl 2592000.0)) -}}
{{- fail (printf "aggregator.tagTTL %q: must be 0s (off) or between 1m and 720h (the PAN-OS maximum tag timeout)" $a.tagTTL) -}}
{{- end -}}
{{- if and (not .Values.tls.existingSecret) (ne .Values.tls.caKey "ca.crt") -}}
{{- fail (printf "tls.caKey %q applies to tls.existingSecret only: the generated and cert-manager Secrets keep their CA in ca.crt" .Values.tls.caKey) -}}
{{- end -}}
{{- $cm := .Values.tls.certManager -}}
{{- if $cm.enabled -}}
{{- if .Values.tls.existingSecret -}}
{{- fail "tls.certManager.enabled and tls.existingSecret exclude each other: cert-manager writes the chart's own Secret" -}}
{{- end -}}
{{- if not $cm.issuerRef.name -}}
{{- fail "tls.certManager.issuerRef.name is required with tls.certManager.enabled" -}}
{{- end -}}
{{- if not (.Capabilities.APIVersions.Has "cert-manager.io/v1/Certificate") -}}
{{- fail "tls.certManager.enabled: the cluster does not serve cert-manager.io/v1 Certificate (install cert-manager; with helm template pass --api-versions cert-manager.io/v1/Certificate)" -}}
{{- end -}}
{{- end -}}
{{- $ns := lookup "v1" "Namespace" "" .Release.Namespace -}}
{{- if $ns -}}
{{- $enforce := dig "metadata" "labels" "pod-security.kubernetes.io/enforce" "" $ns -}}
{{- if and $enforce (ne $enforce "privileged") -}}
{{- fail (printf "namespace %s enforces Pod Security %q: the agent needs the host network (to see pod routes), which only \"privileged\" allows, so its DaemonSet would run no pod. Label the namespace: kubectl label namespace %s pod-security.kubernetes.io/enforce=privileged --overwrite" .Release.Namespace $enforce .Release.Namespace) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Directory a target's credentials Secret is mounted in. */}}
{{- define "kubedag.targetDir" -}}/etc/kubedag/targets/{{ . }}{{- end -}}

{{/*
The aggregator config file (cli-contract.md). Credentials appear only as file
paths under the mounted Secrets, never as values.
*/}}
{{- define "kubedag.config" -}}
{{- include "kubedag.validate" . -}}
{{- $seen := dict -}}
{{- range .Values.targets -}}
{{- if hasKey $seen .name -}}
{{- fail (printf "targets: name %q is used twice; target names must be unique" .name) -}}
{{- end -}}
{{- $_ := set $seen .name true -}}
{{- end -}}
{{- if not (or .Values.tags.pods .Values.tags.services) -}}
{{- fail "tags.pods and tags.services are both false: kubedag would tag nothing" -}}
{{- end -}}
{{- if and .Values.agent.multus (eq .Values.agent.ipSource "netlink") -}}
{{- fail "agent.multus needs agent.ipSource both or api: secondary (Multus) interfaces have no host route, so with netlink alone their IPs would never be claimed" -}}
{{- end -}}
{{- if and .Values.tags.nodes.enabled .Values.agent.tagHostNetwork -}}
{{- fail "tags.nodes.enabled and agent.tagHostNetwork exclude each other: a node IP would carry neither the node's nor its hostNetwork pods' tags" -}}
{{- end -}}
{{- if and (eq .Values.tags.preset "custom") (not .Values.tags.template) -}}
{{- fail "tags.template is required when tags.preset is custom" -}}
{{- end -}}
cluster: {{ .Values.cluster | quote }}
tags:
  preset: {{ .Values.tags.preset | quote }}
  prefix: {{ .Values.tags.prefix | quote }}
  template: {{ .Values.tags.template | quote }}
  labels:
    allow: {{ .Values.tags.labels.allow | toJson }}
    deny: {{ .Values.tags.labels.deny | toJson }}
  pods: {{ .Values.tags.pods }}
  services: {{ .Values.tags.services }}
  namespaceTags: {{ .Values.tags.namespaceTags }}
  nodes:
    enabled: {{ .Values.tags.nodes.enabled }}
    externalIPs: {{ .Values.tags.nodes.externalIPs }}
    labels: {{ .Values.tags.nodes.labels | toJson }}
{{- if .Values.targets }}
targets:
{{- range .Values.targets }}
{{- $dir := include "kubedag.targetDir" .name }}
  - name: {{ .name | quote }}
    url: {{ .url | quote }}
    kind: {{ .kind | quote }}
    vsys: {{ .vsys | default "" | quote }}
    serial: {{ .serial | default "" | quote }}
    {{- if eq (.auth | default "apiKey") "password" }}
    apiKeyFile: ""
    usernameFile: {{ printf "%s/username" $dir | quote }}
    passwordFile: {{ printf "%s/password" $dir | quote }}
    {{- else }}
    apiKeyFile: {{ printf "%s/api-key" $dir | quote }}
    usernameFile: ""
    passwordFile: ""
    {{- end }}
    caFile: {{ ternary (printf "%s/ca.crt" $dir) "" (.caFromSecret | default false) | quote }}
    insecureSkipVerify: {{ .insecureSkipVerify | default false }}
    {{- with .maxCallsPerSecond }}
    maxCallsPerSecond: {{ . }}
    {{- end }}
    {{- with .dags }}
    dags: {{ toJson . }}
    {{- end }}
{{- end }}
{{- else }}
targets: []
{{- end }}
{{- include "kubedag.sandwichConfig" (dict "sandwich" .Values.sandwich "targets" $seen) }}
{{- end -}}

{{/* The config file's sandwich section; nothing when the sandwich is off. */}}
{{- define "kubedag.sandwichConfig" -}}
{{- with .sandwich }}
{{- if .enabled }}
{{- if not .targets }}
{{- fail "sandwich.targets: name at least one of targets when sandwich.enabled is true" }}
{{- end }}
{{- range .targets }}
{{- if not (hasKey $.targets .) }}
{{- fail (printf "sandwich.targets: %q is not the name of one of targets" .) }}
{{- end }}
{{- end }}
{{- if and .aws.region .inventory }}
{{- fail "sandwich: set sandwich.aws.region (AWS discovery) or sandwich.inventory, not both" }}
{{- end }}
{{- if not (or .aws.region .inventory) }}
{{- fail "sandwich: set sandwich.aws.region (AWS discovery) or sandwich.inventory (static) when sandwich.enabled is true" }}
{{- end }}
sandwich:
  enabled: true
  labelKey: {{ .labelKey | quote }}
  targets: {{ .targets | toJson }}
  ruleLocation: {{ .ruleLocation | toJson }}
  {{- range $k := list "admin" "virtualRouter" "logicalRouter" "vrf" "untrustInterface" "trustInterface" "untrustZone" "trustZone" "deviceGroup" "template" "templateStack" }}
  {{- with index $.sandwich $k }}
  {{ $k }}: {{ . | quote }}
  {{- end }}
  {{- end }}
  {{- with .aws }}
  {{- if .region }}
  {{- if not .clusterName }}
  {{- fail "sandwich.aws.clusterName: required with sandwich.aws.region" }}
  {{- end }}
  aws:
    region: {{ .region | quote }}
    clusterName: {{ .clusterName | quote }}
    {{- range $k := list "roleARN" "externalID" "firewallStack" "firewallASG" "trustInterfaceTag" "refreshInterval" }}
    {{- with index $.sandwich.aws $k }}
    {{ $k }}: {{ . | quote }}
    {{- end }}
    {{- end }}
    {{- with .firewallTags }}
    firewallTags: {{ . | toJson }}
    {{- end }}
    {{- if not .trustInterfaceTag }}
    trustDeviceIndex: {{ .trustDeviceIndex | int }}
    {{- end }}
  {{- end }}
  {{- end }}
  {{- with .inventory }}
  inventory: {{ . | toJson }}
  {{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Label selector of the agent pods (for the aggregator's snapshot gate). */}}
{{- define "kubedag.agentSelector" -}}
{{- $l := list -}}
{{- range $k, $v := (include "kubedag.selectorLabels" . | fromYaml) -}}
{{- $l = append $l (printf "%s=%s" $k $v) -}}
{{- end -}}
{{- $l = append $l "app.kubernetes.io/component=agent" -}}
{{- join "," $l -}}
{{- end -}}
