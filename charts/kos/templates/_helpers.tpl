{{/* Names, labels and the shared pieces of the kos chart. */}}

{{- define "kos.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 50 | trimSuffix "-" -}}
{{- end -}}

{{/* <release> when it contains the chart name, else <release>-<chart>; release "kos" gives the
     object names of manifests/base (kos-adapter, kos-processor, ...). */}}
{{- define "kos.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "kos.adapter.fullname" -}}{{ include "kos.fullname" . }}-adapter{{- end -}}
{{- define "kos.processor.fullname" -}}{{ include "kos.fullname" . }}-processor{{- end -}}
{{- define "kos.datagen.fullname" -}}{{ include "kos.fullname" . }}-datagen{{- end -}}

{{- define "kos.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels Helm charts carry and manifests/base does not (the render comparison ignores them). */}}
{{- define "kos.helmLabels" -}}
helm.sh/chart: {{ include "kos.chart" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
{{- end -}}

{{/* metadata.labels. dict: ctx, and optionally app (adapter|processor|datagen: adds
     app.kubernetes.io/name) and component. */}}
{{- define "kos.labels" -}}
{{- $ctx := .ctx -}}
{{ include "kos.helmLabels" $ctx }}
app.kubernetes.io/part-of: kos
{{- with .app }}
app.kubernetes.io/name: {{ include "kos.name" $ctx }}-{{ . }}
{{- end }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- with $ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels of one program. dict: ctx, app. */}}
{{- define "kos.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kos.name" .ctx }}-{{ .app }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- end -}}

{{- define "kos.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "kos.adapter.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "kos.adapter.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create=false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The DNS name the aggregator checks in the serving certificate. */}}
{{- define "kos.adapter.serviceHost" -}}
{{- printf "%s.%s.svc" (include "kos.adapter.fullname" .) .Release.Namespace -}}
{{- end -}}

{{- define "kos.tls.secretName" -}}
{{- if eq .Values.tls.type "existingSecret" -}}
{{- required "tls.existingSecret.name is required when tls.type=existingSecret" .Values.tls.existingSecret.name -}}
{{- else -}}
{{- include "kos.adapter.fullname" . }}-serving-cert
{{- end -}}
{{- end -}}

{{- define "kos.mapping.configMapName" -}}
{{- default (printf "%s-mapping" (include "kos.adapter.fullname" .)) .Values.mapping.existingConfigMap -}}
{{- end -}}

{{- define "kos.kafka.adapterSecretName" -}}
{{- default (printf "%s-kafka" (include "kos.adapter.fullname" .)) .Values.kafka.adapter.existingSecret -}}
{{- end -}}

{{- define "kos.kafka.clientsSecretName" -}}
{{- default (printf "%s-kafka" (include "kos.fullname" .)) .Values.kafka.clients.existingSecret -}}
{{- end -}}

{{/* tls.type=helm: the CA and the serving certificate, generated once per render (memoised in
     .Values.tls, so the Secret, the caBundle and the pods' checksum agree), or, with
     tls.helm.lookup, those of the Secret an earlier install made. JSON: {ca, crt, key}, base64. */}}
{{- define "kos.tls.helmGenerated" -}}
{{- if not (hasKey .Values.tls "generatedByChart") -}}
{{- $ns := .Release.Namespace -}}
{{- $svc := include "kos.adapter.fullname" . -}}
{{- $prev := dict -}}
{{- if .Values.tls.helm.lookup -}}
{{- $prev = (lookup "v1" "Secret" $ns (include "kos.tls.secretName" .)) | default dict -}}
{{- end -}}
{{- $data := (get $prev "data") | default dict -}}
{{- if and (hasKey $data "ca.crt") (hasKey $data "tls.crt") (hasKey $data "tls.key") -}}
{{- $_ := set .Values.tls "generatedByChart" (dict "ca" (index $data "ca.crt") "crt" (index $data "tls.crt") "key" (index $data "tls.key")) -}}
{{- else -}}
{{- $ca := genCA (printf "%s-ca" $svc) (int .Values.tls.helm.caDurationDays) -}}
{{- $alt := list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.%s" $svc $ns .Values.tls.clusterDomain) -}}
{{- $cert := genSignedCert (printf "%s.%s.svc" $svc $ns) nil $alt (int .Values.tls.helm.certDurationDays) $ca -}}
{{- $_ := set .Values.tls "generatedByChart" (dict "ca" ($ca.Cert | b64enc) "crt" ($cert.Cert | b64enc) "key" ($cert.Key | b64enc)) -}}
{{- end -}}
{{- end -}}
{{- toJson .Values.tls.generatedByChart -}}
{{- end -}}

{{/* spec.caBundle of the APIServices (base64), or "" when it must stay unset (cert-manager's
     cainjector fills it; insecureSkipTLSVerify forbids it). */}}
{{- define "kos.apiService.caBundle" -}}
{{- if .Values.apiService.insecureSkipTLSVerify -}}
{{- else if eq .Values.tls.type "helm" -}}
{{- (include "kos.tls.helmGenerated" . | fromJson).ca -}}
{{- else if eq .Values.tls.type "existingSecret" -}}
{{- if .Values.apiService.caBundle -}}
{{- .Values.apiService.caBundle | b64enc -}}
{{- else -}}
{{- $secret := dict -}}
{{- if .Values.tls.existingSecret.lookup -}}
{{- $secret = (lookup "v1" "Secret" .Release.Namespace (include "kos.tls.secretName" .)) | default dict -}}
{{- end -}}
{{- $data := (get $secret "data") | default dict -}}
{{- if hasKey $data "ca.crt" -}}
{{- index $data "ca.crt" -}}
{{- else -}}
{{- fail (printf "tls.type=existingSecret: set apiService.caBundle to the PEM of the CA that signed the certificate in Secret %s (no ca.crt found in it%s)" (include "kos.tls.secretName" .) (ternary "" "; tls.existingSecret.lookup is off" .Values.tls.existingSecret.lookup)) -}}
{{- end -}}
{{- end -}}
{{- else if and (eq .Values.tls.type "cert-manager") (not .Values.tls.certManager.addInjectorAnnotations) -}}
{{- required "tls.type=cert-manager with tls.certManager.addInjectorAnnotations=false: set apiService.caBundle to the PEM of the issuing CA" .Values.apiService.caBundle | b64enc -}}
{{- end -}}
{{- end -}}

{{/* Checksum of what the adapter reads only at start: a change rolls its pods. */}}
{{- define "kos.adapter.tlsChecksum" -}}
{{- if eq .Values.tls.type "helm" -}}
{{- include "kos.tls.helmGenerated" . | sha256sum -}}
{{- else -}}
{{- printf "%s/%s" .Values.tls.type (include "kos.tls.secretName" .) | sha256sum -}}
{{- end -}}
{{- end -}}

{{/* The mapping file's text. */}}
{{- define "kos.mapping.text" -}}
# kos-adapter --mapping-file, rendered by the kos chart from mapping.rules.
# namespace  resource  name  group  [topics, comma-separated]
{{- range .Values.mapping.rules }}
{{- $topics := join "," (.topics | default list) }}
{{ tpl .namespace $ }}  {{ tpl .resource $ }}  {{ tpl .name $ }}  {{ tpl .group $ }}{{ if $topics }}  {{ tpl $topics $ }}{{ end }}
{{- end }}
{{- if and .Values.mapping.demoRules (or .Values.processor.enabled .Values.datagen.enabled) }}
{{- $ns := .Release.Namespace }}
{{ $ns }}  deployments.apps  {{ include "kos.processor.fullname" . }}  KINGOFSCALING-APP
{{ $ns }}  deployments.apps  {{ include "kos.datagen.fullname" . }}  KINGOFSCALING-APP
{{ $ns }}  pods  *  KINGOFSCALING-APP  GAME-FRAME-RQ,GAME-FRAME-RS
{{ $ns }}  namespaces  {{ $ns }}  KINGOFSCALING-APP
{{- end }}
{{- end -}}

{{/* Fails when an HPA of the chart uses a metric type whose API group kos does not serve here
     (it would be asked of whichever adapter owns that group). dict: ctx, name, autoscaling. */}}
{{- define "kos.checkHpaMetrics" -}}
{{- $v := .ctx.Values.apiService -}}
{{- range .autoscaling.metrics -}}
{{- if and (has .type (list "Pods" "Object")) (not (or $v.custom.v1beta2 $v.custom.v1beta1)) -}}
{{- fail (printf "%s.autoscaling: a %s metric is served through custom.metrics.k8s.io, but apiService.custom leaves that group to another adapter; use an External metric or disable %s.autoscaling" $.name .type $.name) -}}
{{- end -}}
{{- if and (eq .type "External") (not $v.external.v1beta1) -}}
{{- fail (printf "%s.autoscaling: an External metric is served through external.metrics.k8s.io, but apiService.external.v1beta1=false leaves that group to another adapter (e.g. KEDA); use a Pods/Object metric or disable %s.autoscaling" $.name $.name) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* A program's pod security contexts: its own, else the top-level ones. dict: ctx, w (values). */}}
{{- define "kos.podSecurityContext" -}}
{{- toYaml (default .ctx.Values.podSecurityContext .w.podSecurityContext) -}}
{{- end -}}
{{- define "kos.securityContext" -}}
{{- toYaml (default .ctx.Values.securityContext .w.securityContext) -}}
{{- end -}}

{{/* A flag value from a number (never in exponent form: 1000000, not 1e+06) or a string. */}}
{{- define "kos.flagValue" -}}
{{- if kindIs "string" . -}}{{ . }}{{- else if eq (float64 .) (float64 (int64 .)) -}}{{ int64 . }}{{- else -}}{{ . }}{{- end -}}
{{- end -}}

{{/* The Secret with kos-datagen's control token (key `token`). */}}
{{- define "kos.datagen.controlSecretName" -}}
{{- .Values.datagen.controlToken.existingSecret | default (printf "%s-datagen-control" (include "kos.fullname" .)) -}}
{{- end -}}
