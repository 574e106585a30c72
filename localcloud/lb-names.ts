/**
 * The load balancers' DNS names, resolvable from the host without touching its
 * resolver: an HTTP proxy on 127.0.0.1 that serves a request for
 * `http://<load balancer DNS name>[:port]/…` from that load balancer's local
 * listener. `curl --proxy http://127.0.0.1:<port> http://<DNS name>/` (or any
 * client told to use the proxy) then reaches the URL `status` prints, as a
 * person would on AWS (issue 14, point 5).
 *
 * It only ever dials 127.0.0.1 (the load balancers' local listeners): a name it
 * does not know is answered 502 there and then, never looked up or forwarded.
 */
import { request as httpRequest, createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Maps a DNS name and load balancer port to the local listener's port, or undefined. */
export type ResolveLoadBalancer = (dnsName: string, port: number) => number | undefined;

/** A running name proxy. */
export interface NameProxy {
  /** `http://127.0.0.1:<port>`: the value for curl's `--proxy` or `http_proxy`. */
  readonly url: string;
  stop(): Promise<void>;
}

/** The host and port a proxied request names: the absolute URL of a proxy request, else the Host header. */
function targetOf(request: IncomingMessage): { host: string; port: number; path: string } | undefined {
  try {
    const url = new URL(request.url?.startsWith('/') ? `http://${request.headers.host ?? ''}${request.url}` : (request.url ?? ''));
    if (url.protocol !== 'http:') return undefined;
    return { host: url.hostname.toLowerCase(), port: url.port === '' ? 80 : Number(url.port), path: `${url.pathname}${url.search}` };
  } catch {
    return undefined;
  }
}

function refuse(response: ServerResponse, status: number, message: string): void {
  response.writeHead(status, { 'content-type': 'text/plain', connection: 'close' });
  response.end(`${message}\n`);
}

/** Starts the name proxy on a free loopback port. */
export async function startNameProxy(resolve: ResolveLoadBalancer): Promise<NameProxy> {
  const server = createServer((request, response) => {
    const target = targetOf(request);
    const local = target ? resolve(target.host, target.port) : undefined;
    if (!target || local === undefined) {
      refuse(response, 502, `the local cloud has no load balancer listening at ${target ? `${target.host}:${String(target.port)}` : (request.url ?? '?')} (this proxy serves only its load balancers' DNS names, over HTTP)`);
      return;
    }
    const upstream = httpRequest(
      { host: '127.0.0.1', port: local, method: request.method, path: target.path, headers: { ...request.headers, host: target.host } },
      (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
      },
    );
    upstream.on('error', (error) => {
      if (!response.headersSent) refuse(response, 502, `load balancer ${target.host}: ${error.message}`);
      else response.destroy(error);
    });
    request.pipe(upstream);
  });
  // HTTPS through a proxy is a CONNECT: the local listeners are plain HTTP, so say so rather than hang.
  server.on('connect', (_request, socket) => {
    socket.end('HTTP/1.1 501 Not Implemented\r\ncontent-type: text/plain\r\n\r\nthe local cloud\'s name proxy serves HTTP only\n');
  });
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolveListen());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${String(port)}`,
    stop: () =>
      new Promise<void>((resolveClose) => {
        server.closeAllConnections();
        server.close(() => resolveClose());
      }),
  };
}
