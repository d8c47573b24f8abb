import { PetrelError } from '../../errors.js';

/*
 * Topics of the LwM2M MQTT binding (Transport TS §MQTT; LWM2M-1.2.md §3.9):
 *   topic = [PREFIX "/"] "lwm2m/" ("bs" / "rd") "/" ENDPOINT
 * `bs` carries the Bootstrap interface, `rd` every other one. Server and client publish and
 * subscribe on the same topic, so requests and responses share it.
 */

export type MqttInterface = 'rd' | 'bs';

export class MqttTopicError extends PetrelError {
  constructor(message: string) {
    super('PETREL_ERR_MQTT_TOPIC', message);
  }
}

const MAX_TOPIC_BYTES = 65535; // MQTT 3.1.1 §1.5.3: a UTF-8 string with a 16-bit length

// MQTT forbids U+0000 in topics (§4.7.3); wildcards and the level separator would change the
// topic's meaning.
// eslint-disable-next-line no-control-regex
const BAD_EP_RE = /[+#/\u0000]/;
// eslint-disable-next-line no-control-regex
const BAD_PREFIX_RE = /[+#\u0000]/;

/** Checks a deployment prefix: no wildcards, no empty levels, no leading or trailing "/". */
export function checkPrefix(prefix: string | undefined): string | undefined {
  if (prefix === undefined || prefix === '') return undefined;
  if (BAD_PREFIX_RE.test(prefix)) throw new MqttTopicError(`prefix "${prefix}" contains a wildcard or NUL`);
  if (prefix.split('/').some((level) => level === ''))
    throw new MqttTopicError(`prefix "${prefix}" has an empty level`);
  return prefix;
}

/** Checks the ENDPOINT level: non-empty, no "+", "#", "/" or NUL. */
export function checkTopicEndpoint(ep: string): string {
  if (ep === '' || BAD_EP_RE.test(ep))
    throw new MqttTopicError(`endpoint "${ep.slice(0, 40)}" cannot be a topic level (empty, "+", "#", "/")`);
  return ep;
}

function base(prefix: string | undefined, iface: MqttInterface): string {
  const p = checkPrefix(prefix);
  return p === undefined ? `lwm2m/${iface}` : `${p}/lwm2m/${iface}`;
}

/** `{prefix}/lwm2m/{iface}/{ep}`. */
export function topicFor(prefix: string | undefined, iface: MqttInterface, ep: string): string {
  const topic = `${base(prefix, iface)}/${checkTopicEndpoint(ep)}`;
  if (Buffer.byteLength(topic, 'utf8') > MAX_TOPIC_BYTES) throw new MqttTopicError('topic too long');
  return topic;
}

/** The filter a server subscribes: `{prefix}/lwm2m/{iface}/+` (one level: the endpoint). */
export function subscriptionFor(prefix: string | undefined, iface: MqttInterface): string {
  return `${base(prefix, iface)}/+`;
}

export interface ParsedTopic {
  readonly iface: MqttInterface;
  readonly ep: string;
}

/** Reads a topic under `prefix`; undefined when it is not an LwM2M topic of that prefix. */
export function parseTopic(prefix: string | undefined, topic: string): ParsedTopic | undefined {
  const p = checkPrefix(prefix);
  let rest = topic;
  if (p !== undefined) {
    if (!topic.startsWith(`${p}/`)) return undefined;
    rest = topic.slice(p.length + 1);
  }
  const m = /^lwm2m\/(rd|bs)\/([^/]+)$/.exec(rest);
  if (!m) return undefined;
  const ep = m[2]!;
  if (BAD_EP_RE.test(ep)) return undefined;
  return { iface: m[1] as MqttInterface, ep };
}
