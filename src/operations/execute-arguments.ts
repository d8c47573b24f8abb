import type { ExecuteArgument } from './requests.js';
import { OperationError } from './result-code.js';

/*
 * Execute arguments (Core §5.4.5; LWM2M-1.2.md §1.3), text/plain:
 *   arglist = arg *("," arg)
 *   arg     = DIGIT / DIGIT "=" "'" *CHAR "'"
 *   CHAR    = "!" / %x23-26 / %x28-5B / %x5D-7E     (no space, '"', "'" or "\")
 * 1.2.1 adds that each digit appears at most once; Petrel enforces that for every version, since
 * an argument given twice has no defined meaning.
 */

const COMMA = 0x2c;
const EQUALS = 0x3d;
const QUOTE = 0x27;

/** True for a code unit of the CHAR rule. */
export function isExecuteArgumentChar(c: number): boolean {
  return c === 0x21 || (c >= 0x23 && c <= 0x26) || (c >= 0x28 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e);
}

const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;

function describe(c: number | undefined): string {
  if (c === undefined) return 'end of input';
  if (c >= 0x21 && c <= 0x7e) return `"${String.fromCharCode(c)}"`;
  return `0x${c.toString(16).padStart(2, '0')}`;
}

function fail(message: string): never {
  throw new OperationError('bad-arguments', '4.00', `Execute arguments: ${message}`);
}

/**
 * Parses an Execute payload (`5`, `2='10.3'`, `0,1,2`) into arguments in order; empty text means
 * no arguments. Bytes are read as they are: anything outside the grammar (non-ASCII included) is
 * refused. Throws OperationError('bad-arguments', 4.00) naming the offset and character.
 */
export function parseExecuteArguments(input: string | Uint8Array): ExecuteArgument[] {
  const n = input.length;
  const at: (i: number) => number | undefined =
    typeof input === 'string' ? (i) => (i < n ? input.charCodeAt(i) : undefined) : (i) => input[i];
  const out: ExecuteArgument[] = [];
  const seen = new Set<number>();
  let i = 0;
  while (i < n) {
    const c = at(i)!;
    if (!isDigit(c)) fail(`expected an argument digit at offset ${i}, found ${describe(c)}`);
    const digit = c - 0x30;
    if (seen.has(digit)) fail(`argument ${digit} given twice (offset ${i})`);
    seen.add(digit);
    i++;
    let value: string | undefined;
    if (at(i) === EQUALS) {
      i++;
      if (at(i) !== QUOTE) fail(`expected "'" after "${digit}=" at offset ${i}, found ${describe(at(i))}`);
      const start = ++i;
      let v = at(i);
      while (v !== undefined && isExecuteArgumentChar(v)) v = at(++i);
      if (v === undefined) fail(`unterminated value of argument ${digit} (opened at offset ${start - 1})`);
      if (v !== QUOTE) fail(`character ${describe(v)} at offset ${i} is not allowed in a value`);
      // Every code unit in between passed the CHAR rule, so it is ASCII in either form.
      value =
        typeof input === 'string'
          ? input.slice(start, i)
          : Buffer.from(input.buffer, input.byteOffset + start, i - start).toString('latin1');
      i++;
    }
    out.push(value === undefined ? { digit } : { digit, value });
    if (i === n) break;
    if (at(i) !== COMMA) fail(`expected "," at offset ${i}, found ${describe(at(i))}`);
    i++;
    if (i === n) fail(`expected an argument digit after "," at offset ${i}`);
  }
  return out;
}

function checkArgument(arg: ExecuteArgument, seen: Set<number>): void {
  const { digit, value } = arg;
  if (!Number.isInteger(digit) || digit < 0 || digit > 9)
    fail(`argument ${String(digit)} is not a digit 0-9`);
  if (seen.has(digit)) fail(`argument ${digit} given twice`);
  seen.add(digit);
  if (value === undefined) return;
  if (typeof value !== 'string') fail(`argument ${digit}: the value must be a string`);
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (!isExecuteArgumentChar(c))
      fail(`argument ${digit}: character ${describe(c)} at offset ${i} of the value is not allowed`);
  }
}

/** Formats arguments as the Execute payload text; the inverse of parseExecuteArguments. */
export function formatExecuteArguments(args: readonly ExecuteArgument[]): string {
  const seen = new Set<number>();
  const parts: string[] = [];
  for (const arg of args) {
    checkArgument(arg, seen);
    parts.push(arg.value === undefined ? String(arg.digit) : `${arg.digit}='${arg.value}'`);
  }
  return parts.join(',');
}

/**
 * Arguments given as Uri-Query items, the form the Transport TS shows for the Registration Update
 * Trigger (`POST /1/x/8?0=U`): each item is `d` or `d=value`; a value in single quotes (`0='U'`)
 * is accepted too. Values follow the CHAR rule. Throws OperationError('bad-arguments', 4.00).
 */
export function parseExecuteQuery(query: readonly string[]): ExecuteArgument[] {
  const seen = new Set<number>();
  const out: ExecuteArgument[] = [];
  for (const item of query) {
    const eq = item.indexOf('=');
    const name = eq < 0 ? item : item.slice(0, eq);
    if (name.length !== 1 || !isDigit(name.charCodeAt(0)))
      fail(`query item "${item.length > 16 ? `${item.slice(0, 16)}…` : item}" is not an argument digit`);
    let value = eq < 0 ? undefined : item.slice(eq + 1);
    if (value !== undefined && value.length >= 2 && value.startsWith("'") && value.endsWith("'"))
      value = value.slice(1, -1);
    const arg: ExecuteArgument =
      value === undefined ? { digit: Number(name) } : { digit: Number(name), value };
    checkArgument(arg, seen);
    out.push(arg);
  }
  return out;
}
