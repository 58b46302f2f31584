import { useEffect, useState } from 'react';
import type { MptcpCounters } from '../../../shared/types';
import type { ApiError } from '../../../shared/result';
import { ErrorLine } from './Notice';
import { useStores } from '../state/stores';

/**
 * MPTcpExt counters that point at a problem when they move (names as the kernel spells them in
 * /proc/net/netstat; meanings from net/mptcp/mib.c).
 */
const DIAGNOSTIC: Record<string, string> = {
  MPCapableFallbackACK: 'connections that fell back to TCP: the peer did not echo MP_CAPABLE',
  MPCapableFallbackSYNACK: 'connections that fell back to TCP: the SYN/ACK carried no MP_CAPABLE',
  MPCapableSYNTXDrop: 'MP_CAPABLE SYNs dropped locally',
  MPCapableSYNTXDisabled: 'SYNs sent without MP_CAPABLE (blackhole detection disabled MPTCP)',
  MPJoinRejected: 'MP_JOINs refused (path manager limits)',
  MPJoinNoTokenFound: 'MP_JOINs for an unknown connection token',
  MPJoinSynAckHMacFailure: 'MP_JOIN SYN/ACKs with a bad HMAC',
  MPJoinAckHMacFailure: 'MP_JOIN ACKs with a bad HMAC',
  DSSNoMatchTCP: 'DSS mappings that did not match the TCP sequence',
  DataCsumErr: 'data checksum errors (a middlebox changed the payload)',
  MPFailTx: 'MP_FAIL sent',
  MPFailRx: 'MP_FAIL received',
  MPTCPRetrans: 'MPTCP-level retransmissions',
  RcvPruned: 'receive queue pruned for lack of memory',
  SubflowStale: 'subflows marked stale',
};

/** The namespace's MPTcpExt counters: the diagnostic ones first, then every nonzero one. */
export function CountersSection({ readAtMs }: { readAtMs: number | null }) {
  const { api } = useStores();
  const [counters, setCounters] = useState<MptcpCounters | null>(null);
  const [error, setError] = useState<ApiError | null>(null);

  // Re-read whenever the overview is read (its Refresh button), not on a timer of our own.
  useEffect(() => {
    let live = true;
    void api.invoke('mptcp:counters:get', {}).then((r) => {
      if (!live) return;
      if (r.ok) {
        setCounters(r.value);
        setError(null);
      } else setError(r.error);
    });
    return () => {
      live = false;
    };
  }, [api, readAtMs]);

  const entries = Object.entries(counters?.counters ?? {});
  const nonzero = entries.filter(([, v]) => v > 0);
  const alarms = nonzero.filter(([k]) => k in DIAGNOSTIC);
  return (
    <section className="card" data-testid="overview-counters" aria-labelledby="counters-heading">
      <header className="card-header">
        <h2 id="counters-heading">MPTCP counters</h2>
        <span className="muted">{counters ? `${nonzero.length} of ${entries.length} nonzero` : null}</span>
      </header>
      {error ? <ErrorLine code={error.code} message={error.message} /> : null}
      {counters && entries.length === 0 ? (
        <p className="muted">This kernel reports no MPTcpExt counters.</p>
      ) : null}
      {alarms.length > 0 ? (
        <ul className="plain" data-testid="counter-alarms">
          {alarms.map(([k, v]) => (
            <li key={k}>
              <strong>{v}</strong> {DIAGNOSTIC[k]} <code>{k}</code>
            </li>
          ))}
        </ul>
      ) : counters && entries.length > 0 ? (
        <p className="muted">No join failures, fallbacks or checksum errors counted.</p>
      ) : null}
      {nonzero.length > 0 ? (
        <details>
          <summary>All nonzero counters</summary>
          <table className="table compact">
            <tbody>
              {nonzero.map(([k, v]) => (
                <tr key={k}>
                  <td>
                    <code>{k}</code>
                  </td>
                  <td className="num">{v}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </details>
      ) : null}
    </section>
  );
}
