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

{{/*
The agent's config file: flat keys, as `nodeway --help` names them. The chart owns the keys
below (they must agree with the DaemonSet's ports and mounts); extraConfig adds any other key
and may not set these: the install fails naming the value to use instead.
*/}}
{{- define "nodeway.config" -}}
{{- $c := dict
  "apiVersion" "nodeway.dev/v1alpha1"
  "apiserver" .Values.apiserver
  "startupTimeout" .Values.startupTimeout
  "modules" .Values.modules
  "netpolStrict" .Values.netpol.strict
  "clusterCIDR" .Values.clusterCIDR
  "clusterDNS" .Values.clusterDNS
  "clusterDomain" .Values.clusterDomain
  "dnsUpstream" .Values.dnsUpstream
  "healthListen" (printf "0.0.0.0:%v" .Values.healthPort)
  "metricsListen" (list (printf "0.0.0.0:%v" .Values.metrics.port) (printf "0.0.0.0:%v" .Values.metrics.dnsPort))
  "logLevel" .Values.logLevel
  "stateDir" "/var/lib/nodeway"
  "dnsSnapshot" "dns-zone.json"
  "procSysDir" "/host/proc/sys"
  "cniConfDir" "/etc/cni/net.d"
  "cniBinDir" "/opt/cni/bin"
  "wgInterface" .Values.wireguard.interface
  "wgPort" .Values.wireguard.port
  "wgUserspace" .Values.wireguard.userspace
-}}
{{- $instead := dict
  "healthListen" "healthPort" "metricsListen" "metrics.port and metrics.dnsPort" "stateDir" "stateDir (the host path)"
  "procSysDir" "nothing (the chart mounts the host's /proc/sys/net)" "cniConfDir" "cni.confDir (the host path)"
  "cniBinDir" "cni.binDir (the host path)" "wgPort" "wireguard.port" "wgInterface" "wireguard.interface"
  "wgUserspace" "wireguard.userspace" "netpolStrict" "netpol.strict" "apiVersion" "nothing" "kubeconfig" "nothing (the pod's service account)"
  "nodeName" "nothing (the pod's node)" "config" "nothing"
-}}
{{- range $k, $v := .Values.extraConfig }}
{{- if hasKey $c $k }}
{{- fail (printf "extraConfig.%s: the chart sets %s itself; use %s" $k $k (get $instead $k | default $k)) }}
{{- end }}
{{- if hasKey $instead $k }}
{{- fail (printf "extraConfig.%s: the chart cannot pass %s; use %s" $k $k (get $instead $k)) }}
{{- end }}
{{- end }}
{{- toYaml (merge $c (deepCopy .Values.extraConfig)) -}}
{{- end -}}

{{/*
Talos, and any cluster enforcing the baseline Pod Security level, refuses these pods (host
network, host paths, NET_ADMIN) in a namespace not labelled privileged; `helm install
--create-namespace` creates it unlabelled. Fail with the fix instead of a DaemonSet whose pods
never appear. `lookup` sees the cluster only on install/upgrade (not helm template).
*/}}
{{- define "nodeway.podSecurityCheck" -}}
{{- if and .Values.podSecurityCheck (ne .Release.Namespace "kube-system") }}
{{- $ns := lookup "v1" "Namespace" "" .Release.Namespace }}
{{- if $ns }}
{{- $level := get ($ns.metadata.labels | default dict) "pod-security.kubernetes.io/enforce" }}
{{- if and $level (ne $level "privileged") }}
{{- fail (printf "namespace %s enforces the %s Pod Security level, which refuses nodeway's pods: kubectl label namespace %s pod-security.kubernetes.io/enforce=privileged --overwrite (or set podSecurityCheck=false)" .Release.Namespace $level .Release.Namespace) }}
{{- end }}
{{- if not $level }}
{{- fail (printf "namespace %s has no pod-security.kubernetes.io/enforce label; where the cluster's default level is baseline or restricted (Talos) nodeway's pods are refused: kubectl label namespace %s pod-security.kubernetes.io/enforce=privileged (or set podSecurityCheck=false if the cluster enforces no Pod Security level)" .Release.Namespace .Release.Namespace) }}
{{- end }}
{{- end }}
{{- end }}
{{- end -}}
