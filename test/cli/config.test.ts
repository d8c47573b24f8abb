import assert from 'node:assert/strict';
import { Command, CommanderError } from 'commander';
import fc from 'fast-check';
import { describe, it } from 'node:test';
import {
  ConfigError,
  DEFAULT_CONFIG_FILE,
  SETTING_NAMES,
  addServerOptions,
  envName,
  flagName,
  isLoopback,
  mergeServerConfig,
  parseConfigFile,
  parseEnvConfig,
  resolveServerConfig,
  serverConfigWarnings,
} from '../../src/cli/config.js';
import type { ReadConfigFile, ServerConfig } from '../../src/cli/config.js';

/** The server command's options, parsed from `args` (commander errors thrown, not exiting). */
function parsed(args: string[]): Command {
  const cmd = addServerOptions(new Command('server'))
    .exitOverride()
    .configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
  cmd.parse(args, { from: 'user' });
  return cmd;
}

/** A read function over an in-memory folder. */
const files =
  (entries: Record<string, string>): ReadConfigFile =>
  (path) =>
    entries[path];

const resolve = (
  args: string[],
  env: NodeJS.ProcessEnv = {},
  disk: Record<string, string> = {},
): ServerConfig => resolveServerConfig(parsed(args), env, files(disk));

function configError(fn: () => unknown, message: string | RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ConfigError, String(e));
    assert.equal(e.code, 'PETREL_ERR_CONFIG');
    if (typeof message === 'string') assert.equal(e.message, message);
    else assert.match(e.message, message);
    return true;
  });
}

