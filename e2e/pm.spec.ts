import { ip, nsRun } from '../src-main/lab/lab';
import { expect, test } from './fixtures';
import { PmPage } from './pages/pm-page';

const pathManager = async (ns: string): Promise<string> =>
  (await nsRun(ns, 'sysctl', ['-n', 'net.mptcp.path_manager'])).stdout.trim();

/** Established subflows (TCP sockets) towards the lab server's port, as `ss` lists them. */
async function establishedSubflows(ns: string): Promise<number> {
  const { stdout } = await nsRun(ns, 'ss', ['-tnH', 'state', 'established', 'dport', '5201']);
  return stdout.split('\n').filter((l) => l.trim()).length;
}

async function serverLimits(ns: string, subflows: number, addAddrAccepted: number): Promise<void> {
  await ip([
    '-n',
    ns,
    'mptcp',
    'limits',
    'set',
    'subflows',
    String(subflows),
    'add_addr_accepted',
    String(addAddrAccepted),
  ]);
}

test('userspace fullmesh from the UI: a new connection gets 2x2 subflows, the actions show in the Events timeline, stop restores path_manager', async ({
  page,
  studio,
}) => {
  const { lab } = studio;
  const pm = new PmPage(page);
  // The fixture's server accepts 1 extra subflow (in-kernel limits); a 2x2 mesh needs 3.
  await serverLimits(lab.server, 8, 8);
  let traffic: Awaited<ReturnType<typeof lab.openConnections>> | null = null;
  try {
    await pm.open(studio.url);
    await expect(pm.sysctl).toHaveText('kernel');
    await expect(pm.running).toContainText('not run');
    const before = await establishedSubflows(lab.client);

    await pm.start({ mode: 'fullmesh', role: 'client', manager: 'userspace' });
    await expect(pm.running).toContainText('run by MPTCP Studio');
    await expect(pm.sysctl).toHaveText('userspace');
    expect(await pathManager(lab.client)).toBe('userspace');
    // The fixture's connection predates the PM and uses the in-kernel PM: left alone.
    await expect(pm.actions('adopt', 'skipped')).toHaveCount(1);

    traffic = await lab.openConnections(1, { rateBytesPerSec: 20_000 });
    // The server announces 10.99.2.2 (its signal endpoint); the PM meshes 2 local x 2 remote.
    const row = pm.connectionWithSubflows(4);
    await expect(row).toHaveCount(1);
    const token = (await row.getAttribute('data-token')) ?? '';
    expect(token).not.toBe('');
    await expect(pm.actions('subflow-create')).toHaveCount(3);
    expect(await establishedSubflows(lab.client)).toBe(before + 4);

    await pm.events();
    await pm.filterEvents('pm', token);
    await expect(pm.eventRows('subflow-create')).toHaveCount(3);
    await expect(pm.eventRows('peer-announced')).toHaveCount(1);
    await expect(pm.eventRows('peer-announced')).toContainText('10.99.2.2');
    // Kernel events are filtered out under "pm".
    await expect(pm.eventRows()).toHaveCount(4);

    await page.getByTestId('nav-pm').click();
    await pm.stop();
    await expect(pm.running).toContainText('not run');
    await expect(pm.sysctl).toHaveText('kernel');
    expect(await pathManager(lab.client)).toBe('kernel');
    await expect(pm.actions('stopped')).toHaveCount(1);
    // Stopping leaves the connections and their subflows alone.
    expect(await establishedSubflows(lab.client)).toBe(before + 4);
  } finally {
    await traffic?.stop();
    await serverLimits(lab.server, 1, 1);
    if ((await pathManager(lab.client)) !== 'kernel')
      await nsRun(lab.client, 'sysctl', ['-q', '-w', 'net.mptcp.path_manager=kernel']);
  }
});
