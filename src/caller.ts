/**
 * The caller's own address, for temporary SSH ingress: given (flag, variable,
 * config) or looked up, and always a single network, never the world.
 */
import { parseSshCidr } from './cidr.js';
import { ArgosError } from './errors.js';

/** Where the address lookup asks (AWS's own "what is my IP" service). */
export const CHECKIP_URL = 'https://checkip.amazonaws.com';

/** A fetch as this module needs it (injected in tests). */
export type Fetch = (url: string, init: { signal: AbortSignal }) => Promise<{ ok: boolean; status: number; text(): Promise<string> }>;

/**
 * Returns `given` when set (already validated at the boundary), otherwise the
 * caller's public address as a /32 from checkip.amazonaws.com (5 s timeout).
 * Fails with a message naming the ways to give it.
 */
export async function resolveSshCidr(given: string | undefined, options: { fetch?: Fetch; timeoutMs?: number; signal?: AbortSignal } = {}): Promise<string> {
  if (given !== undefined) return given;
  const fetchImpl = options.fetch ?? (fetch as unknown as Fetch);
  const timeout = AbortSignal.timeout(options.timeoutMs ?? 5_000);
  const signal = options.signal ? AbortSignal.any([timeout, options.signal]) : timeout;
  let reason: string;
  try {
    const response = await fetchImpl(CHECKIP_URL, { signal });
    if (response.ok) {
      const text = (await response.text()).trim();
      const parsed = parseSshCidr(text);
      if ('cidr' in parsed && parsed.cidr.endsWith('/32')) return parsed.cidr;
      reason = `unexpected answer '${text.slice(0, 40)}'`;
    } else {
      reason = `HTTP ${response.status}`;
    }
  } catch (error) {
    reason = timeout.aborted ? `no answer within ${(options.timeoutMs ?? 5_000) / 1000}s` : (error as Error).message;
  }
  throw new ArgosError(
    'FAILED',
    `could not find your public address for temporary SSH access (${CHECKIP_URL}: ${reason}): ` +
      'pass --ssh-cidr <your-ip>/32, set ARGOS_SSH_CIDR, or set ssh_cidr in the config',
  );
}
