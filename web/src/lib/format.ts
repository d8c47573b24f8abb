// Short human forms of times, durations and rates for the console.

/** `12 s ago`, `5 min ago`, `3 h ago`, `2 d ago`; `in 5 min` for the future. */
export function relativeTime(ms: number, now: number): string {
  const diff = Math.round((now - ms) / 1000);
  const a = Math.abs(diff);
  const text =
    a < 60
      ? `${a} s`
      : a < 3600
        ? `${Math.floor(a / 60)} min`
        : a < 86400
          ? `${Math.floor(a / 3600)} h`
          : `${Math.floor(a / 86400)} d`;
  if (a < 2) return 'just now';
  return diff >= 0 ? `${text} ago` : `in ${text}`;
}

export function formatLatency(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '';
  return ms < 10
    ? `${ms.toFixed(1)} ms`
    : ms < 10000
      ? `${Math.round(ms)} ms`
      : `${(ms / 1000).toFixed(1)} s`;
}

export function formatRate(perS: number | undefined): string {
  if (perS === undefined || !Number.isFinite(perS)) return '–';
  return perS >= 100 ? perS.toFixed(0) : perS >= 10 ? perS.toFixed(1) : perS.toFixed(2);
}

/** Seconds as `1 d 2 h`, `3 h 4 min`, `5 min 6 s`, `7 s`. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d} d ${h} h`;
  if (h > 0) return `${h} h ${m} min`;
  if (m > 0) return `${m} min ${s % 60} s`;
  return `${s} s`;
}

/** The time of day of a wall-clock ms, with milliseconds (trace rows). */
export function clockTime(ms: number): string {
  const d = new Date(ms);
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

/** Code classes: 2.xx success, 4.xx client error, 5.xx server error. */
export function codeClass(code: string | undefined): 'ok' | 'warn' | 'err' | 'none' {
  if (code === undefined) return 'none';
  if (code.startsWith('2.')) return 'ok';
  if (code.startsWith('4.')) return 'warn';
  return 'err';
}

/** Bytes as `512 B`, `1.5 KiB`, `12.0 MiB`, `1.02 GiB`. */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return '–';
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} ${units[i]}`;
}
