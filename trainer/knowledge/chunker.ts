/**
 * Splits one knowledge text into K chunks: by factor headings ("Genre: ...", "1. **Mood**: ...") when the text has
 * them, else by contiguous groups of sentences. Fewer than K pieces leave masked (empty) slots; more than K fold the
 * tail into the last slot so nothing the LLM said is dropped.
 */

export interface ChunkedText {
  /** Exactly K entries; "" where masked. */
  chunks: string[];
  /** Exactly K entries; 1 = chunk present. */
  mask: Float32Array;
  /** The factor heading of each chunk, when it had one. */
  factors: (string | undefined)[];
}

const HEADING =
  /^\s*(?:[-*•]\s*|\d+[.)]\s*|#{1,6}\s*)?(?:\*\*|__)?\s*([A-Za-z][A-Za-z0-9 '&/-]{0,40}?)\s*(?:\*\*|__)?\s*:(?:\*\*|__)?\s*(.*)$/;
const GENERIC_MAX_WORDS = 4;

function normaliseFactor(name: string): string {
  return name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, " ")
    .trim()
    .replace(/s\b/g, "");
}

interface Segment {
  factor?: string;
  lines: string[];
}

function segmentByHeadings(lines: string[], factors: string[]): Segment[] | undefined {
  const known = new Set(factors.map(normaliseFactor));
  const headingOf = (line: string, generic: boolean): string | undefined => {
    const m = HEADING.exec(line);
    if (!m) return undefined;
    const label = m[1].trim();
    if (known.has(normaliseFactor(label))) return label;
    if (generic && label.split(/\s+/).length <= GENERIC_MAX_WORDS && /^[A-Z]/.test(label)) return label;
    return undefined;
  };
  // Known factor names win; short capitalised labels are accepted only when no known factor heads any line.
  const anyKnown = lines.some((line) => headingOf(line, false) !== undefined);
  const segments: Segment[] = [];
  let current: Segment = { lines: [] };
  let headed = 0;
  for (const line of lines) {
    const factor = headingOf(line, !anyKnown);
    if (factor !== undefined) {
      if (current.lines.length > 0) segments.push(current);
      current = { factor, lines: [line.trim()] };
      headed++;
    } else {
      current.lines.push(line.trim());
    }
  }
  if (current.lines.length > 0) segments.push(current);
  return headed >= 2 ? segments : undefined;
}

/** Sentences of a text: split at line breaks and at . ! ? followed by a capital, digit or quote. */
export function splitSentences(text: string): string[] {
  return text
    .replace(/\r\n?/g, "\n")
    .split(/\n+/)
    .flatMap((para) => para.split(/(?<=[.!?])\s+(?=["'([]?[A-Z0-9])/))
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/** Splits `text` into k chunks (see the module comment). */
export function chunkText(text: string, k: number, factors: string[] = []): ChunkedText {
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`chunk count must be a positive integer, got ${k}`);
  const lines = text
    .replace(/\r\n?/g, "\n")
    .split("\n")
    .filter((line) => line.trim().length > 0);
  let pieces: { text: string; factor?: string }[];
  const segments = lines.length > 1 ? segmentByHeadings(lines, factors) : undefined;
  if (segments) {
    pieces = segments.map((s) => ({ text: s.lines.join(" "), factor: s.factor }));
  } else {
    const sentences = splitSentences(text);
    const groups = Math.min(k, sentences.length);
    pieces = [];
    for (let g = 0; g < groups; g++) {
      const from = Math.floor((g * sentences.length) / groups);
      const to = Math.floor(((g + 1) * sentences.length) / groups);
      pieces.push({ text: sentences.slice(from, to).join(" ") });
    }
  }
  if (pieces.length > k) {
    const tail = pieces.slice(k - 1);
    pieces = [...pieces.slice(0, k - 1), { text: tail.map((p) => p.text).join(" "), factor: tail[0].factor }];
  }
  const chunks = new Array<string>(k).fill("");
  const chunkFactors = new Array<string | undefined>(k).fill(undefined);
  const mask = new Float32Array(k);
  pieces.forEach((piece, i) => {
    chunks[i] = piece.text;
    chunkFactors[i] = piece.factor;
    mask[i] = 1;
  });
  return { chunks, mask, factors: chunkFactors };
}
