// A small network lab for tests that need real multicast between hosts: Linux network namespaces
// joined by veth pairs to a bridge. The bridge lives in a hub namespace of its own (not the root
// namespace), so nothing of the host's network — its firewall, br_netfilter, routes — is touched or
// touches us. Every name carries a per-run prefix (`petrel-<pid>-`), every command has a time
// limit, and teardown is idempotent and also runs on process exit.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const NS_PREFIX = 'petrel-';
/** The interface name every member sees inside its namespace. */
export const LAB_INTERFACE = 'eth0';
const COMMAND_TIMEOUT_MS = 5_000;

export class NetnsError extends Error {
  readonly code = 'PETREL_TEST_NETNS';
  constructor(message: string) {
    super(message);
    this.name = 'NetnsError';
  }
}

/** Runs `ip` (or another tool) with a hard time limit; throws NetnsError on failure. */
function sh(program: string, args: readonly string[], timeoutMs = COMMAND_TIMEOUT_MS): string {
  const r = spawnSync(program, args, { encoding: 'utf8', timeout: timeoutMs });
  if (r.error || r.status !== 0) {
    const why = r.error ? r.error.message : r.stderr.trim() || `exit ${r.status}`;
    throw new NetnsError(`${program} ${args.join(' ')}: ${why}`);
  }
  return r.stdout;
}

/** Like sh() but never throws: for teardown. */
function trySh(program: string, args: readonly string[]): boolean {
  const r = spawnSync(program, args, { encoding: 'utf8', timeout: COMMAND_TIMEOUT_MS });
  return !r.error && r.status === 0;
}

let canUse: string | undefined | null = null;

/**
 * Why namespaces cannot be used here (undefined when they can): needs root on Linux and a working
 * `ip netns` (creating and deleting a throw-away namespace is the real test).
 */
export function netnsUnavailableReason(): string | undefined {
  if (canUse !== null) return canUse;
  canUse = probe();
  return canUse;
}

function probe(): string | undefined {
  if (process.platform !== 'linux') return `not Linux (${process.platform})`;
  if (process.getuid?.() !== 0) return 'not running as root';
  const name = `${NS_PREFIX}${process.pid}-probe`;
  try {
    sh('ip', ['netns', 'add', name]);
  } catch (e) {
    return (e as Error).message;
  }
  try {
    sh('ip', ['netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up']);
    return undefined;
  } catch (e) {
    return (e as Error).message;
  } finally {
    trySh('ip', ['netns', 'del', name]);
  }
}

export function canUseNetns(): boolean {
  return netnsUnavailableReason() === undefined;
}

const SKIP_MESSAGE = 'multicast tests need root and network namespaces (ip netns)';

/**
 * True when namespaces are usable; otherwise skips the test with a clear message, or under CI=true
 * fails it (CI runs as root with iproute2, so a skip there would hide a broken setup).
 */
export function requireNetns(t: TestContext): boolean {
  const reason = netnsUnavailableReason();
  if (reason === undefined) return true;
  const msg = `${SKIP_MESSAGE}: ${reason}`;
  if (process.env.CI === 'true') throw new NetnsError(msg);
  t.skip(msg);
  return false;
}

/** One host of the lab. */
export interface LabNode {
  /** The short name given to createLab(). */
  readonly name: string;
  /** The namespace (`petrel-<pid>-<name>`). */
  readonly ns: string;
  /** Its interface inside the namespace (always LAB_INTERFACE). */
  readonly iface: string;
  readonly ipv4: string;
  /** Unique local address in fd00:213::/64. */
  readonly ipv6: string;
  /** The interface's link-local address (read back after the link came up). */
  readonly linkLocal: string;
}

/** A process running in one of the lab's namespaces, with its stdout split into lines. */
export interface LabProcess {
  readonly child: ChildProcess;
  readonly lines: string[];
  /** Everything it wrote to stderr (for failure messages). */
  stderr(): string;
  /** Resolves with the first line matching `match`; rejects after `timeoutMs` or if it exits first. */
  waitForLine(match: RegExp | string, timeoutMs: number): Promise<string>;
  /** Resolves with the exit code once it exits; rejects (after killing it) past `timeoutMs`. */
  exited(timeoutMs: number): Promise<number | null>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it is gone. */
  stop(graceMs?: number): Promise<void>;
}

export interface LabOptions {
  /** Per-run subnet byte: 10.213.<subnet>.0/24 (default from the pid). */
  readonly subnet?: number;
}

