import { describe, expect, it } from 'vitest';
import { CC_ALGORITHMS } from '../../shared/cc';
import { createCatalog, MAX_CC_SUFFIX_CHARS } from '../engine/cc/catalog';
import { isCcTestCopyName } from './cc-test-copies';

describe('isCcTestCopyName', () => {
  it('accepts every engine test copy the catalog can name (all ids, longest suffix)', () => {
    const suffix = `_e${'9'.repeat(MAX_CC_SUFFIX_CHARS - 2)}`;
    const names = createCatalog({ bpfDir: '/x', nameSuffix: suffix }).entries.map((e) => e.kernelName);
    expect(names).toHaveLength(CC_ALGORITHMS.length);
    for (const n of names) expect(isCcTestCopyName(n), n).toBe(true);
  });

  it('still accepts the 4-character suffixes of older runs, within TCP_CA_NAME_MAX', () => {
    expect(isCcTestCopyName('mptcp_olia_e1a2')).toBe(true);
    expect(isCcTestCopyName('mptcp_lia_k1a2')).toBe(true);
    // 16 characters: the kernel could never have registered it.
    expect(isCcTestCopyName('mptcp_balia_e1a2')).toBe(false);
  });

  it('never matches a real algorithm, another CC or a lab copy', () => {
    for (const n of [
      'mptcp_lia',
      'mptcp_olia',
      'mptcp_balia',
      'reno',
      'cubic',
      'mpst_b_pa8_1f',
      'mptcp_balia_',
    ]) {
      expect(isCcTestCopyName(n), n).toBe(false);
    }
  });
});
