import { appendFileSync } from 'node:fs';

/** Records each resolved URL, then resolves as usual. */
export async function resolve(specifier, context, nextResolve) {
  const result = await nextResolve(specifier, context);
  appendFileSync(process.env.ARGOS_TRACE_FILE, `${result.url}\n`);
  return result;
}
