/**
 * What each MPTcpExt counter counts, one line each, keyed by the name the kernel prints in
 * /proc/net/netstat (and `nstat` as MPTcpExt<Name>). Names and meanings follow the kernel's MIB
 * list: net/mptcp/mib.c (the names) and net/mptcp/mib.h (a comment per counter). The list is the
 * union over kernels: a kernel shows the ones it has (Linux 6.18 has 76; RcvPruned is older), and
 * a counter missing here is shown with its name alone (docs/live-data.md, "MPTCP counters").
 */

export interface CounterInfo {
  /** One line for people. */
  text: string;
  /** A gauge (a current value), not an event count: its "rate" means nothing. */
  gauge?: true;
}

export const MPTCP_COUNTERS: Readonly<Record<string, CounterInfo>> = {
  MPCapableSYNRX: { text: 'SYNs received with MP_CAPABLE: incoming MPTCP connection attempts' },
  MPCapableSYNTX: { text: 'SYNs sent with MP_CAPABLE: outgoing MPTCP connection attempts' },
  MPCapableSYNACKRX: { text: 'SYN/ACKs received with MP_CAPABLE: the server accepted MPTCP' },
  MPCapableACKRX: { text: 'third ACKs received with MP_CAPABLE: incoming MPTCP handshakes completed' },
  MPCapableFallbackACK: {
    text: 'server-side fallbacks to TCP during the handshake: the third ACK carried no MP_CAPABLE',
  },
  MPCapableFallbackSYNACK: {
    text: 'client-side fallbacks to TCP: the SYN/ACK carried no MP_CAPABLE (the server or a middlebox does not speak MPTCP)',
  },
  MPCapableSYNTXDrop: {
    text: 'client-side fallbacks to TCP after MP_CAPABLE SYNs went unanswered (net.mptcp.syn_retrans_before_tcp_fallback)',
  },
  MPCapableSYNTXDisabled: {
    text: 'SYNs sent without MP_CAPABLE: MPTCP is off for a while after a blackhole (net.mptcp.blackhole_timeout)',
  },
  MPCapableEndpAttempt: {
    text: 'MP_CAPABLE SYNs refused on a port-based endpoint (such a port accepts only MP_JOIN)',
  },
  MPFallbackTokenInit: { text: 'fallbacks to TCP: no connection token could be allocated' },
  MPTCPRetrans: {
    text: 'segments retransmitted at the MPTCP level (data sent again, possibly on another subflow)',
  },
  MPJoinNoTokenFound: { text: 'MP_JOINs received for an unknown connection token (refused)' },
  MPJoinNoIdFound: { text: 'MP_JOINs received whose local address ID is unknown (refused)' },
  MPJoinSynRx: { text: 'SYNs received with MP_JOIN: the peer opening extra subflows' },
  MPJoinSynBackupRx: { text: 'SYNs received with MP_JOIN and the backup flag' },
  MPJoinSynAckRx: { text: 'SYN/ACKs received with MP_JOIN: extra subflows this host opened were answered' },
  MPJoinSynAckBackupRx: { text: 'SYN/ACKs received with MP_JOIN and the backup flag' },
  MPJoinSynAckHMacFailure: { text: 'SYN/ACKs with MP_JOIN whose HMAC was wrong (subflow refused)' },
  MPJoinSynAckNoMPJoin: { text: 'subflows reset (MP_RST): the SYN/ACK carried no MP_JOIN' },
  MPJoinAckRx: { text: 'third ACKs received with MP_JOIN: extra subflows the peer opened completed' },
  MPJoinAckHMacFailure: { text: 'ACKs with MP_JOIN whose HMAC was wrong (subflow refused)' },
  MPJoinAckNoMPJoin: { text: 'subflows reset (MP_RST): the third ACK carried no MP_JOIN' },
  MPJoinAckNoCtx: { text: 'subflows reset (MP_RST): no subflow state for the MP_JOIN ACK' },
  MPJoinRejected: {
    text: 'MP_JOINs refused by the path manager (limit reached: ip mptcp limits subflows)',
  },
  MPJoinNotEstablished: {
    text: 'subflows reset (MP_RST): MP_JOIN on a connection not fully established yet',
  },
  MPJoinSynTx: { text: 'SYNs sent with MP_JOIN: extra subflows this host opened' },
  MPJoinSynTxCreatSkErr: { text: 'extra subflows not opened: the socket could not be created' },
  MPJoinSynTxBindErr: {
    text: 'extra subflows not opened: the local address could not be bound (address gone?)',
  },
  MPJoinSynTxConnectErr: {
    text: 'extra subflows not opened: connect() failed (no route from that address?)',
  },
  DSSNotMatching: { text: 'received data mappings (DSS) that contradicted the previous one' },
  DSSCorruptionFallback: { text: 'corrupted data mappings: the connection fell back to TCP' },
  DSSCorruptionReset: { text: 'corrupted data mappings: the extra subflow was reset' },
  InfiniteMapTx: { text: 'infinite mappings sent: this host fell back to TCP in mid-connection' },
  InfiniteMapRx: { text: 'infinite mappings received: the peer fell back to TCP in mid-connection' },
  DSSNoMatchTCP: { text: "data mappings (DSS) that did not fit TCP's sequence numbers" },
  DataCsumErr: {
    text: 'data checksum failures: a middlebox changed the payload (net.mptcp.checksum_enabled)',
  },
  OFOQueueTail: { text: 'segments added at the tail of the MPTCP out-of-order queue' },
  OFOQueue: {
    text: 'segments queued out of order at the MPTCP level (subflows deliver at different speeds)',
  },
  OFOMerge: { text: 'segments merged in the MPTCP out-of-order queue' },
  NoDSSInWindow: { text: 'segments dropped: their data sequence lies outside the MPTCP receive window' },
  DuplicateData: { text: 'segments discarded: their data had already arrived on another subflow' },
  AddAddr: { text: 'ADD_ADDR received: the peer announced an address' },
  AddAddrTx: { text: 'ADD_ADDR sent: this host announced an address (signal endpoints)' },
  AddAddrTxDrop: { text: 'ADD_ADDR not sent for lack of resources' },
  EchoAdd: { text: 'ADD_ADDR echoes received: the peer acknowledged an announcement' },
  EchoAddTx: { text: "ADD_ADDR echoes sent: this host acknowledged the peer's announcement" },
  EchoAddTxDrop: { text: 'ADD_ADDR echoes not sent for lack of resources' },
  PortAdd: { text: 'ADD_ADDR received carrying a port' },
  AddAddrDrop: {
    text: 'received ADD_ADDR ignored (limit reached: ip mptcp limits add_addr_accepted)',
  },
  MPJoinPortSynRx: { text: "SYNs with MP_JOIN received on a port other than the connection's" },
  MPJoinPortSynAckRx: { text: "SYN/ACKs with MP_JOIN received from a port other than the connection's" },
  MPJoinPortAckRx: { text: "ACKs with MP_JOIN received on a port other than the connection's" },
  MismatchPortSynRx: { text: 'SYNs with MP_JOIN received on a port other than the announced one (refused)' },
  MismatchPortAckRx: { text: 'ACKs with MP_JOIN received on a port other than the announced one (refused)' },
  RmAddr: { text: 'RM_ADDR received: the peer withdrew an address' },
  RmAddrDrop: { text: 'received RM_ADDR dropped' },
  RmAddrTx: { text: 'RM_ADDR sent: this host withdrew an address' },
  RmAddrTxDrop: { text: 'RM_ADDR not sent for lack of resources' },
  RmSubflow: { text: 'subflows removed' },
  MPPrioTx: { text: "MP_PRIO sent: this host changed a subflow's backup flag" },
  MPPrioRx: { text: "MP_PRIO received: the peer changed a subflow's backup flag" },
  MPFailTx: { text: 'MP_FAIL sent: a subflow failed its data checksum' },
  MPFailRx: { text: 'MP_FAIL received: the peer saw a subflow fail its data checksum' },
  MPFastcloseTx: { text: 'MP_FASTCLOSE sent: this host aborted a whole connection' },
  MPFastcloseRx: { text: 'MP_FASTCLOSE received: the peer aborted a whole connection' },
  MPRstTx: { text: 'MP_RST sent: subflows reset with an MPTCP reason' },
  MPRstRx: { text: 'MP_RST received: the peer reset subflows with an MPTCP reason' },
  SubflowStale: {
    text: 'subflows marked stale: no progress for net.mptcp.stale_loss_cnt retransmission timeouts',
  },
  SubflowRecover: { text: 'stale subflows that carried data again' },
  SndWndShared: { text: "subflow send windows replaced by the connection's" },
  RcvWndShared: { text: "subflow receive windows replaced by the connection's" },
  RcvWndConflictUpdate: {
    text: "subflow receive windows replaced by the connection's after a conflict with another subflow",
  },
  RcvWndConflict: { text: "conflicts between subflows while updating the connection's receive window" },
  MPCurrEstab: {
    text: 'MPTCP connections established right now (a current value, not a count)',
    gauge: true,
  },
  Blackhole: {
    text: 'MPTCP blackholes detected: MP_CAPABLE SYNs lost on a path that passes plain TCP (net.mptcp.blackhole_timeout)',
  },
  MPCapableDataFallback: { text: 'fallbacks to TCP: the first data carried no mapping (DSS or MP_CAPABLE)' },
  MD5SigFallback: { text: 'fallbacks to TCP: TCP-MD5 signatures are on (they exclude MPTCP)' },
  MD5SigReset: { text: 'subflows reset (MP_RST): TCP-MD5 signatures are on for the listener' },
  DssFallback: { text: 'fallbacks to TCP: a bad or missing data mapping (DSS)' },
  DssReset: { text: 'subflows reset (MP_RST): a bad data mapping (DSS)' },
  SimultConnectFallback: { text: 'fallbacks to TCP: a simultaneous connect' },
  FallbackFailed: {
    text: 'fallbacks to TCP that were not possible any more (the connection was reset instead)',
  },
  WinProbe: { text: 'MPTCP-level zero-window probes sent' },
  RcvPruned: { text: 'incoming packets dropped for the receive memory limit (older kernels)' },
};

/** The counter's explanation, or null for a name this table does not know (a newer kernel). */
export function counterText(name: string): string | null {
  return MPTCP_COUNTERS[name]?.text ?? null;
}
