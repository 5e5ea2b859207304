{{/* Names: "<release>-borderbus", or the release name alone when it already says borderbus. */}}
{{- define "borderbus.fullname" -}}
{{- if contains "borderbus" .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-borderbus" .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "borderbus.image" -}}
{{- $image := .Values.image -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $image.repository $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $image.repository (default .Chart.AppVersion $image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Selector labels; call with (dict "root" $ "component" "agency" "agency" "uk-bf"), agency optional. */}}
{{- define "borderbus.selectorLabels" -}}
app.kubernetes.io/name: borderbus
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- with .agency }}
borderbus.io/agency: {{ . }}
{{- end }}
{{- end -}}

{{- define "borderbus.labels" -}}
{{ include "borderbus.selectorLabels" . }}
app.kubernetes.io/part-of: borderbus
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end -}}

{{/* The configuration files: the chart's copies of ops/config/, each replaceable by config.overrides. */}}
{{- define "borderbus.configFile" -}}
{{- $content := index .root.Values.config.overrides .name | default (.root.Files.Get (printf "files/config/%s" .name)) -}}
{{- if not $content }}{{ fail (printf "files/config/%s is missing: copy ops/config/%s into the chart" .name .name) }}{{ end -}}
{{- $content -}}
{{- end -}}

{{- define "borderbus.configData" -}}
{{- range $name := list "agencies.yaml" "border_points.yaml" "topics.yaml" "sharing.yaml" "rules.yaml" "desk.yaml" }}
{{ $name }}: |
{{ include "borderbus.configFile" (dict "root" $ "name" $name) | trimSuffix "\n" | indent 2 }}
{{- end }}
{{- end -}}

{{/* Every Kafka principal of the policy (topics.yaml `principals:`, one agency-/consumer- per agency), as JSON. */}}
{{- define "borderbus.principals" -}}
{{- $codes := list -}}
{{- range (include "borderbus.configFile" (dict "root" .root "name" "agencies.yaml") | fromYaml).agencies }}
{{- $codes = append $codes .code -}}
{{- end -}}
{{- $names := list -}}
{{- range $template, $_ := (include "borderbus.configFile" (dict "root" .root "name" "topics.yaml") | fromYaml).principals }}
{{- if contains "{agency}" $template }}
{{- range $code := $codes }}{{ $names = append $names (replace "{agency}" $code $template) }}{{ end }}
{{- else }}
{{- $names = append $names $template -}}
{{- end }}
{{- end -}}
{{- dict "names" $names | toJson -}}
{{- end -}}

{{/* The existing Secret holding a principal's password; call with (dict "root" $ "principal" NAME). */}}
{{- define "borderbus.principalSecret" -}}
{{- $p := .root.Values.kafka.principals -}}
{{- index ($p.secrets | default dict) .principal | default (replace "{principal}" .principal $p.secretName) -}}
{{- end -}}

{{/* The principals' passwords as files <credentials dir>/<principal>; call with (dict "root" $ "principals" LIST). */}}
{{- define "borderbus.credentialsVolume" -}}
{{- if hasPrefix "SASL" .root.Values.kafka.securityProtocol }}
- name: kafka-credentials
  projected:
    defaultMode: 0440  # owner root, group fsGroup (the pods run as uid/gid 10001)
    sources:
      {{- range $principal := .principals }}
      - secret:
          name: {{ include "borderbus.principalSecret" (dict "root" $.root "principal" $principal) }}
          items:
            - key: {{ $.root.Values.kafka.principals.key }}
              path: {{ $principal }}
      {{- end }}
{{- end }}
{{- end -}}

{{- define "borderbus.credentialsMount" -}}
{{- if hasPrefix "SASL" .Values.kafka.securityProtocol }}
- name: kafka-credentials
  mountPath: /etc/borderbus/kafka-credentials
  readOnly: true
{{- end }}
{{- end -}}

