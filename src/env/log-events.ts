/**
 * Every event the daemon logs, by its stable name (the `event` field of a log line), with what it
 * means. The names are an interface: scripts and alerting match on them, so a name is never reused
 * for another meaning, and docs/logs.md lists them all (a test keeps the two in step). Names are
 * `area.what_happened`, lower case.
 */
export const LOG_EVENTS = {
  // The node's life.
  'node.starting': 'the daemon process began, with the settings that shape its log',
  'node.config': 'the whole configuration the node starts with (debug)',
  'node.listening': 'the node serves: its address, name, incarnation, cluster and data dir',
  'node.start_failed': 'the node could not start; the error code and message say why',
  'node.stopping': 'a graceful stop began (SIGTERM, SIGINT, leaving, removal)',
  'node.stopped': 'the node stopped gracefully; nothing is logged after this line',
  'node.crashed': 'an uncaught exception ended the process (its stack trace is in daemon.out)',
  'node.name_reused': 'joining under a name the cluster knows with another incarnation (a wiped data dir?)',
  'node.removed': 'the cluster removed this node (kvctl remove); it exits and refuses to start from this data dir',
  'node.leaving': 'kvctl leave: the node hands all its keys to their new owners',
  'node.left': 'the node handed off its keys and left the cluster',
  // Cluster membership and settings.
  'cluster.member_removed': 'this node removed another from the cluster (kvctl remove)',
  'cluster.settings_set': 'new cluster settings were set through this node (kvctl cluster set)',
  'cluster.settings_changed': 'newer cluster settings arrived by gossip and were adopted',
  'cluster.save_failed': 'the cluster settings could not be saved to the data dir',
  'gossip.membership_changed': 'members recovered or the ring changed',
  'gossip.suspected': 'a member left unanswered this node’s probes long enough: suspected to the cluster',
  'gossip.refuted': 'the cluster suspected this node; it refuted the suspicion with a new version of its entry',
  'gossip.round_failed': 'a gossip round failed as a whole (not one unreachable peer)',
  'gossip.malformed_cluster': 'a peer gossiped a cluster identity that does not parse; ignored',
  'clock.new_epoch': 'the node took a new clock actor before forgetting keys it handed off',
  // Peers and clients this node refused, or that refused it.
  'peer.refused': 'a peer refused this node’s handshake (at most once a minute per peer)',
  'auth.peer_refused': 'this node refused a peer’s handshake (wrong secret, certificate, ...)',
  'auth.cluster_mismatch': 'this node refused a peer of another cluster',
  'auth.token_refused': 'this node refused a client token it does not know',
  'auth.refused': 'this node refused a connection for another reason',
  'security.file_readable': 'a secret, token or key file can be read by other users of the host',
  'security.insecure': 'the node listens beyond loopback with --insecure',
  // Storage.
  'storage.degraded': 'the disk failed: writes are refused until it works again (retried on its own)',
  'storage.still_degraded': 'a retry failed for a new reason (logged once per distinct reason)',
  'storage.recovered': 'the disk works again: writes are taken',
  'storage.replay_failed': 'closing, the node could not write again the writes a storage fault may have lost',
  // Repair: read repair, anti-entropy, tombstones, hints, ownership transfer.
  'read.repair_failed': 'a read repair to one replica failed (debug)',
  'antientropy.round_failed': 'an anti-entropy round failed as a whole',
  'antientropy.exchange_failed': 'the Merkle exchange with one peer failed (debug)',
  'antientropy.repaired': 'an exchange repaired keys; how many were sent and received',
  'antientropy.record_skipped': 'anti-entropy skips a record its peer cannot take (too large for its limits)',
  'tombstone.kept': 'a tombstone is kept: not every replica holds it yet (debug)',
  'tombstone.reap_skipped': 'reaping a tombstone failed this time (debug)',
  'handoff.delivery_failed': 'delivering hints failed; retried at the next interval',
  'handoff.hint_dropped': 'a hint is dropped: its target refuses the record',
  'transfer.complete': 'ownership transfer after a ring change is complete',
  'transfer.incomplete': 'ownership transfer failed for some keys; retried',
  'transfer.failed': 'an ownership transfer run failed as a whole',
  'transfer.record_skipped': 'ownership transfer skips a record its new owner refuses',
  // Metrics.
  'metrics.scrape_failed': "reading the node's figures for a metrics scrape failed; the scrape gets an error",
  // The log itself.
  'log.resumed': 'the log file could be written again; the lines held meanwhile follow, with how many were dropped',
  'log.rotate_failed': 'the log could not be rotated; it goes on in the same file and rotation is tried again later',
} as const satisfies Record<string, string>;

export type LogEvent = keyof typeof LOG_EVENTS;
