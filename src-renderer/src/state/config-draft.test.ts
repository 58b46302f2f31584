import { describe, expect, it } from 'vitest';
import { exportConfig } from '../../../shared/plan';
import { overview } from '../testing/fixtures';
import { buildDesired, draftFromConfig, errorsAt, newEndpointDraft, overlayConfig } from './config-draft';

const base = exportConfig(overview());

describe('buildDesired', () => {
  it('sends nothing for an untouched form', () => {
    const d = buildDesired(base, draftFromConfig(base));
    expect(d).toMatchObject({ config: {}, changed: false, errorCount: 0 });
  });

  it('keeps only the changed fields, sub-fields included', () => {
    const draft = draftFromConfig(base);
    draft.limits.subflows = '3';
    draft.sysctls.addAddrTimeoutS = '60';
    draft.congestionControl = 'reno';
    draft.mtu.eth1 = '1400';
    const d = buildDesired(base, draft);
    expect(d.errorCount).toBe(0);
    // Limits travel as a pair (the kernel sets both at once); other sysctls, buffers, endpoints
    // and the other interfaces' MTU are not sent.
    expect(d.config).toEqual({
      congestionControl: 'reno',
      limits: { subflows: 3, addAddrAccepted: 2 },
      sysctls: { addAddrTimeoutS: 60 },
      mtu: { eth1: 1400 },
    });
  });

  it('treats endpoints as a set: reordering is no change, adding one sends the whole list', () => {
    const draft = draftFromConfig(base);
    draft.endpoints.reverse();
    expect(buildDesired(base, draft).changed).toBe(false);
    draft.endpoints.push(newEndpointDraft({ address: '10.0.2.2', ifname: 'eth1' }));
    const d = buildDesired(base, draft);
    expect(d.config.endpoints).toHaveLength(4);
    expect(d.config.endpoints?.[3]).toEqual({
      address: '10.0.2.2',
      ifname: 'eth1',
      flags: { signal: false, subflow: false, backup: false, fullmesh: false, laminar: false },
    });
    // Existing rows keep their kernel ids so the plan leaves them in place.
    expect(d.config.endpoints?.map((e) => e.id)).toEqual([3, 2, 1, undefined]);
  });

  it('reports iproute2 rules and ranges per field, with the shared schema', () => {
    const draft = draftFromConfig(base);
    draft.limits.subflows = '9';
    draft.sysctls.closeTimeoutS = 'soon';
    draft.endpoints.push(
      newEndpointDraft({
        address: '10.0.9.9',
        port: '8080',
        flags: { signal: true, subflow: false, backup: false, fullmesh: true, laminar: false },
      }),
      newEndpointDraft({
        address: '10.0.9.8',
        port: '8081',
        flags: { signal: false, subflow: true, backup: false, fullmesh: false, laminar: false },
      }),
    );
    const d = buildDesired(base, draft);
    expect(d.errors['limits.subflows']).toEqual(['must be at most 8']);
    expect(d.errors['sysctls.closeTimeoutS']).toEqual(['must be a whole number']);
    expect(errorsAt(d.errors, 'endpoints.3')).toEqual(['signal and fullmesh cannot be combined']);
    expect(errorsAt(d.errors, 'endpoints.4')).toEqual(['a port needs the signal flag and not subflow']);
    expect(d.errorCount).toBe(4);
  });

  it('refuses more than 8 endpoints', () => {
    const draft = draftFromConfig(base);
    for (let i = 0; i < 6; i++) draft.endpoints.push(newEndpointDraft({ address: `10.1.0.${i + 1}` }));
    expect(buildDesired(base, draft).errors.endpoints).toEqual([
      'the in-kernel path manager holds at most 8 endpoints',
    ]);
  });
});

describe('overlayConfig', () => {
  it('lays a fix over the current state: only the fix differs', () => {
    const draft = overlayConfig(draftFromConfig(base), {
      limits: { subflows: 4, addAddrAccepted: 4 },
      endpointPolicy: [
        {
          match: 'eth*',
          flags: { signal: false, subflow: true, backup: false, fullmesh: false, laminar: false },
          families: ['inet'],
        },
      ],
    });
    const d = buildDesired(base, draft);
    expect(Object.keys(d.config).sort()).toEqual(['endpointPolicy', 'limits']);
    expect(d.errorCount).toBe(0);
  });
});
