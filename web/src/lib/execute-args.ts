// Execute arguments (Core §5.4.5): arglist = arg *("," arg); arg = DIGIT ["=" "'" *CHAR "'"],
// CHAR = "!" / %x23-26 / %x28-5B / %x5D-7E (no space, '"', "'" or "\"); each digit once (1.2.1).

const isChar = (c: number): boolean =>
  c === 0x21 || (c >= 0x23 && c <= 0x26) || (c >= 0x28 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e);

/** Undefined when `text` is a valid argument list (empty = none), else what is wrong. */
export function checkExecuteArguments(text: string): string | undefined {
  const seen = new Set<string>();
  let i = 0;
  const n = text.length;
  while (i < n) {
    const d = text[i]!;
    if (!/[0-9]/.test(d)) return `expected an argument digit at position ${i + 1}`;
    if (seen.has(d)) return `argument ${d} is given twice`;
    seen.add(d);
    i++;
    if (text[i] === '=') {
      i++;
      if (text[i] !== "'") return `expected ' after ${d}=`;
      i++;
      while (i < n && isChar(text.charCodeAt(i))) i++;
      if (i >= n) return `the value of argument ${d} is not closed with '`;
      if (text[i] !== "'") return `character "${text[i]}" is not allowed in a value`;
      i++;
    }
    if (i === n) break;
    if (text[i] !== ',') return `expected "," at position ${i + 1}`;
    i++;
    if (i === n) return 'expected an argument after ","';
  }
  return undefined;
}
