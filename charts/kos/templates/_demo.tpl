{{/* The Deployment and HPA of one demo program (processor, datagen): same image, hardening and
     Kafka Secret. dict: ctx, app, component, w (its values), args (the program's own flags),
     controlSecret (optional: a Secret with key `token`, mounted at /etc/kos/control). */}}
{{- define "kos.demo.deployment" -}}
{{- $ctx := .ctx -}}
{{- $w := .w -}}
{{- $selector := include "kos.selectorLabels" (dict "ctx" $ctx "app" .app) -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "kos.fullname" $ctx }}-{{ .app }}
  namespace: {{ $ctx.Release.Namespace }}
  labels:
    {{- include "kos.labels" (dict "ctx" $ctx "app" .app "component" .component) | nindent 4 }}
spec:
  {{- if not $w.autoscaling.enabled }}
  replicas: {{ $w.replicas }}
  {{- end }}
  {{- /* With autoscaling the HPA owns the count: a replicas field here would reset it to this
         value on every upgrade (the same reason the kustomize base leaves it out). */}}
  revisionHistoryLimit: {{ $ctx.Values.revisionHistoryLimit }}
  selector:
    matchLabels:
      {{- $selector | nindent 6 }}
  template:
    metadata:
      labels:
        {{- $selector | nindent 8 }}
        app.kubernetes.io/component: {{ .component }}
        {{- with $w.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        checksum/kafka: {{ printf "%s/%s" $ctx.Values.kafka.clients.existingSecret $ctx.Values.kafka.clients.properties | sha256sum }}
        {{- with $w.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      automountServiceAccountToken: false
      # A leaving member commits and leaves the group before it exits (SIGTERM).
      terminationGracePeriodSeconds: {{ $ctx.Values.terminationGracePeriodSeconds }}
      {{- with $w.priorityClassName }}
      priorityClassName: {{ . }}
      {{- end }}
      {{- with $ctx.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with (include "kos.podSecurityContext" (dict "ctx" $ctx "w" $w) | fromYaml) }}
      securityContext:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $w.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $w.topologySpreadConstraints }}
      topologySpreadConstraints:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $w.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $w.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      containers:
        - name: kos-{{ .app }}
          image: {{ include "kos.image" $ctx }}
          imagePullPolicy: {{ $ctx.Values.image.pullPolicy }}
          command: ["/usr/local/bin/kos-{{ .app }}"]
          args:
            - -F
            - /etc/kos/kafka/kafka.properties
            {{- range .args }}
            - {{ . | quote }}
            {{- end }}
            {{- range $w.extraArgs }}
            - {{ . | quote }}
            {{- end }}
          env:
            # The processor's client.id (how the adapter finds each pod's lag); part of the
            # generator's default seed.
            - name: POD_NAME
              valueFrom:
                fieldRef:
                  fieldPath: metadata.name
            {{- with $w.env }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          ports:
            - name: http
              containerPort: {{ $w.httpPort }}
              protocol: TCP
          livenessProbe:
            httpGet:
              path: /healthz
              port: http
            initialDelaySeconds: 5
            periodSeconds: 10
            failureThreshold: 3
          readinessProbe:
            httpGet:
              path: /readyz
              port: http
            periodSeconds: 5
            failureThreshold: 2
          {{- with $w.resources }}
          resources:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- with (include "kos.securityContext" (dict "ctx" $ctx "w" $w) | fromYaml) }}
          securityContext:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          volumeMounts:
            - name: kafka
              mountPath: /etc/kos/kafka
              readOnly: true
            {{- if .controlSecret }}
            - name: control
              mountPath: /etc/kos/control
              readOnly: true
            {{- end }}
      volumes:
        - name: kafka
          secret:
            secretName: {{ include "kos.kafka.clientsSecretName" $ctx }}
            {{- if not $ctx.Values.kafka.clients.existingSecret }}
            items:
              - key: kafka.properties
                path: kafka.properties
            {{- end }}
        {{- with .controlSecret }}
        - name: control
          secret:
            secretName: {{ . }}
            items:
              - key: token
                path: token
        {{- end }}
{{- end -}}

{{- define "kos.demo.hpa" -}}
{{- $ctx := .ctx -}}
{{- $a := .w.autoscaling -}}
{{- include "kos.checkHpaMetrics" (dict "ctx" $ctx "name" .app "autoscaling" $a) -}}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "kos.fullname" $ctx }}-{{ .app }}
  namespace: {{ $ctx.Release.Namespace }}
  labels:
    {{- include "kos.labels" (dict "ctx" $ctx "app" .app) | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "kos.fullname" $ctx }}-{{ .app }}
  minReplicas: {{ $a.minReplicas }}
  maxReplicas: {{ $a.maxReplicas }}
  metrics:
    {{- required (printf "%s.autoscaling.metrics must not be empty" .app) $a.metrics | toYaml | nindent 4 }}
  {{- with $a.behavior }}
  behavior:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}
