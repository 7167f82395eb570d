// "did you mean …" for a misspelt directive: the closest known name within a
// small edit distance.

/** Levenshtein distance, cut off above `max` (names are short; a long input costs one row per character, bounded by MAX_ARG_CHARS). */
function distance(a: string, b: string, max: number): number {
  if (Math.abs(a.length - b.length) > max) return max + 1;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row.push(Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)));
    prev = row;
  }
  return prev[b.length]!;
}

/** The known name closest to `name` if it is close (at most 2 edits, and fewer than a third of its length), else undefined. */
export function closest(name: string, known: readonly string[]): string | undefined {
  const max = Math.min(2, Math.floor(name.length / 3));
  let best: string | undefined;
  let bestD = max + 1;
  for (const k of known) {
    const d = distance(name.toLowerCase(), k, max);
    if (d < bestD) {
      best = k;
      bestD = d;
    }
  }
  return best;
}
