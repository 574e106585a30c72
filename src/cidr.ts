/**
 * The address temporary SSH ingress is opened from. Only ever one caller's
 * network: a bare address becomes a /32, and ranges wider than a /8 (above all
 * 0.0.0.0/0) are refused, so argos never opens port 22 to the world.
 */

/** The widest prefix argos accepts for SSH ingress. */
export const WIDEST_SSH_PREFIX = 8;

/**
 * Parses an IPv4 address or CIDR into canonical `a.b.c.d/n` form.
 * Returns an error message (what is wrong, what to type) instead of throwing,
 * so each caller can name where the value came from.
 */
export function parseSshCidr(value: string): { cidr: string } | { error: string } {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:\/(\d{1,2}))?$/.exec(value.trim());
  if (!match) return { error: `'${value}' is not an IPv4 address or CIDR such as 203.0.113.7 or 203.0.113.0/24` };
  const octets = match.slice(1, 5).map(Number);
  const prefix = match[5] === undefined ? 32 : Number(match[5]);
  if (octets.some((octet) => octet > 255) || prefix > 32) {
    return { error: `'${value}' is not a valid IPv4 address or CIDR` };
  }
  if (prefix < WIDEST_SSH_PREFIX) {
    return { error: `'${value}' is too wide for SSH ingress: give your own address (a /32) or a range of at most /${WIDEST_SSH_PREFIX}` };
  }
  // Zero the host bits, as EC2 does, so comparisons with existing rules match.
  const address = octets.reduce((sum, octet) => sum * 256 + octet, 0);
  const mask = prefix === 0 ? 0 : 2 ** 32 - 2 ** (32 - prefix);
  const network = Number((BigInt(address) & BigInt(mask)));
  const parts = [24, 16, 8, 0].map((shift) => Math.floor(network / 2 ** shift) % 256);
  return { cidr: `${parts.join('.')}/${prefix}` };
}
