// kube-proxy's metric names (labelled ip_family="IPv4"|"IPv6" as since kubernetes#129173), so
// dashboards and alerts written for kube-proxy keep working; nodeway_proxy_* for the rest.
import { DURATION_BUCKETS, type Registry } from '../../src/runtime/metrics.ts';

const LATENCY_BUCKETS = [0.005, 0.01, 0.02, 0.025, 0.03, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300];

export function proxyMetrics(reg: Registry) {
  return {
    syncDuration: reg.histogram('kubeproxy_sync_proxy_rules_duration_seconds', 'SyncProxyRules latency in seconds, per family.', DURATION_BUCKETS),
    fullDuration: reg.histogram('kubeproxy_sync_full_proxy_rules_duration_seconds', 'Latency of full syncs (table rewrites or full diffs) in seconds.', DURATION_BUCKETS),
    partialDuration: reg.histogram('kubeproxy_sync_partial_proxy_rules_duration_seconds', 'Latency of partial syncs in seconds.', DURATION_BUCKETS),
    programming: reg.histogram(
      'kubeproxy_network_programming_duration_seconds',
      'From an EndpointSlice\'s last-change-trigger-time (else from the change reaching the node view) to its rules being live, in seconds.',
      LATENCY_BUCKETS,
    ),
    lastSync: reg.gauge('kubeproxy_sync_proxy_rules_last_timestamp_seconds', 'The last time proxy rules were successfully synced.'),
    syncFailures: reg.counter('kubeproxy_sync_proxy_rules_nftables_sync_failures_total', 'nft transactions that failed, per family.'),
    cleanupFailures: reg.counter('kubeproxy_sync_proxy_rules_nftables_cleanup_failures_total', 'Cleanup transactions (stale chains, overridden endpoints moved to the main maps) that failed, per family.'),
    noLocal: reg.gauge(
      'kubeproxy_sync_proxy_rules_no_local_endpoints_total',
      'Services with a Local traffic policy and no local endpoints (their Local traffic is dropped), per family and traffic_policy.',
    ),
    serviceChanges: reg.counter('kubeproxy_sync_proxy_rules_service_changes_total', 'Service (and endpoint) changes the proxy applied.'),
    ctDuration: reg.histogram('kubeproxy_conntrack_reconciler_sync_duration_seconds', 'Time the stale UDP/SCTP conntrack cleanup took, per family.', DURATION_BUCKETS),
    ctDeleted: reg.counter('kubeproxy_conntrack_reconciler_deleted_entries_total', 'Stale conntrack entries deleted, per family.'),
    ctFailures: reg.counter('nodeway_proxy_conntrack_failures_total', 'conntrack runs that failed (retried on a timer), per family.'),
    skipped: reg.counter('nodeway_proxy_skipped_objects_total', 'Services, ports, endpoints or addresses left out of the rules as invalid, per family and reason.'),
    conflicts: reg.counter('nodeway_proxy_element_conflicts_total', 'Address/port keys claimed by several Services with different targets, per family.'),
    familySkipped: reg.gauge('nodeway_proxy_family_skipped', '1 for an IP family this host cannot carry (IPv6 off, or no IPv6 NAT), which the proxy does not program.'),
    healthcheckErrors: reg.counter('nodeway_proxy_healthcheck_listen_errors_total', 'Health-check node port servers that could not listen.'),
  };
}

export type ProxyMetrics = ReturnType<typeof proxyMetrics>;