export interface Lab {
  readonly prefix: string;
  readonly nodes: readonly LabNode[];
  node(name: string): LabNode;
  /** Runs `node --import tsx <script> ...args` inside `node`'s namespace, from the repo root. */
  spawnNode(node: LabNode, script: string, args?: readonly string[]): LabProcess;
  /** Runs any program inside the namespace. */
  spawn(node: LabNode, program: string, args?: readonly string[]): LabProcess;
  /** Kills every process we started and deletes every namespace (and so every link). Idempotent. */
  teardown(): void;
}

const liveLabs = new Set<Lab>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  const teardownAll = (): void => {
    for (const lab of liveLabs) lab.teardown();
  };
  process.once('exit', teardownAll);
  // A signal ends the process without 'exit': tear down, then die of the same signal.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      teardownAll();
      process.kill(process.pid, signal);
    });
  }
}

/**
 * Namespaces left by runs that died without tearing down (SIGKILL, a crash) (their pid is gone). Only our own
 * `petrel-<pid>-` names are considered, and only when that pid no longer exists.
 */
function reapStale(): void {
  let list: string;
  try {
    list = sh('ip', ['netns', 'list']);
  } catch {
    return;
  }
  for (const line of list.split('\n')) {
    const name = line.split(' ')[0] ?? '';
    const m = /^petrel-(\d+)-/.exec(name);
    if (!m || Number(m[1]) === process.pid) continue;
    try {
      process.kill(Number(m[1]), 0);
      continue; // that run is still alive
    } catch (e) {
      if ((e as { code?: string }).code !== 'ESRCH') continue;
    }
    killNamespaceProcesses(name);
    trySh('ip', ['netns', 'del', name]);
  }
}

