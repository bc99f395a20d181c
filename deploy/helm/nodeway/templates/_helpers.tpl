{{- define "nodeway.labels" -}}
app.kubernetes.io/name: nodeway
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "nodeway.selectorLabels" -}}
app.kubernetes.io/name: nodeway
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "nodeway.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* The agent's config file: flat keys, as `nodeway --help` names them. */}}
{{- define "nodeway.config" -}}
{{- $c := dict
  "apiserver" .Values.apiserver
  "modules" .Values.modules
  "clusterCIDR" .Values.clusterCIDR
  "clusterDNS" .Values.clusterDNS
  "clusterDomain" .Values.clusterDomain
  "dnsUpstream" .Values.dnsUpstream
  "healthListen" (printf "0.0.0.0:%v" .Values.healthPort)
  "logLevel" .Values.logLevel
  "stateDir" "/var/lib/nodeway"
  "dnsSnapshot" "/var/lib/nodeway/dns-zone.json"
  "cniConfDir" "/etc/cni/net.d"
  "cniBinDir" "/opt/cni/bin"
  "wgInterface" .Values.wireguard.interface
  "wgPort" .Values.wireguard.port
  "wgUserspace" .Values.wireguard.userspace
-}}
{{- toYaml (merge (deepCopy .Values.extraConfig) $c) -}}
{{- end -}}
