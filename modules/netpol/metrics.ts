// The netpol module's metrics (nodeway_netpol_*).
import { DURATION_BUCKETS, type Registry } from '../../src/runtime/metrics.ts';

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30];

export function netpolMetrics(reg: Registry) {
  return {
    programming: reg.histogram('nodeway_netpol_programming_duration_seconds', 'From a pod, namespace or policy change reaching the node view to the rules being live, in seconds.', LATENCY_BUCKETS),
    syncDuration: reg.histogram('nodeway_netpol_sync_duration_seconds', 'Plan and nft transaction of one sync, per family and kind (full, partial).', DURATION_BUCKETS),
    isolated: reg.gauge('nodeway_netpol_isolated_pods', 'Local pods isolated by a policy, per direction.'),
    elements: reg.gauge('nodeway_netpol_set_elements', 'Elements in the policy sets, per family.'),
    groups: reg.gauge('nodeway_netpol_groups', 'Group chains (distinct sets of policies judging local pods), per family.'),
    drops: reg.gauge('nodeway_netpol_dropped_packets', 'New flows rejected, per family, direction, tier (admin, networkpolicy, baseline) and the policies judging the pods of the group that rejected them (nft counters read at scrape; a group gone takes its series with it).'),
    failures: reg.counter('nodeway_netpol_sync_failures_total', 'nft transactions that failed, per family.'),
    skipped: reg.gauge('nodeway_netpol_cnp_rules_failing_closed', 'ClusterNetworkPolicy rules with a peer nodeway does not support (domainNames) or cannot read, per peer and action: an Accept matches nothing, a Deny or Pass everything.'),
    strictSweeps: reg.counter('nodeway_netpol_strict_sweeps_total', 'Strict mode: conntrack sweeps run (each lists the family\'s conntrack table), after a change that may deny flows allowed before, per family.'),
    strictDeleted: reg.counter('nodeway_netpol_strict_deleted_entries_total', 'Strict mode: conntrack entries of established flows a change denied, deleted, per family.'),
    strictDeferred: reg.counter('nodeway_netpol_strict_deferred_entries_total', 'Strict mode: denied entries left to the next sweep (a sweep deletes at most 500; every denied flow is cut at once all the same), per family.'),
    strictFailures: reg.counter('nodeway_netpol_strict_failures_total', 'Strict mode: conntrack sweeps that failed (retried with backoff), per family.'),
  };
}

export type NetpolMetrics = ReturnType<typeof netpolMetrics>;