describe('server configuration', () => {
  it('has defaults: SQLite store, 5683/8080, HTTP on the CoAP address', () => {
    const config = resolve([]);
    assert.deepEqual(
      { ...config, sources: undefined },
      {
        address: '0.0.0.0',
        coapPort: 5683,
        coapsPort: undefined,
        tcpPort: undefined,
        tlsPort: undefined,
        mqtt: undefined,
        mqttPort: undefined,
        mqttPrefix: undefined,
        peerRate: 50,
        peerBurst: undefined,
        notificationRate: 50,
        notificationBurst: undefined,
        notificationCancelAfter: undefined,
        pskHint: undefined,
        coapsKey: undefined,
        coapsCert: undefined,
        trustAnchors: [],
        coapsCidLength: undefined,
        secureOnly: false,
        bootstrapPort: undefined,
        bootstrapCoapsPort: undefined,
        httpAddress: '0.0.0.0',
        httpPort: 8080,
        store: 'sqlite:./data/petrel.db',
        models: [],
        lifetimeGrace: 0,
        json: false,
        token: undefined,
        cors: [],
        demo: false,
        webRoot: undefined,
        configFile: undefined,
        sources: undefined,
      },
    );
    assert.ok(SETTING_NAMES.every((name) => config.sources[name] === 'default'));
  });

  it('takes flags over environment over file over defaults, setting by setting', () => {
    const disk = { [DEFAULT_CONFIG_FILE]: '{"coapPort": 1000, "httpPort": 1001, "lifetimeGrace": 5}' };
    const env = { PETREL_COAP_PORT: '2000', PETREL_HTTP_PORT: '2001' };
    const config = resolve(['--coap-port', '3000'], env, disk);
    assert.equal(config.coapPort, 3000);
    assert.equal(config.httpPort, 2001);
    assert.equal(config.lifetimeGrace, 5);
    assert.equal(config.address, '0.0.0.0');
    assert.deepEqual(
      [
        config.sources.coapPort,
        config.sources.httpPort,
        config.sources.lifetimeGrace,
        config.sources.address,
      ],
      ['cli', 'env', 'file', 'default'],
    );
    assert.equal(config.configFile, DEFAULT_CONFIG_FILE);
  });

  it('picks the highest layer that sets a value (property)', () => {
    const layer = fc.option(fc.integer({ min: 0, max: 65535 }), { nil: undefined });
    fc.assert(
      fc.property(layer, layer, layer, (cli, env, file) => {
        const config = mergeServerConfig({
          cli: cli === undefined ? {} : { httpPort: cli },
          env: env === undefined ? {} : { httpPort: env },
          file: file === undefined ? {} : { httpPort: file },
        });
        assert.equal(config.httpPort, cli ?? env ?? file ?? 8080);
        const source =
          cli !== undefined ? 'cli' : env !== undefined ? 'env' : file !== undefined ? 'file' : 'default';
        assert.equal(config.sources.httpPort, source);
      }),
    );
  });

  it('lets one --address confine the HTTP side too, unless the HTTP address is set', () => {
    const local = resolve(['--address', '127.0.0.1']);
    assert.equal(local.httpAddress, '127.0.0.1');
    assert.equal(local.sources.httpAddress, 'default');
    const split = resolve(['--address', '127.0.0.1'], { PETREL_HTTP_ADDRESS: '::' });
    assert.equal(split.httpAddress, '::');
    assert.equal(resolve([], { PETREL_ADDRESS: '::1' }).httpAddress, '::1');
  });

  it('reads every setting from PETREL_ variables; empty ones and other PETREL_ variables are ignored', () => {
    const config = resolve([], {
      PETREL_ADDRESS: '10.0.0.5',
      PETREL_COAP_PORT: '0',
      PETREL_COAPS_PORT: '5684',
      PETREL_TCP_PORT: '5683',
      PETREL_TLS_PORT: '5685',
      PETREL_MQTT: 'mqtts://broker.example.com:8883',
      PETREL_MQTT_PORT: '1884',
      PETREL_MQTT_PREFIX: 'tenant-1/site',
      PETREL_PEER_RATE: '2.5',
      PETREL_PEER_BURST: '10',
      PETREL_NOTIFICATION_RATE: '0.5',
      PETREL_NOTIFICATION_BURST: '4',
      PETREL_NOTIFICATION_CANCEL_AFTER: '100',
      PETREL_PSK_HINT: 'petrel hint',
      PETREL_COAPS_KEY: '/etc/petrel/server.key.pem',
      PETREL_COAPS_CERT: '/etc/petrel/server-chain.pem',
      PETREL_TRUST_ANCHORS: '/etc/petrel/ca-1.pem,/etc/petrel/ca-2.der',
      PETREL_COAPS_CID_LENGTH: '0',
      PETREL_SECURE_ONLY: 'true',
      PETREL_BOOTSTRAP_PORT: '5783',
      PETREL_BOOTSTRAP_COAPS_PORT: '5784',
      PETREL_HTTP_ADDRESS: '127.0.0.1',
      PETREL_HTTP_PORT: '9090',
      PETREL_STORE: 'redis://cache:6379',
      PETREL_MODELS: ' ./a , ./b,,/opt/c ',
      PETREL_LIFETIME_GRACE: '30',
      PETREL_JSON: 'yes',
      PETREL_TOKEN: 'abcDEF0123456789-._~+/==',
      PETREL_CORS: 'https://ops.example.com, http://localhost:5173',
      PETREL_DEMO: 'ON',
      PETREL_WEB_ROOT: '/srv/web',
      PETREL_SHARED: '/not/a/setting',
      PETREL_FUZZ_BUDGET: 'x',
    });
    assert.deepEqual(
      { ...config, sources: undefined, configFile: undefined },
      {
        address: '10.0.0.5',
        coapPort: 0,
        coapsPort: 5684,
        tcpPort: 5683,
        tlsPort: 5685,
        mqtt: 'mqtts://broker.example.com:8883',
        mqttPort: 1884,
        mqttPrefix: 'tenant-1/site',
        peerRate: 2.5,
        peerBurst: 10,
        notificationRate: 0.5,
        notificationBurst: 4,
        notificationCancelAfter: 100,
        pskHint: 'petrel hint',
        coapsKey: '/etc/petrel/server.key.pem',
        coapsCert: '/etc/petrel/server-chain.pem',
        trustAnchors: ['/etc/petrel/ca-1.pem', '/etc/petrel/ca-2.der'],
        coapsCidLength: 0,
        secureOnly: true,
        bootstrapPort: 5783,
        bootstrapCoapsPort: 5784,
        httpAddress: '127.0.0.1',
        httpPort: 9090,
        store: 'redis://cache:6379',
        models: ['./a', './b', '/opt/c'],
        lifetimeGrace: 30,
        json: true,
        token: 'abcDEF0123456789-._~+/==',
        cors: ['https://ops.example.com', 'http://localhost:5173'],
        demo: true,
        webRoot: '/srv/web',
        sources: undefined,
        configFile: undefined,
      },
    );
    assert.ok(SETTING_NAMES.every((name) => config.sources[name] === 'env'));
    assert.deepEqual(parseEnvConfig({ PETREL_COAP_PORT: '', PETREL_JSON: '0', PETREL_DEMO: 'False' }), {
      json: false,
      demo: false,
    });
  });

  it('takes the TCP, TLS and MQTT settings and refuses brokers and prefixes it cannot use', () => {
    const config = resolve([
      '--tcp-port',
      '5683',
      '--tls-port',
      '5684',
      '--mqtt',
      'embedded',
      '--mqtt-prefix',
      'a/b',
    ]);
    assert.deepEqual(
      [config.tcpPort, config.tlsPort, config.mqtt, config.mqttPrefix, config.sources.mqtt],
      [5683, 5684, 'embedded', 'a/b', 'cli'],
    );
    configError(
      () => parseEnvConfig({ PETREL_MQTT: 'http://broker' }),
      "PETREL_MQTT: expected 'embedded' or a broker URL such as mqtt://broker:1883 or mqtts://broker:8883, got 'http://broker'",
    );
    for (const bad of ['a/+/b', '#', 'a//b', '/a'])
      assert.throws(
        () => parseEnvConfig({ PETREL_MQTT_PREFIX: bad }),
        /PETREL_MQTT_PREFIX: expected a topic prefix/,
      );
  });

  it('names the variable and the value when one is bad', () => {
    configError(
      () => parseEnvConfig({ PETREL_COAPS_CID_LENGTH: '33' }),
      "PETREL_COAPS_CID_LENGTH: expected a Connection ID length 0..32, got '33'",
    );
    configError(
      () => parseEnvConfig({ PETREL_COAP_PORT: 'abc' }),
      "PETREL_COAP_PORT: expected a port number 0..65535, got 'abc'",
    );
    configError(
      () => parseEnvConfig({ PETREL_HTTP_PORT: '65536' }),
      /^PETREL_HTTP_PORT: expected a port number/,
    );
    configError(() => parseEnvConfig({ PETREL_HTTP_PORT: '-1' }), /got '-1'/);
    configError(
      () => parseEnvConfig({ PETREL_ADDRESS: 'localhost' }),
      "PETREL_ADDRESS: expected an IP address such as 0.0.0.0, :: or 127.0.0.1, got 'localhost'",
    );
    configError(
      () => parseEnvConfig({ PETREL_STORE: 'mysql://db' }),
      "PETREL_STORE: expected memory, sqlite:<file> or redis://host:port, got 'mysql://db'",
    );
    configError(() => parseEnvConfig({ PETREL_STORE: 'sqlite:' }), /^PETREL_STORE: expected/);
    configError(
      () => parseEnvConfig({ PETREL_JSON: 'maybe' }),
      /^PETREL_JSON: expected true or false .*got 'maybe'/,
    );
    configError(
      () => parseEnvConfig({ PETREL_LIFETIME_GRACE: '1.5' }),
      /^PETREL_LIFETIME_GRACE: expected a whole/,
    );
    configError(
      () => parseEnvConfig({ PETREL_CORS: 'https://ops.example.com/' }),
      /^PETREL_CORS: expected '\*' or an origin/,
    );
    configError(() => parseEnvConfig({ PETREL_CORS: 'ftp://x' }), /got 'ftp:\/\/x'/);
    configError(() => parseEnvConfig({ PETREL_COAP_PORT: 'x'.repeat(500) }), /got 'x{50,60}\.\.\./);
    configError(() => parseEnvConfig({ PETREL_COAP_PORT: '1\n2' }), /got '1\\n2'/);
    configError(
      () => parseEnvConfig({ PETREL_COAPS_PORT: '70000' }),
      "PETREL_COAPS_PORT: expected a port number 0..65535, got '70000'",
    );
    configError(
      () => parseEnvConfig({ PETREL_PSK_HINT: 'é'.repeat(65) }),
      /^PETREL_PSK_HINT: expected a PSK identity hint of 1-128 bytes/,
    );
  });

  it('never echoes a bad token', () => {
    assert.throws(
      () => parseEnvConfig({ PETREL_TOKEN: 'secret with spaces' }),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        assert.match(e.message, /^PETREL_TOKEN: expected a bearer token/);
        assert.match(e.message, /got something else \(18 characters, not shown\)/);
        assert.doesNotMatch(e.message, /secret/);
        return true;
      },
    );
  });

  it('takes the notification limit from flags, PETREL_NOTIFICATION_* and the file, and names a bad one', () => {
    const flags = resolve([
      '--notification-rate',
      '2.5',
      '--notification-burst',
      '5',
      '--notification-cancel-after',
      '30',
    ]);
    assert.deepEqual(
      [flags.notificationRate, flags.notificationBurst, flags.notificationCancelAfter],
      [2.5, 5, 30],
    );
    assert.equal(flags.sources.notificationRate, 'cli');
    const env = resolve([], { PETREL_NOTIFICATION_RATE: '0', PETREL_NOTIFICATION_CANCEL_AFTER: '7' });
    assert.deepEqual([env.notificationRate, env.notificationCancelAfter], [0, 7]);
    assert.deepEqual([env.sources.notificationRate, env.sources.notificationBurst], ['env', 'default']);
    const file = resolve(
      [],
      {},
      { [DEFAULT_CONFIG_FILE]: '{"notificationRate": 10, "notificationBurst": "12"}' },
    );
    assert.deepEqual(
      [file.notificationRate, file.notificationBurst, file.sources.notificationRate],
      [10, 12, 'file'],
    );

    assert.throws(
      () => parsed(['--notification-rate', 'fast']),
      (e: unknown) =>
        e instanceof CommanderError &&
        /--notification-rate <per-second>.*expected a number of notifications per second, 0 or more \(e\.g\. 50 or 0\.5\), got 'fast'/.test(
          e.message,
        ),
    );
    assert.throws(() => parsed(['--notification-burst', '0.5']), /--notification-burst <notifications>/);
    configError(
      () => parseEnvConfig({ PETREL_NOTIFICATION_BURST: '0' }),
      "PETREL_NOTIFICATION_BURST: expected a whole number of notifications, 1 or more, got '0'",
    );
    configError(
      () => parseEnvConfig({ PETREL_NOTIFICATION_RATE: '-1' }),
      /^PETREL_NOTIFICATION_RATE: expected a number of notifications per second/,
    );
    configError(
      () => parseConfigFile('{"notificationCancelAfter": 2.5}', 'p.json'),
      "p.json: notificationCancelAfter: expected a whole number of dropped notifications, 1 or more, got '2.5'",
    );
  });

  it('reads a JSON file: --config, PETREL_CONFIG, else ./petrel.config.json when present', () => {
    const disk = {
      'conf/petrel.json': JSON.stringify({
        $schema: './schema.json',
        address: '127.0.0.1',
        coapPort: '5684',
        httpPort: 8081,
        store: 'sqlite:./data/p.db',
        models: ['./models', '/opt/models'],
        json: true,
        token: 'tok_0123456789abcdef',
        cors: 'https://a.example, https://b.example',
        demo: false,
        webRoot: 'web',
        lifetimeGrace: null,
      }),
      'other.json': '{"httpPort": 7000}',
      [DEFAULT_CONFIG_FILE]: '{"httpPort": 6000}',
    };
    const config = resolve(['--config', 'conf/petrel.json'], { PETREL_CONFIG: 'other.json' }, disk);
    assert.equal(config.configFile, 'conf/petrel.json');
    assert.equal(config.address, '127.0.0.1');
    assert.equal(config.httpAddress, '127.0.0.1');
    assert.equal(config.coapPort, 5684);
    assert.equal(config.httpPort, 8081);
    // Relative paths are relative to the file's folder.
    assert.equal(config.store, 'sqlite:conf/data/p.db');
    assert.deepEqual(config.models, ['conf/models', '/opt/models']);
    assert.equal(config.webRoot, 'conf/web');
    assert.deepEqual(config.cors, ['https://a.example', 'https://b.example']);
    assert.equal(config.json, true);
    assert.equal(config.lifetimeGrace, 0, 'null: not set');
    assert.equal(config.sources.lifetimeGrace, 'default');

    assert.equal(resolve([], { PETREL_CONFIG: 'other.json' }, disk).httpPort, 7000);
    assert.equal(resolve([], {}, disk).httpPort, 6000);
    assert.equal(resolve([], {}, {}).configFile, undefined);
    assert.equal(parseConfigFile('{"store": "sqlite::memory:"}', 'x/p.json').store, 'sqlite::memory:');
    assert.equal(parseConfigFile('{"store": "memory"}', 'x/p.json').store, 'memory');
  });

  it('refuses a named config file that does not exist', () => {
    configError(() => resolve(['--config', 'nope.json']), '--config: no such file: nope.json');
    configError(() => resolve([], { PETREL_CONFIG: 'gone.json' }), 'PETREL_CONFIG: no such file: gone.json');
  });

  it('names the file and the key of a bad file', () => {
    const file = 'petrel.config.json';
    configError(
      () => parseConfigFile('{"coapPort": 5683,}', file),
      /^petrel\.config\.json: not valid JSON: /,
    );
    configError(
      () => parseConfigFile('[1, 2]', file),
      /^petrel\.config\.json: expected a JSON object of settings/,
    );
    configError(() => parseConfigFile('"x"', file), /expected a JSON object/);
    configError(
      () => parseConfigFile('{"coap_port": 5683}', file),
      'petrel.config.json: unknown key "coap_port" (did you mean "coapPort"?)',
    );
    configError(
      () => parseConfigFile('{"colour": "blue"}', file),
      /^petrel\.config\.json: unknown key "colour" \(known keys: address, coapPort, coapsPort, tcpPort, tlsPort, mqtt, mqttPort, mqttPrefix, pskHint, coapsKey, coapsCert, trustAnchors, coapsCidLength, secureOnly, bootstrapPort, bootstrapCoapsPort, httpAddress, httpPort, store, models/,
    );
    configError(
      () => parseConfigFile('{"coapPort": true}', file),
      'petrel.config.json: coapPort: expected a port number 0..65535, got true',
    );
    configError(
      () => parseConfigFile('{"coapPort": 5683.5}', file),
      /coapPort: expected a port number 0\.\.65535, got '5683\.5'/,
    );
    configError(
      () => parseConfigFile('{"models": 5}', file),
      'petrel.config.json: models: expected an array of strings, got 5',
    );
    configError(() => parseConfigFile('{"models": ["a", 7]}', file), /models: expected a folder path, got 7/);
    configError(
      () => parseConfigFile('{"json": "yes"}', file),
      `petrel.config.json: json: expected true or false, got 'yes'`,
    );
    configError(
      () => parseConfigFile('{"token": "has space"}', file),
      /token: expected a bearer token.*not shown/,
    );
  });

  it('checks flags through commander, with the same messages', () => {
    assert.throws(
      () => parsed(['--coap-port', 'abc']),
      (e: unknown) =>
        e instanceof CommanderError &&
        e.code === 'commander.invalidArgument' &&
        /expected a port number 0\.\.65535, got 'abc'/.test(e.message),
    );
    assert.throws(() => parsed(['--store', 'postgres://x']), CommanderError);
    assert.throws(() => parsed(['--cors', 'https://x/path']), CommanderError);
    const config = resolve(['--models', 'a', '--models', 'b,c', '--json', '--demo', '--cors', '*']);
    assert.deepEqual(config.models, ['a', 'b', 'c']);
    assert.deepEqual([config.json, config.demo, config.cors], [true, true, ['*']]);
    // A list on the command line replaces the environment's, it does not add to it.
    assert.deepEqual(resolve(['--models', 'x'], { PETREL_MODELS: 'y,z' }).models, ['x']);
  });

  it('turns coaps on with --coaps-port / PETREL_COAPS_PORT / coapsPort, with an optional --psk-hint', () => {
    assert.deepEqual([resolve([]).coapsPort, resolve([]).pskHint], [undefined, undefined]);
    const flags = resolve(['--coaps-port', '5684', '--psk-hint', 'petrel']);
    assert.deepEqual([flags.coapsPort, flags.pskHint, flags.sources.coapsPort], [5684, 'petrel', 'cli']);
    const disk = { [DEFAULT_CONFIG_FILE]: '{"coapsPort": 15684, "pskHint": "from-file"}' };
    const file = resolve([], { PETREL_COAPS_PORT: '25684' }, disk);
    assert.deepEqual([file.coapsPort, file.pskHint], [25684, 'from-file']);
    assert.deepEqual([file.sources.coapsPort, file.sources.pskHint], ['env', 'file']);
    assert.throws(() => parsed(['--coaps-port', 'x']), CommanderError);
    assert.throws(() => parsed(['--psk-hint', '']), CommanderError);
  });

  it('runs the Bootstrap-Server with --bootstrap-port / PETREL_BOOTSTRAP_PORT / bootstrapPort (off by default)', () => {
    assert.equal(resolve([]).bootstrapPort, undefined);
    assert.equal(resolve([]).sources.bootstrapPort, 'default');
    const flags = resolve(['--bootstrap-port', '5783'], { PETREL_BOOTSTRAP_PORT: '1' });
    assert.deepEqual([flags.bootstrapPort, flags.sources.bootstrapPort], [5783, 'cli']);
    const disk = { [DEFAULT_CONFIG_FILE]: '{"bootstrapPort": 15783}' };
    assert.deepEqual(
      [resolve([], {}, disk).bootstrapPort, resolve([], {}, disk).sources.bootstrapPort],
      [15783, 'file'],
    );
    assert.equal(resolve([], { PETREL_BOOTSTRAP_PORT: '0' }, disk).bootstrapPort, 0);
    assert.equal(flagName('bootstrapPort'), '--bootstrap-port');
    assert.equal(envName('bootstrapPort'), 'PETREL_BOOTSTRAP_PORT');
    assert.equal(flagName('bootstrapCoapsPort'), '--bootstrap-coaps-port');
    assert.equal(envName('bootstrapCoapsPort'), 'PETREL_BOOTSTRAP_COAPS_PORT');
    assert.equal(resolve(['--bootstrap-coaps-port', '5784']).bootstrapCoapsPort, 5784);
    assert.equal(resolve([]).bootstrapCoapsPort, undefined);
    assert.throws(() => parsed(['--bootstrap-port', '70000']), CommanderError);
    configError(
      () => parseConfigFile('{"bootstrapPort": "x"}', 'petrel.config.json'),
      /^petrel\.config\.json: bootstrapPort: expected a port number 0\.\.65535/,
    );
  });

  it('declares a flag and a variable for every setting', () => {
    const cmd = addServerOptions(new Command('server'));
    const flags = cmd.options.map((o) => o.long);
    for (const name of SETTING_NAMES) {
      assert.ok(flags.includes(flagName(name)), flagName(name));
      const option = cmd.options.find((o) => o.long === flagName(name))!;
      assert.ok(option.description.includes(envName(name)), option.description);
      assert.equal(option.defaultValue, undefined, 'defaults come from resolveServerConfig');
    }
    assert.ok(flags.includes('--config'));
    assert.equal(envName('coapPort'), 'PETREL_COAP_PORT');
    assert.equal(envName('lifetimeGrace'), 'PETREL_LIFETIME_GRACE');
    assert.equal(envName('webRoot'), 'PETREL_WEB_ROOT');
    assert.equal(envName('coapsPort'), 'PETREL_COAPS_PORT');
    assert.equal(flagName('coapsPort'), '--coaps-port');
    assert.equal(flagName('pskHint'), '--psk-hint');
    assert.equal(flagName('httpAddress'), '--http-address');
  });

  it('warns about an open API without a token, short tokens, and tokens on the command line', () => {
    const [open] = serverConfigWarnings(resolve([]));
    assert.match(open!, /HTTP API and UI on 0\.0\.0\.0:8080 have no token/);
    assert.deepEqual(serverConfigWarnings(resolve(['--address', '127.0.0.1'])), []);
    assert.deepEqual(serverConfigWarnings(resolve([], { PETREL_HTTP_ADDRESS: '::1' })), []);
    assert.deepEqual(serverConfigWarnings(resolve([], { PETREL_TOKEN: 'a'.repeat(16) })), []);
    const short = serverConfigWarnings(resolve([], { PETREL_TOKEN: 'abc' }));
    assert.equal(short.length, 1);
    assert.match(short[0]!, /token is short \(3 characters\)/);
    const cli = serverConfigWarnings(resolve(['--token', 'b'.repeat(20)]));
    assert.equal(cli.length, 1);
    assert.match(cli[0]!, /--token on the command line is visible/);
  });

  it('knows loopback addresses', () => {
    for (const a of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1']) assert.ok(isLoopback(a), a);
    for (const a of ['0.0.0.0', '::', '10.0.0.1', '::ffff:10.0.0.1', '128.0.0.1'])
      assert.ok(!isLoopback(a), a);
  });
});
