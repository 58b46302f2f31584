import { describe, expect, it } from 'vitest';
import { auditArgs } from './audit';

describe('audit lines of the Fleet direct mode', () => {
  it('never carry a remote web host’s token', () => {
    const line = auditArgs('mptcp:fleet:hosts:add', {
      name: 'node-1',
      url: 'https://node-1:7878/',
      token: 'secret-token-0123456789',
      caCertPem: null,
    });
    expect(line).toEqual({
      name: 'node-1',
      url: 'https://node-1:7878/',
      token: '(redacted)',
      caCertPem: null,
    });
    expect(JSON.stringify(line)).not.toContain('secret-token');
  });
});