{{/* Environment every container shares; call with (dict "root" $ "principal" NAME-or-empty). A container
     authenticates as `principal` (BORDERBUS_PRINCIPAL), or, without one, each of its parts as its own
     (the desk: desk-reader, desk-router, desk-actions); passwords are the mounted files. */}}
{{- define "borderbus.env" -}}
{{- $root := .root -}}
{{- $kafka := $root.Values.kafka -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: HOME
  value: /tmp
- name: KAFKA_BOOTSTRAP_SERVERS
  value: {{ required "kafka.bootstrapServers is required" $kafka.bootstrapServers | quote }}
- name: KAFKA_SECURITY_PROTOCOL
  value: {{ $kafka.securityProtocol | quote }}
{{- if hasPrefix "SASL" $kafka.securityProtocol }}
- name: KAFKA_SASL_MECHANISM
  value: {{ required "kafka.sasl.mechanism is required with SASL" $kafka.sasl.mechanism | quote }}
- name: BORDERBUS_CREDENTIALS_DIR
  value: /etc/borderbus/kafka-credentials
{{- with .principal }}
- name: BORDERBUS_PRINCIPAL
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- if $kafka.tls.caSecret }}
- name: KAFKA_SSL_CA_LOCATION
  value: /etc/borderbus/kafka-ca/{{ $kafka.tls.caKey }}
{{- end }}
{{- range $property, $value := $kafka.extraConfig }}
- name: BORDERBUS_KAFKA_{{ $property | upper | replace "." "_" | replace "-" "_" }}
  value: {{ $value | toString | quote }}
{{- end }}
- name: BORDERBUS_CONFIG_DIR
  value: /etc/borderbus/config
- name: BORDERBUS_SCHEMA_DIR
  value: /app/schemas/avro
- name: BORDERBUS_TOPIC_PREFIX
  value: {{ $root.Values.topicPrefix | quote }}
- name: BORDERBUS_CLUSTER_PROFILE
  value: {{ $root.Values.clusterProfile | quote }}
{{- end -}}

{{/* Mounts every container shares: the configuration, a writable /tmp, the Kafka CA. */}}
{{- define "borderbus.volumeMounts" -}}
- name: config
  mountPath: /etc/borderbus/config
  readOnly: true
{{- include "borderbus.credentialsMount" . }}
- name: tmp
  mountPath: /tmp
{{- if .Values.kafka.tls.caSecret }}
- name: kafka-ca
  mountPath: /etc/borderbus/kafka-ca
  readOnly: true
{{- end }}
{{- end -}}

{{/* The matching volumes; call with (dict "root" $ "configMap" <name> "principals" <list>). */}}
{{- define "borderbus.volumes" -}}
- name: config
  configMap:
    name: {{ .configMap }}
{{- include "borderbus.credentialsVolume" . }}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- if .root.Values.kafka.tls.caSecret }}
- name: kafka-ca
  secret:
    secretName: {{ .root.Values.kafka.tls.caSecret }}
{{- end }}
{{- end -}}

{{/* Pod-level settings every workload shares. The security context is fixed, not a value: uid 10001 is the image's user. */}}
{{- define "borderbus.podSpec" -}}
automountServiceAccountToken: false
{{- with .Values.serviceAccountName }}
serviceAccountName: {{ . }}
{{- end }}
enableServiceLinks: false
securityContext:
  runAsNonRoot: true
  runAsUser: 10001
  runAsGroup: 10001
  fsGroup: 10001
  seccompProfile:
    type: RuntimeDefault
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "borderbus.containerSecurityContext" -}}
securityContext:
  runAsNonRoot: true
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  capabilities:
    drop: [ALL]
  seccompProfile:
    type: RuntimeDefault
{{- end -}}

{{/* Spread a component's pods over nodes when the scheduler can; call with the selectorLabels dict. */}}
{{- define "borderbus.topologySpread" -}}
topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: kubernetes.io/hostname
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "borderbus.selectorLabels" . | nindent 8 }}
{{- end -}}

{{/* Rolls the pods when the configuration changes. */}}
{{- define "borderbus.configChecksum" -}}
checksum/config: {{ include "borderbus.configData" . | sha256sum }}
{{- end -}}

{{- define "borderbus.httpProbes" -}}
{{- $port := .port | default "http" -}}
livenessProbe:
  httpGet: {path: /healthz, port: {{ $port }}}
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 3
readinessProbe:
  httpGet: {path: {{ .readinessPath }}, port: {{ $port }}}
  periodSeconds: 5
  timeoutSeconds: 3
  failureThreshold: 3
{{- end -}}

{{- define "borderbus.pdb" -}}
{{- if hasKey .pdb "minAvailable" -}}
minAvailable: {{ .pdb.minAvailable }}
{{- else -}}
maxUnavailable: {{ .pdb.maxUnavailable | default 1 }}
{{- end -}}
{{- end -}}
