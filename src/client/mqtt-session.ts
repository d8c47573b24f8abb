import type { MqttConnectionOptions, MqttTlsOptions } from '../binding/mqtt/mqtt-connection.js';
import type { LwM2mValue } from '../model/data-types.js';
import { LwM2mPath } from '../model/path.js';
import type { ObjectTree } from './object-tree.js';
import { type DtlsClientCredentials, SecurityConfigError } from './security-credentials.js';

type SessionOptions = Pick<
  MqttConnectionOptions,
  'clientId' | 'username' | 'password' | 'keepAlive' | 'cleanSession' | 'will'
>;

/**
 * The CONNECT settings of a /24 MQTT Server instance (Transport §MQTT): 6 Client Identifier
 * (absent: the endpoint name, the binding's default), 7 User Name, 8 Password, 5 Keep Alive,
 * 3 Clean Session, and the Will (1 topic, 2 message, 4 QoS, 0 retain; only with a topic).
 */
export function mqttSessionOptions(tree: ObjectTree, instanceId: number | undefined): SessionOptions {
  if (instanceId === undefined) return {};
  const read = tree.read(LwM2mPath.of(24, instanceId));
  if (!read.ok) return {};
  const values = new Map<number, LwM2mValue>();
  for (const r of read.value) {
    const rid = r.path.resourceId;
    if (rid !== undefined && r.value !== undefined && r.path.resourceInstanceId === undefined)
      values.set(rid, r.value);
  }
  const text = (rid: number): string | undefined => {
    const v = values.get(rid);
    return v?.type === 'string' && v.value !== '' ? v.value : undefined;
  };
  const num = (rid: number): number | undefined => {
    const v = values.get(rid);
    return v && (v.type === 'unsigned' || v.type === 'integer') ? Number(v.value) : undefined;
  };
  const bool = (rid: number): boolean | undefined => {
    const v = values.get(rid);
    return v?.type === 'boolean' ? v.value : undefined;
  };
  const password = values.get(8);
  const willTopic = text(1);
  const qos = num(4);
  const options: { -readonly [K in keyof SessionOptions]: SessionOptions[K] } = {
    clientId: text(6),
    username: text(7),
    password: password?.type === 'opaque' && password.value.length > 0 ? password.value : undefined,
    keepAlive: num(5),
    cleanSession: bool(3),
    will:
      willTopic === undefined
        ? undefined
        : {
            topic: willTopic,
            payload: text(2) ?? '',
            // /24/x/4 allows 0..3 (3 is reserved in MQTT): anything above 2 falls back to 0.
            ...(qos === 1 || qos === 2 ? { qos } : {}),
            retain: bool(0) ?? false,
          },
  };
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
}

/**
 * TLS to the broker (mqtts://) with /0 credentials: X.509 (mode 2: our certificate and key, /0/x/4
 * as the CA the broker's chain must end at). The MQTT client takes no PSK or raw public key
 * (SecurityConfigError 'tls-unsupported'); NoSec (mode 3) over mqtts:// verifies the broker against
 * the system's CAs, and the broker authenticates the client by /24 User Name and Password.
 */
export function mqttTlsOptions(credentials: DtlsClientCredentials): MqttTlsOptions {
  if (credentials.mode !== 'x509')
    throw new SecurityConfigError(
      'tls-unsupported',
      `mqtts:// takes a certificate (Security Mode 2) or NoSec (3) with a broker user name, not ${credentials.mode === 'psk' ? 'PSK' : 'a raw public key'}`,
    );
  const verification = credentials.verification;
  const chain = credentials.certificate?.certificateChain ?? [];
  const pem = (der: Uint8Array, label: string): string =>
    `-----BEGIN ${label}-----\n${Buffer.from(der)
      .toString('base64')
      .replace(/(.{64})/g, '$1\n')}\n-----END ${label}-----\n`;
  return {
    ...(verification?.kind === 'x509' ? { ca: pem(verification.trust, 'CERTIFICATE') } : {}),
    cert: chain.map((c) => pem(c, 'CERTIFICATE')).join(''),
    key: credentials.certificate!.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    ...(credentials.serverName === undefined ? {} : { servername: credentials.serverName }),
  };
}
