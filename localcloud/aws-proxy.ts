/**
 * The AWS endpoint of the local cloud: an HTTP server on 127.0.0.1 in front of a
 * moto server. Every request goes to moto unchanged, except where an
 * {@link Interceptor} is registered for its service and action: it may answer
 * instead of moto (`before`) or see and replace moto's answer (`after`). That is
 * how the harness gives moto's control plane a data plane (RebootInstances reboots
 * a machine, CreateImage records a filesystem, DescribeImages says `pending` until
 * it is recorded, DescribeInstanceHealth reports real health checks) while moto
 * stays the truth for everything else.
 *
 * EC2, Elastic Load Balancing, Auto Scaling and RDS all use the Query protocol:
 * form-encoded POST bodies with `Action=` (the SDK v3 clients never send a query
 * string for them, but one is read too).
 */
import { createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { LocalCloudError } from './proc.js';

/** One AWS request as the proxy understood it. */
export interface ProxiedRequest {
  /** From the SigV4 credential scope: `ec2`, `elasticloadbalancing`, `autoscaling`, `rds`, … (empty if unsigned). */
  readonly service: string;
  readonly action: string;
  readonly params: URLSearchParams;
}

/** An answer to the caller: moto's, or one an interceptor made. */
export interface ProxiedResponse {
  status: number;
  contentType: string;
  body: string;
}

/** What the harness hooks into one service's action. */
export interface Interceptor {
  /** Answer instead of moto (undefined: pass through). */
  before?(request: ProxiedRequest): Promise<ProxiedResponse | undefined>;
  /** See (and optionally replace) moto's answer. */
  after?(request: ProxiedRequest, response: ProxiedResponse): Promise<ProxiedResponse | undefined>;
}

/** A running proxy. */
export interface AwsProxy {
  /** `http://127.0.0.1:<port>`: the AWS endpoint for argos, the tests and the SDK. */
  readonly url: string;
  /** Registers an interceptor for `service`/`action` (several per action run in registration order). */
  intercept(service: string, action: string, interceptor: Interceptor): void;
  stop(): Promise<void>;
}

/** Options of {@link startAwsProxy}. */
export interface AwsProxyOptions {
  /** The moto server (loopback only). */
  readonly motoEndpoint: string;
  /** Called with an interceptor's failure; the caller still gets moto's answer (or a 500 from `before`). */
  readonly onError?: (error: unknown, request: ProxiedRequest) => void;
}

/** The service of a SigV4-signed request: `Credential=AKID/DATE/REGION/SERVICE/aws4_request`. */
export function serviceOf(headers: IncomingHttpHeaders): string {
  const auth = headers.authorization ?? '';
  return /Credential=[^/,\s]+\/\d{8}\/[^/]+\/([^/]+)\/aws4_request/.exec(auth)?.[1] ?? '';
}

function readBody(stream: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

function assertLoopbackUrl(url: string): URL {
  const parsed = new URL(url);
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(parsed.hostname)) {
    throw new LocalCloudError(`moto endpoint ${url} is not on this machine: the local cloud only talks to a moto on 127.0.0.1`);
  }
  return parsed;
}

/** Starts the proxy on an ephemeral port of 127.0.0.1. */
export async function startAwsProxy(options: AwsProxyOptions): Promise<AwsProxy> {
  const moto = assertLoopbackUrl(options.motoEndpoint);
  const interceptors = new Map<string, Interceptor[]>();
  const keyOf = (service: string, action: string): string => `${service}:${action}`;

  const forward = (method: string, path: string, headers: IncomingHttpHeaders, body: Buffer): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }> =>
    new Promise((resolve, reject) => {
      const out = httpRequest({
        host: moto.hostname, port: moto.port, method, path,
        headers: { ...headers, host: moto.host, 'content-length': String(body.length) },
      }, (res) => {
        readBody(res).then((b) => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: b }), reject);
      });
      out.on('error', reject);
      out.end(body);
    });

  const server: Server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      const url = new URL(req.url ?? '/', 'http://proxy');
      const params = new URLSearchParams(url.search);
      if ((req.headers['content-type'] ?? '').includes('application/x-www-form-urlencoded')) {
        for (const [k, v] of new URLSearchParams(body.toString('utf8'))) params.append(k, v);
      }
      const request: ProxiedRequest = { service: serviceOf(req.headers), action: params.get('Action') ?? '', params };
      const hooks = interceptors.get(keyOf(request.service, request.action)) ?? [];
      const send = (status: number, headers: Record<string, string | string[] | undefined>, payload: Buffer): void => {
        res.writeHead(status, { ...headers, 'content-length': String(payload.length) });
        res.end(payload);
      };
      for (const hook of hooks) {
        if (!hook.before) continue;
        let answer: ProxiedResponse | undefined;
        try {
          answer = await hook.before(request);
        } catch (error) {
          options.onError?.(error, request);
          answer = { status: 500, contentType: 'text/xml', body: errorXml('InternalFailure', String(error)) };
        }
        if (answer) { send(answer.status, { 'content-type': answer.contentType }, Buffer.from(answer.body)); return; }
      }
      const upstream = await forward(req.method ?? 'POST', req.url ?? '/', req.headers, body);
      const afters = hooks.filter((h) => h.after);
      if (afters.length === 0) {
        const { 'content-length': _length, 'transfer-encoding': _te, connection: _c, ...rest } = upstream.headers;
        send(upstream.status, rest, upstream.body);
        return;
      }
      let response: ProxiedResponse = {
        status: upstream.status, contentType: String(upstream.headers['content-type'] ?? 'text/xml'), body: upstream.body.toString('utf8'),
      };
      for (const hook of afters) {
        try {
          response = (await hook.after?.(request, response)) ?? response;
        } catch (error) {
          options.onError?.(error, request);
        }
      }
      send(response.status, { 'content-type': response.contentType }, Buffer.from(response.body));
    })().catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`local cloud proxy: ${String(error)}`);
    });
  });
  // The SDK keeps connections alive without an idle timeout of its own (Node's agent ignores
  // the server's Keep-Alive hint when it has none), so it only learns that the server closed
  // an idle connection from the FIN. Node's server closes one after keepAliveTimeout (5 s,
  // plus a 1 s grace in Node 20): a request written on it at that moment is reset
  // (ECONNRESET, "socket hang up"). Connections that went idle together (10 parallel polls)
  // make that likely; the harness test lost two requests to it in one CI run. Idle
  // connections stay open until the client closes them or stop() closes them all.
  server.keepAliveTimeout = 0;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${String(port)}`,
    intercept(service, action, interceptor) {
      const key = keyOf(service, action);
      interceptors.set(key, [...(interceptors.get(key) ?? []), interceptor]);
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** An EC2-style error body (what the SDK parses for the Query protocol). */
export function errorXml(code: string, message: string): string {
  const escaped = message.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${code}</Code><Message>${escaped}</Message></Error></Errors><RequestID>localcloud</RequestID></Response>`;
}

