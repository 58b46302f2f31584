import { describe, expect, it } from 'vitest';
import { formatIpv6, parseAddress } from './address';

const v6 = (text: string): string => {
  const p = parseAddress(text);
  if (!p || p.family !== 'inet6') throw new Error(`not IPv6: ${text}`);
  return formatIpv6(p.bytes, 0);
};

describe('IPv6 text as iproute2 prints it', () => {
  it.each([
    ['fd99::1', 'fd99::1'],
    ['FD99:0:0:0:0:0:0:1', 'fd99::1'],
    ['::', '::'],
    ['::1', '::1'],
    ['fe80::c405:d3ff:fe82:c7cc', 'fe80::c405:d3ff:fe82:c7cc'],
    // A single zero group is not shortened; the first of two equal runs is.
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['2001:0:0:1:0:0:1:1', '2001::1:0:0:1:1'],
    ['2001:db8:0:0:1:0:0:0', '2001:db8:0:0:1::'],
    ['::ffff:10.99.1.2', '::ffff:10.99.1.2'],
    ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
    // glibc's IPv4-compatible tail (iproute2 prints ::1.2.3.4), except for :: and ::1.
    ['::1.2.3.4', '::1.2.3.4'],
    ['::2', '::0.0.0.2'],
  ])('%s → %s', (input, out) => {
    expect(v6(input)).toBe(out);
  });

  it('parses IPv4 to network-order bytes', () => {
    expect(parseAddress('10.99.1.1')).toEqual({ family: 'inet', bytes: Buffer.from([10, 99, 1, 1]) });
  });

  it.each([
    '',
    '10.0.0',
    '10.0.0.1.2',
    '1::2::3',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7::8:9',
    'fe80::1%eth0',
    'g::1',
    '12345::1',
  ])('rejects %j', (bad) => {
    expect(parseAddress(bad)).toBeNull();
  });
});
