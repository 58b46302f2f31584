// @vitest-environment jsdom
import { afterEach, describe, expect, it } from 'vitest';
import { FakeApi } from '../testing/fake-api';
import { selectApi } from './index';
import { WsClient } from './ws-client';

afterEach(() => {
  delete window.mptcp;
});

describe('selectApi', () => {
  it('uses the Electron bridge when the preload exposed window.mptcp', () => {
    const bridge = new FakeApi();
    window.mptcp = bridge;
    const { api, session } = selectApi(window);
    expect(api).toBe(bridge);
    expect(session.get()).toMatchObject({ state: 'open', transport: 'ipc' });
  });

  it('falls back to the WebSocket client in a browser', () => {
    const { api, session } = selectApi(window);
    expect(api).toBeInstanceOf(WsClient);
    expect(session.get().transport).toBe('websocket');
    (api as WsClient).dispose();
  });
});