/** The text of the first `<tag>…</tag>` in an XML answer (moto's answers are small and regular). */
export function xmlValue(xml: string, tag: string): string | undefined {
  return new RegExp(`<${tag}>([^<]*)</${tag}>`).exec(xml)?.[1];
}

/**
 * Rewrites the first `<field>` after the element `<idTag>id</idTag>` (the field of
 * the same item in moto's answers, where the id comes first), e.g. an image's
 * `imageState` or a DB instance's `DBInstanceStatus`.
 */
export function rewriteFieldAfter(xml: string, idTag: string, id: string, field: string, value: string): string {
  const at = xml.indexOf(`<${idTag}>${id}</${idTag}>`);
  if (at < 0) return xml;
  const open = `<${field}>`;
  const start = xml.indexOf(open, at);
  const end = start < 0 ? -1 : xml.indexOf(`</${field}>`, start);
  if (end < 0) return xml;
  return xml.slice(0, start + open.length) + value + xml.slice(end);
}

/** Values of a Query-protocol list parameter (`InstanceId.1`, `InstanceId.2`, …). */
export function listParam(params: URLSearchParams, prefix: string): string[] {
  const out: string[] = [];
  for (let i = 1; params.has(`${prefix}.${String(i)}`); i++) out.push(params.get(`${prefix}.${String(i)}`) as string);
  return out;
}
