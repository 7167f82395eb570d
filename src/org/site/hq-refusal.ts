// How a failed request to HQ reaches a user: HQ's refusals keep their code
// and reason; HQ unreachable says so, naming HQ (the link's message).
/** The status, code and reason a site gateway answers with when HQ said no or could not be asked. */
export function hqRefusal(err: unknown): { status: number; code: string; reason: string } {
  const code = typeof (err as { code?: unknown })?.code === 'string' ? (err as { code: string }).code : 'INSEL_HQ_UNAVAILABLE';
  const message = err instanceof Error ? err.message : String(err);
  if (code === 'INSEL_HQ_UNAVAILABLE') return { status: 503, code, reason: message };
  if (code === 'INSEL_ORG_UNKNOWN_SERVICE') return { status: 404, code, reason: message };
  if (code === 'INSEL_ORG_SITE_DOWN') return { status: 502, code, reason: message };
  if (code === 'INSEL_PKI_BAD_CSR') return { status: 400, code, reason: message };
  if (code.startsWith('INSEL_ORG_')) return { status: 403, code, reason: message };
  return { status: 502, code: 'INSEL_HQ_UNAVAILABLE', reason: `HQ could not answer: ${message}` };
}
