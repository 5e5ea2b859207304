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
{{- range $name := list "agencies.yaml" "border_points.yaml" "topics.yaml" "rules.yaml" "desk.yaml" }}
{{ $name }}: |
{{ include "borderbus.configFile" (dict "root" $ "name" $name) | trimSuffix "\n" | indent 2 }}
{{- end }}
{{- end -}}

{{/* Environment every container shares; call with (dict "root" $ "credentials" <kafka.sasl-like map or nil>). */}}
{{- define "borderbus.env" -}}
{{- $root := .root -}}
{{- $kafka := $root.Values.kafka -}}
{{- $sasl := .credentials | default $kafka.sasl -}}
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
{{- $secret := required "kafka.sasl.existingSecret (or the agency's kafkaCredentials.existingSecret) is required with SASL" $sasl.existingSecret }}
- name: KAFKA_SASL_USERNAME
{{- if $sasl.usernameKey }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $sasl.usernameKey }}
{{- else }}
  value: {{ required "kafka.sasl.username or usernameKey is required with SASL" $sasl.username | quote }}
{{- end }}
- name: KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $sasl.passwordKey | default "password" }}
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
- name: tmp
  mountPath: /tmp
{{- if .Values.kafka.tls.caSecret }}
- name: kafka-ca
  mountPath: /etc/borderbus/kafka-ca
  readOnly: true
{{- end }}
{{- end -}}

{{/* The matching volumes; call with (dict "root" $ "configMap" <name>). */}}
{{- define "borderbus.volumes" -}}
- name: config
  configMap:
    name: {{ .configMap }}
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
livenessProbe:
  httpGet: {path: /healthz, port: http}
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 3
readinessProbe:
  httpGet: {path: {{ .readinessPath }}, port: http}
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
