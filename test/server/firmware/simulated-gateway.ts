// Lightweight simulated devices behind the CampaignGateway seam: each keeps a /5 State and Update
// Result and moves as a device would, so a campaign over thousands of them runs in a second.
import type { CampaignGateway, DeviceAnswer } from '../../../src/server/firmware/campaign-gateway.js';

export type Behaviour =
  | 'ok'
  /** The install fails: Downloaded / 8. */
  | 'fail'
  /** The first Execute is deferred (11), then accepted by the device itself. */
  | 'defer'
  /** The first download is lost (Idle / 4), the second works. */
  | 'flaky'
  /** Queue mode, asleep until it wakes after `wakeAfter` ms. */
  | 'asleep'
  /** Restarts to install: no answer for a while in Updating. */
  | 'reboot';

export interface SimDevice {
  readonly endpoint: string;
  readonly behaviour: Behaviour;
  state: number;
  result: number;
  version: string;
  awake: boolean;
  downloads: number;
  executes: number;
  protocols: number[];
  delivery: number;
  rebooting: boolean;
}

export class SimulatedGateway implements CampaignGateway {
  readonly devices = new Map<string, SimDevice>();
  readonly #listeners = new Set<(ep: string) => void>();
  readonly #timers = new Set<NodeJS.Timeout>();
  /** Requests made, by kind. */
  readonly counts = { read: 0, write: 0, execute: 0 };
  /**
   * The download service's side of a pull (Write /5/0/1): serves the block of `uri` at `offset`,
   * returning the bytes served and the image size, or undefined when it refuses. Unset: devices
   * refuse Write /5/0/1.
   */
  serve: ((uri: string, offset: number) => { bytes: number; size: number } | undefined) | undefined;

  add(endpoint: string, behaviour: Behaviour = 'ok', wakeAfter = 50): SimDevice {
    const d: SimDevice = {
      endpoint,
      behaviour,
      state: 0,
      result: 0,
      version: '1.0.0',
      awake: behaviour !== 'asleep',
      downloads: 0,
      executes: 0,
      protocols: [0],
      delivery: 2,
      rebooting: false,
    };
    this.devices.set(endpoint, d);
    if (behaviour === 'asleep')
      this.#later(wakeAfter, () => {
        d.awake = true;
        for (const l of this.#listeners) l(endpoint);
      });
    return d;
  }

  #later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.#timers.delete(t);
      fn();
    }, ms);
    this.#timers.add(t);
  }

  close(): void {
    for (const t of this.#timers) clearTimeout(t);
  }

  registration(endpoint: string): Promise<{ queueMode: boolean } | undefined> {
    const d = this.devices.get(endpoint);
    return Promise.resolve(d && { queueMode: d.behaviour === 'asleep' });
  }

  isAwake(endpoint: string): boolean {
    return this.devices.get(endpoint)?.awake ?? false;
  }

  read(endpoint: string, path: string): Promise<DeviceAnswer> {
    if (this.devices.get(endpoint)?.rebooting)
      return Promise.reject(new Error(`${endpoint} is not registered`));
    return Promise.resolve(this.#read(endpoint, path));
  }

  #read(endpoint: string, path: string): DeviceAnswer {
    this.counts.read++;
    const d = this.devices.get(endpoint);
    if (!d) return { code: '4.04' };
    if (path === '/3/0/3') return { code: '2.05', values: { '/3/0/3': d.version } };
    if (path !== '/5/0') return { code: '4.04' };
    const values: Record<string, unknown> = {
      '/5/0/3': d.state,
      '/5/0/5': d.result,
      '/5/0/9': d.delivery,
      '/5/0/13': 60,
    };
    d.protocols.forEach((p, i) => (values[`/5/0/8/${i}`] = p));
    return { code: '2.05', values };
  }

  writeOpaque(endpoint: string, path: string, bytes: Uint8Array): Promise<DeviceAnswer> {
    return Promise.resolve(this.#writeOpaque(endpoint, path, bytes));
  }

  #writeOpaque(endpoint: string, path: string, bytes: Uint8Array): DeviceAnswer {
    this.counts.write++;
    const d = this.devices.get(endpoint);
    if (!d || path !== '/5/0/0' || bytes.length === 0) return { code: '4.04' };
    if (d.state !== 0) return { code: '4.05' };
    d.downloads++;
    d.state = 1;
    d.result = 0;
    this.#later(2, () => {
      if (d.behaviour === 'flaky' && d.downloads <= 1) {
        d.state = 0;
        d.result = 4;
      } else d.state = 2;
    });
    return { code: '2.04' };
  }

  writeString(endpoint: string, path: string, uri: string): Promise<DeviceAnswer> {
    return Promise.resolve(this.#writeString(endpoint, path, uri));
  }

  #writeString(endpoint: string, path: string, uri: string): DeviceAnswer {
    this.counts.write++;
    const d = this.devices.get(endpoint);
    if (!d || path !== '/5/0/1' || !this.serve) return { code: '4.05' };
    if (d.state !== 0) return { code: '4.05' };
    d.downloads++;
    d.state = 1;
    d.result = 0;
    const download = d.downloads;
    // One block a millisecond, as long as this download goes on (a Cancel /5/0/10 ends it).
    const next = (offset: number): void => {
      if (d.state !== 1 || d.downloads !== download) return;
      const block = this.serve?.(uri, offset);
      if (!block) {
        d.state = 0;
        d.result = 7; // invalid URI: the token is gone
        return;
      }
      const served = offset + block.bytes;
      if (d.behaviour === 'flaky' && download <= 1 && served * 2 >= block.size) {
        d.state = 0;
        d.result = 4;
      } else if (served >= block.size) d.state = 2;
      else this.#later(1, () => next(served));
    };
    this.#later(1, () => next(0));
    return { code: '2.04' };
  }

  execute(endpoint: string, path: string): Promise<DeviceAnswer> {
    return Promise.resolve(this.#execute(endpoint, path));
  }

  #execute(endpoint: string, path: string): DeviceAnswer {
    this.counts.execute++;
    const d = this.devices.get(endpoint);
    if (!d) return { code: '4.04' };
    if (path === '/5/0/10') {
      if (d.state === 3) return { code: '4.05' };
      d.state = 0;
      d.result = 10;
      return { code: '2.04' };
    }
    if (path !== '/5/0/2' || d.state !== 2) return { code: '4.05' };
    d.executes++;
    if (d.behaviour === 'defer' && d.executes === 1) {
      d.result = 11;
      // The device asks its application again after the deferral, and it accepts. Long enough that
      // a busy machine's campaign still reads /5/0 while it is deferred.
      this.#later(500, () => this.#install(d));
      return { code: '2.04' };
    }
    this.#install(d);
    return { code: '2.04' };
  }

  #install(d: SimDevice): void {
    d.state = 3;
    d.result = 0;
    if (d.behaviour === 'reboot') d.rebooting = true;
    this.#later(d.behaviour === 'reboot' ? 60 : 3, () => {
      d.rebooting = false;
      if (d.behaviour === 'fail') {
        d.state = 2;
        d.result = 8;
        return;
      }
      d.state = 0;
      d.result = 1;
      d.version = '2.0.0';
    });
  }

  onWake(listener: (endpoint: string) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  endpoints(): Promise<string[]> {
    return Promise.resolve([...this.devices.keys()]);
  }
}