/** Every process still inside a namespace of ours (we started them all). */
function killNamespaceProcesses(ns: string): void {
  const r = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', timeout: COMMAND_TIMEOUT_MS });
  for (const pid of (r.stdout ?? '').split(/\s+/).filter(Boolean)) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/**
 * Creates one namespace per name, each with `eth0` (10.213.<subnet>.<i+1>/24,
 * fd00:213::<i+1>/64 and its link-local address), loopback up, and multicast routes for
 * 224.0.0.0/4 and ff00::/8 on eth0; all of them on one bridge in a hub namespace. Duplicate
 * address detection is off so IPv6 addresses are usable at once. On any failure what was built is
 * torn down before the error is thrown.
 */
export function createLab(names: readonly string[], options: LabOptions = {}): Lab {
  if (names.length === 0 || names.length > 200) throw new NetnsError('1..200 nodes');
  const subnet = options.subnet ?? (process.pid % 250) + 1;
  const prefix = `${NS_PREFIX}${process.pid}-`;
  const hub = `${prefix}hub`;
  const created: string[] = [];
  const processes = new Set<LabProcess>();
  const nodes: LabNode[] = [];
  let torn = false;

  const lab: Lab = {
    prefix,
    nodes,
    node(name) {
      const n = nodes.find((x) => x.name === name);
      if (!n) throw new NetnsError(`no lab node ${name}`);
      return n;
    },
    spawnNode(node, script, args = []) {
      return lab.spawn(node, process.execPath, ['--import', 'tsx', script, ...args]);
    },
    spawn(node, program, args = []) {
      if (torn) throw new NetnsError('lab already torn down');
      const p = startProcess('ip', ['netns', 'exec', node.ns, program, ...args]);
      processes.add(p);
      return p;
    },
    teardown() {
      if (torn) return;
      torn = true;
      liveLabs.delete(lab);
      for (const p of processes) {
        if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
      }
      // Deleting a namespace does not end its processes (they keep it alive): kill any first.
      for (const ns of [...created].reverse()) {
        killNamespaceProcesses(ns);
        trySh('ip', ['netns', 'del', ns]);
      }
    },
  };

  installExitHook();
  reapStale();
  liveLabs.add(lab);
  try {
    const add = (ns: string): void => {
      sh('ip', ['netns', 'add', ns]);
      created.push(ns);
      const inNs = (...args: string[]) => sh('ip', ['netns', 'exec', ns, ...args]);
      inNs('ip', 'link', 'set', 'lo', 'up');
      // Before any interface exists, so eth0 inherits it: no DAD wait for IPv6 addresses.
      inNs('sysctl', '-q', '-w', 'net.ipv6.conf.default.accept_dad=0');
      inNs('sysctl', '-q', '-w', 'net.ipv6.conf.all.accept_dad=0');
    };
    add(hub);
    const inHub = (...args: string[]) => sh('ip', ['-n', hub, ...args]);
    // No IGMP/MLD snooping: with no querier on the segment, the bridge just floods group traffic.
    inHub('link', 'add', 'br0', 'type', 'bridge', 'mcast_snooping', '0');
    inHub('link', 'set', 'br0', 'up');
    names.forEach((name, i) => {
      if (!/^[a-z0-9]{1,20}$/.test(name)) throw new NetnsError(`bad lab node name ${name}`);
      const ns = `${prefix}${name}`;
      add(ns);
      const port = `p${i}`;
      inHub('link', 'add', port, 'type', 'veth', 'peer', 'name', LAB_INTERFACE, 'netns', ns);
      inHub('link', 'set', port, 'master', 'br0');
      inHub('link', 'set', port, 'up');
      const ipv4 = `10.213.${subnet}.${i + 1}`;
      const ipv6 = `fd00:213::${(i + 1).toString(16)}`;
      const inNs = (...args: string[]) => sh('ip', ['-n', ns, ...args]);
      inNs('addr', 'add', `${ipv4}/24`, 'dev', LAB_INTERFACE);
      inNs('-6', 'addr', 'add', `${ipv6}/64`, 'dev', LAB_INTERFACE, 'nodad');
      inNs('link', 'set', LAB_INTERFACE, 'up');
      inNs('route', 'add', '224.0.0.0/4', 'dev', LAB_INTERFACE);
      // ff00::/8 on eth0 normally appears with the link (local table); add it to main if absent.
      trySh('ip', ['-n', ns, '-6', 'route', 'add', 'multicast', 'ff00::/8', 'dev', LAB_INTERFACE]);
      nodes.push({ name, ns, iface: LAB_INTERFACE, ipv4, ipv6, linkLocal: readLinkLocal(ns) });
    });
    return lab;
  } catch (e) {
    lab.teardown();
    throw e;
  }
}

/** The fe80:: address of eth0 (present as soon as the link is up, DAD being off). */
function readLinkLocal(ns: string): string {
  const deadline = Date.now() + 3_000;
  for (;;) {
    const out = sh('ip', ['-n', ns, '-6', '-o', 'addr', 'show', 'dev', LAB_INTERFACE, 'scope', 'link']);
    const m = /inet6 (fe80:[0-9a-f:]+)\//.exec(out);
    if (m?.[1]) return m[1];
    if (Date.now() > deadline) throw new NetnsError(`no link-local address on ${ns}`);
    spawnSync('sleep', ['0.05']);
  }
}

function startProcess(program: string, args: readonly string[]): LabProcess {
  const child = spawn(program, args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let partial = '';
  let err = '';
  const lineListeners = new Set<() => void>();
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => {
    partial += chunk;
    const parts = partial.split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts);
    for (const l of lineListeners) l();
  });
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    if (err.length < 64 * 1024) err += chunk; // bounded: a chatty child cannot grow it
  });
  const done = new Promise<number | null>((resolve) => {
    child.once('close', (code) => {
      if (partial) lines.push(partial);
      partial = '';
      for (const l of lineListeners) l();
      resolve(code);
    });
    child.once('error', (e) => {
      err += `\nspawn error: ${e.message}`;
      resolve(null);
    });
  });
  let finished = false;
  void done.then(() => (finished = true));

  const proc: LabProcess = {
    child,
    lines,
    stderr: () => err,
    waitForLine(match, timeoutMs) {
      const test = (l: string) => (typeof match === 'string' ? l === match : match.test(l));
      return new Promise<string>((resolve, reject) => {
        const check = (): void => {
          const hit = lines.find(test);
          if (hit !== undefined) {
            cleanup();
            resolve(hit);
          } else if (finished) {
            cleanup();
            reject(new NetnsError(`exited before printing ${String(match)}; stderr: ${err}`));
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new NetnsError(`no ${String(match)} within ${timeoutMs} ms; stderr: ${err}`));
        }, timeoutMs);
        const cleanup = (): void => {
          clearTimeout(timer);
          lineListeners.delete(check);
        };
        lineListeners.add(check);
        void done.then(check);
        check();
      });
    },
    async exited(timeoutMs) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          child.kill('SIGKILL');
          reject(new NetnsError(`did not exit within ${timeoutMs} ms; stderr: ${err}`));
        }, timeoutMs);
      });
      try {
        return await Promise.race([done, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    async stop(graceMs = 2_000) {
      if (finished) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await done;
      clearTimeout(timer);
    },
  };
  return proc;
}
