// `petrel client --software-dir`: the simulated device takes a signed software package pushed to
// /9/1/2 by an in-process LwM2mServer over UDP, installs and activates it, and logs each step;
// an unsigned one is refused with 54 when release keys are given.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runCli } from '../../src/cli/program.js';
import { createSimulatorModel } from '../../src/cli/simulated-device.js';
import { buildPackage } from '../../src/firmware/package-envelope.js';
import { Value } from '../../src/model/data-types.js';
import { LwM2mServer } from '../../src/server/lwm2m-server.js';
import type { Registration } from '../../src/server/registration.js';
import { cliIo, startCli, waitFor } from '../support/cli-run.js';
import { untilResource as until } from '../support/until.js';

const release = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const IMAGE = Uint8Array.from({ length: 5000 }, (_, i) => (i * 11) & 0xff);

describe('petrel client --software-dir', { timeout: 30_000 }, () => {
  it('a signed package pushed to /9/1/2 is installed and activated; an unsigned one is refused (54)', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'petrel-cli-sw-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const pub = join(dir, 'release.pub');
    await writeFile(pub, release.publicKey.export({ format: 'pem', type: 'spki' }));
    const server = new LwM2mServer({
      udp: { address: '127.0.0.1', port: 0 },
      model: createSimulatorModel(),
      requestTimeout: 5000,
    });
    await server.start();
    const registered = once(server, 'registered') as Promise<[Registration]>;
    const cli = startCli([
      'client',
      '--endpoint',
      'cli-sw-1',
      '--server',
      `coap://127.0.0.1:${server.address!.port}`,
      '--software-dir',
      join(dir, 'sw'),
      '--software-components',
      '2',
      '--firmware-trust',
      pub,
      '--no-stdin',
      '--interval',
      '3600',
    ]);
    t.after(async () => {
      cli.stop();
      await cli.exit;
      await server.stop();
    });
    const [reg] = await registered;
    const ep = reg.endpoint;
    assert.deepEqual(reg.objects.find((o) => o.id === 9)?.instances, [0, 1]);

    const pkg = buildPackage(IMAGE, { version: '3.1.0', name: 'agent' }, release.privateKey);
    const written = await server.write(ep, '/9/1/2', Value.opaque(pkg), { format: 'opaque' });
    assert.equal(written.code, '2.04', written.diagnostic);
    await until(server, ep, '/9/1/7', 3); // DELIVERED
    assert.equal((await server.execute(ep, '/9/1/4')).code, '2.04');
    await until(server, ep, '/9/1/7', 4); // INSTALLED
    assert.equal((await server.execute(ep, '/9/1/10')).code, '2.04');
    await until(server, ep, '/9/1/12', true);
    await waitFor(
      () => /software \/9\/1 state=installed result=2 active=true agent 3\.1\.0/.test(cli.out()),
      'the installed line',
    );
    await until(server, ep, '/9/0/7', 0); // the other component untouched

    const unsigned = buildPackage(IMAGE, { version: '3.2.0', name: 'agent' });
    assert.equal(
      (await server.write(ep, '/9/0/2', Value.opaque(unsigned), { format: 'opaque' })).code,
      '2.04',
    );
    await until(server, ep, '/9/0/9', 54);

    cli.stop();
    assert.equal(await cli.exit, 0, cli.err());
  });

  it('--software-components without --software-dir is a usage error', async () => {
    const c = cliIo();
    const code = await runCli(
      [
        'client',
        '--endpoint',
        'x',
        '--server',
        'coap://127.0.0.1:5683',
        '--software-components',
        '2',
        '--no-stdin',
      ],
      c.io,
    );
    assert.equal(code, 2);
    assert.match(c.err(), /--software-components: only with --software-dir/);
  });
});
