// Durations as config files and flags spell them: "500ms", "30s", "5m", "1h".
import { z } from 'zod';
import { configError } from './errors.js';
import { quote } from '../errors.js';

/** Longest duration accepted: far below setTimeout's 24.8-day limit, far above any sane timeout. */
const DURATION_MAX_MS = 7 * 24 * 3600_000;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3600_000 } as const;
const DURATION_FORM = 'use a number and a unit, e.g. "500ms", "30s", "5m", "1h"';

/** Milliseconds, or the problem with `text`. */
export function durationMs(text: unknown): number | string {
  if (typeof text !== 'string') return `must be a string: ${DURATION_FORM}`;
  const m = /^([0-9]{1,12}(?:\.[0-9]{1,6})?)(ms|s|m|h)$/.exec(text);
  if (!m) return `${quote(text)} is not a duration: ${DURATION_FORM}`;
  const ms = Math.round(Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS]);
  if (ms < 1) return `${quote(text)} must be at least 1ms`;
  if (ms > DURATION_MAX_MS) return `${quote(text)} is too long: at most 7 days ("168h")`;
  return ms;
}

/** The schema of a duration key; `example` is shown when it is not a string. */
export const durationString = (example: string) => z.string({ error: `must be a string, e.g. "${example}"` });

/** A duration key in milliseconds ("500ms", "30s", "5m", "1h"; fractions allowed: "1.5s"), `dflt` when absent; ConfigError naming file and key otherwise. */
export function durationField(file: string, field: string, value: string | undefined, dflt: number): number {
  if (value === undefined) return dflt;
  const ms = durationMs(value);
  if (typeof ms === 'string') throw configError(file, field, ms);
  return ms;
}
