import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import {
  campaignEnded,
  phaseSummary,
  watchCampaign,
  watchLine,
  watchView,
} from '../../src/cli/campaign-watch.js';
import type { WatchedCampaign } from '../../src/cli/campaign-watch.js';
import type { CliIo } from '../../src/cli/io.js';

function state(
  finished: number,
  bytes: number,
  phases: Record<string, number>,
  end = false,
): WatchedCampaign {
  return {
    id: 'c1-x',
    status: end ? 'completed' : 'running',
    ...(end ? { finishedAt: 5 } : {}),
    image: { size: 100 },
    totals: { devices: 4, finished, bytes, phases },
  };
}

const SEQUENCE = [
  state(0, 0, { queued: 4 }),
  state(0, 0, { queued: 4 }),
  state(1, 250, { downloading: 2, queued: 1, succeeded: 1 }),
  state(4, 400, { succeeded: 3, failed: 1 }, true),
];

function io(terminal?: NodeJS.WritableStream) {
  let out = '';
  const cli: CliIo = {
    readStdin: () => Promise.resolve(new Uint8Array()),
    stdout: (t) => (out += t),
    stderr: () => undefined,
    ...(terminal ? { progressStream: () => terminal } : {}),
  };
  return { cli, out: () => out };
}

describe('petrel firmware campaign watch', () => {
  it('prints a line each time the totals change, and stops when the campaign ends', async () => {
    const reads = [...SEQUENCE];
    const o = io();
    const last = await watchCampaign(() => Promise.resolve(reads.shift()!), watchView(o.cli, false), {
      intervalMs: 1,
    });
    assert.ok(campaignEnded(last));
    assert.equal(reads.length, 0, 'read until the end, not after');
    assert.deepEqual(o.out().trimEnd().split('\n'), [
      'c1-x running: 0/4 finished (queued 4); 0 bytes (0%)',
      'c1-x running: 1/4 finished (downloading 2, queued 1, succeeded 1); 250 bytes (62%)',
      'c1-x completed: 4/4 finished (succeeded 3, failed 1); 400 bytes (100%)',
    ]);
    assert.equal(phaseSummary({ queued: 0 }), 'no devices');
    assert.equal(watchLine(state(0, 0, {})), 'c1-x running: 0/4 finished (no devices); 0 bytes (0%)\n');
  });

  it('draws two progress bars on a terminal', async () => {
    const terminal = new PassThrough();
    let drawn = '';
    terminal.on('data', (b: Buffer) => (drawn += b.toString()));
    Object.assign(terminal, { isTTY: true, columns: 160 });
    const reads = [...SEQUENCE];
    const o = io(terminal);
    await watchCampaign(() => Promise.resolve(reads.shift()!), watchView(o.cli, false), { intervalMs: 1 });
    assert.equal(o.out(), '', 'nothing on stdout');
    assert.match(drawn, /devices \[[^\]]*\] 100% \| 4\/4 finished \| succeeded 3, failed 1/);
    assert.match(drawn, /bytes {3}\[[^\]]*\] 100% \| 400\/400/);
  });

  it('stops early when aborted', async () => {
    const abort = new AbortController();
    const o = io();
    let n = 0;
    setTimeout(() => abort.abort(), 50);
    const last = await watchCampaign(
      () => Promise.resolve(state(0, ++n, { queued: 4 })),
      watchView(o.cli, true),
      { intervalMs: 60_000, signal: abort.signal },
    );
    assert.equal(n, 2, 'one read at the start, one when aborted');
    assert.equal(campaignEnded(last), false);
    assert.equal((JSON.parse(o.out().split('\n')[0]!) as { status: string }).status, 'running');
  });
});
