import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { counterText, MPTCP_COUNTERS } from './mptcp-counters';

/** `nstat -az | grep MPTcp` on Linux 6.18 (recorded; the integration test reads the live kernel). */
const LINUX_6_18 =
  'MPCapableSYNRX MPCapableSYNTX MPCapableSYNACKRX MPCapableACKRX MPCapableFallbackACK MPCapableFallbackSYNACK ' +
  'MPCapableSYNTXDrop MPCapableSYNTXDisabled MPCapableEndpAttempt MPFallbackTokenInit MPTCPRetrans ' +
  'MPJoinNoTokenFound MPJoinSynRx MPJoinSynBackupRx MPJoinSynAckRx MPJoinSynAckBackupRx MPJoinSynAckHMacFailure ' +
  'MPJoinAckRx MPJoinAckHMacFailure MPJoinRejected MPJoinSynTx MPJoinSynTxCreatSkErr MPJoinSynTxBindErr ' +
  'MPJoinSynTxConnectErr DSSNotMatching DSSCorruptionFallback DSSCorruptionReset InfiniteMapTx InfiniteMapRx ' +
  'DSSNoMatchTCP DataCsumErr OFOQueueTail OFOQueue OFOMerge NoDSSInWindow DuplicateData AddAddr AddAddrTx ' +
  'AddAddrTxDrop EchoAdd EchoAddTx EchoAddTxDrop PortAdd AddAddrDrop MPJoinPortSynRx MPJoinPortSynAckRx ' +
  'MPJoinPortAckRx MismatchPortSynRx MismatchPortAckRx RmAddr RmAddrDrop RmAddrTx RmAddrTxDrop RmSubflow ' +
  'MPPrioTx MPPrioRx MPFailTx MPFailRx MPFastcloseTx MPFastcloseRx MPRstTx MPRstRx SubflowStale SubflowRecover ' +
  'SndWndShared RcvWndShared RcvWndConflictUpdate RcvWndConflict MPCurrEstab Blackhole MPCapableDataFallback ' +
  'MD5SigFallback DssFallback SimultConnectFallback FallbackFailed WinProbe';

describe('MPTcpExt counter explanations', () => {
  it('explain every counter of Linux 6.18 in one line', () => {
    const names = LINUX_6_18.split(' ');
    expect(names).toHaveLength(76);
    for (const n of names) {
      const text = counterText(n);
      expect(text, n).not.toBeNull();
      expect(text!.includes('\n'), n).toBe(false);
      expect(text!.length, n).toBeLessThanOrEqual(130);
    }
    expect(counterText('SomeFutureCounter')).toBeNull();
  });

  it('are all in the docs, by name', () => {
    const doc = readFileSync(new URL('../docs/live-data.md', import.meta.url), 'utf8');
    for (const [name, info] of Object.entries(MPTCP_COUNTERS)) {
      expect(doc, name).toContain(`| \`${name}\` | ${info.text} |`);
    }
  });
});
