/**
 * What each transport binding can carry, for the one operation suite that runs over all of them
 * (test/bindings/binding-matrix.test.ts). A case is either `true` (it runs, and must pass) or
 * `{ notApplicable }` with the spec reason, which the suite reports through `t.skip()`: a case a
 * binding cannot carry is never silently passed.
 */

/** The bindings the suite runs over, by the `Registration.transport` name each one gets. */
export const BINDINGS = ['udp', 'dtls', 'tcp', 'tls', 'mqtt'] as const;
export type BindingName = (typeof BINDINGS)[number];

/** The cases of the suite, in the order it runs them (De-register ends the shared rig). */
export const CASES = [
  'register',
  'register-profile-id',
  'read',
  'write',
  'execute',
  'create-delete',
  'discover',
  'write-attributes',
  'write-attributes-gt',
  'write-attributes-lt',
  'write-attributes-con',
  'observe',
  'confirmable-notification',
  'observe-composite',
  'read-composite',
  'write-composite',
  'send',
  'large-value',
  'large-observe',
  'large-notification',
  'update',
  'queue-mode',
  'bootstrap',
  'deregister',
] as const;
export type CaseName = (typeof CASES)[number];

export type Capability = true | { readonly notApplicable: string };

/** The binding letter a registration over the binding announces (`b=`; Core §6.2.1, Transport TS). */
export const BINDING_LETTER: Readonly<Record<BindingName, 'U' | 'T' | 'M'>> = {
  udp: 'U',
  dtls: 'U',
  tcp: 'T',
  tls: 'T',
  mqtt: 'M',
};

/** How a value larger than one message travels (the large-value case runs everywhere). */
export const LARGE_PAYLOAD_MECHANISM: Readonly<Record<BindingName, string>> = {
  udp: 'block-wise, Block1/Block2 (RFC 7959)',
  dtls: 'block-wise, Block1/Block2 (RFC 7959)',
  tcp: 'BERT (RFC 8323 §6)',
  tls: 'BERT (RFC 8323 §6)',
  mqtt: 'whole, in one PUBLISH (no block-wise in the MQTT binding)',
};

const ALL: Readonly<Record<CaseName, Capability>> = Object.fromEntries(
  CASES.map((c) => [c, true] as const),
) as Record<CaseName, Capability>;

/** CON/NON is a CoAP-over-UDP message type (RFC 7252 §4); RFC 8323 §2.2 removed it for TCP/TLS. */
const NO_CON_NON_STREAM = {
  notApplicable:
    'CoAP over TCP/TLS has no message types (RFC 8323 §2.2): reliability comes from the connection, so there is no confirmable notification',
};

export const CAPABILITIES: Readonly<Record<BindingName, Readonly<Record<CaseName, Capability>>>> = {
  udp: ALL,
  dtls: ALL,
  tcp: { ...ALL, 'confirmable-notification': NO_CON_NON_STREAM },
  tls: { ...ALL, 'confirmable-notification': NO_CON_NON_STREAM },
  mqtt: {
    ...ALL,
    'register-profile-id': {
      notApplicable: 'the MQTT message map (Transport TS §MQTT, 1.2.2 keys) has no key for pid (Profile IDs)',
    },
    'write-attributes-lt': {
      notApplicable: 'the MQTT message map (Transport TS §MQTT, 1.2.2 keys 12-17, 20, 21) has no key for lt',
    },
    'write-attributes-con': {
      notApplicable: 'the MQTT message map (Transport TS §MQTT, 1.2.2 keys 12-17, 20, 21) has no key for con',
    },
    'confirmable-notification': {
      notApplicable: 'MQTT has no CON/NON message types: delivery is the QoS of the PUBLISH',
    },
    'queue-mode': { notApplicable: 'the MQTT binding defines no queue mode' },
  },
};

/** The spec reason a case does not apply over a binding, or undefined when it runs. */
export function notApplicable(binding: BindingName, name: CaseName): string | undefined {
  const capability = CAPABILITIES[binding][name];
  return capability === true ? undefined : capability.notApplicable;
}
