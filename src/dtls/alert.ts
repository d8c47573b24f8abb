import { DtlsError } from './dtls-errors.js';

/** Alert levels (RFC 5246 §7.2). */
export const AlertLevel = { warning: 1, fatal: 2 } as const;
export type AlertLevel = (typeof AlertLevel)[keyof typeof AlertLevel];

/** Alert descriptions of TLS 1.2 (RFC 5246 §7.2) plus those DTLS and its extensions use. */
export const AlertDescription = {
  close_notify: 0,
  unexpected_message: 10,
  bad_record_mac: 20,
  record_overflow: 22,
  decompression_failure: 30,
  handshake_failure: 40,
  bad_certificate: 42,
  unsupported_certificate: 43,
  certificate_revoked: 44,
  certificate_expired: 45,
  certificate_unknown: 46,
  illegal_parameter: 47,
  unknown_ca: 48,
  access_denied: 49,
  decode_error: 50,
  decrypt_error: 51,
  protocol_version: 70,
  insufficient_security: 71,
  internal_error: 80,
  user_canceled: 90,
  no_renegotiation: 100,
  unsupported_extension: 110,
  unknown_psk_identity: 115, // RFC 4279 §2
} as const;
export type AlertDescription = (typeof AlertDescription)[keyof typeof AlertDescription];

/** An Alert message (RFC 5246 §7.2). Descriptions outside the table are kept as numbers. */
export interface Alert {
  level: number;
  description: number;
}

export function encodeAlert(alert: Alert): Uint8Array {
  return Uint8Array.of(alert.level, alert.description);
}

export function decodeAlert(fragment: Uint8Array): Alert {
  if (fragment.length !== 2)
    throw new DtlsError('malformed', `an Alert is 2 bytes, got ${fragment.length}`, {
      alert: AlertDescription.decode_error,
    });
  return { level: fragment[0]!, description: fragment[1]! };
}

/** The name of an alert description, or `alert_<n>` for one outside the table. */
export function alertName(description: number): string {
  for (const [name, value] of Object.entries(AlertDescription)) if (value === description) return name;
  return `alert_${description}`;
}
