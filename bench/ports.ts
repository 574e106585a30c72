/**
 * Free loopback ports for the services the benchmarks start. Other test runs
 * share this machine (and the local targets share its network), so nothing
 * here uses a fixed port: service ports are picked at random in the 3xxxx
 * range, as the role tests' overrides do, and checked free before use.
 */
import { createServer } from 'node:net';

/** Whether 127.0.0.1:`port` can be bound right now. */
function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** Ports handed out by this process, never handed out twice. */
const handedOut = new Set<number>();

/** A free loopback port in [30000, 39999] that this process has not handed out before. */
export async function freeServicePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt += 1) {
    const port = 30_000 + Math.floor(Math.random() * 10_000);
    if (handedOut.has(port) || !(await isFree(port))) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error('no free loopback port in 30000–39999');
}
