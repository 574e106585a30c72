/**
 * The gate an ansible-playbook run waits at (playbooks/gate.yml) while argos
 * still logs in to the hosts. Ansible's start-up (reading the playbooks, the
 * inventory and the variables) takes 0.35 s here before the gate play, and
 * argos's SSH wait a handshake per host, 0.3 s here and 0.6 s at a 50 ms
 * round trip; started together, a deploy pays the longer of the two (plus the
 * gate play's 0.1 s) instead of their sum.
 *
 * The gate is an HTTP server on 127.0.0.1 (an ephemeral port, never another
 * address): the gate play's lookup asks it, and the answer, `go`, is held
 * back until `opened` resolves. When `opened` rejects (the SSH wait failed),
 * the gate drops its connections, which fails the lookup and so ends the run
 * before any host, and `stopped` aborts: the caller stops ansible-playbook too.
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What runs the gate's listening side. */
export interface PlaybookGate {
  /** The local port the gate play asks. */
  port: number;
  /** Aborted, with the reason `opened` rejected with, when the run must not go on. */
  stopped: AbortSignal;
  /** Stops listening and drops the gate play's connections. */
  close(): Promise<void>;
}

/** Listens for the gate play on 127.0.0.1 and answers it `go` once `opened` resolves. */
export async function listenForGate(opened: Promise<void>): Promise<PlaybookGate> {
  const waiting = new Set<ServerResponse>();
  let isOpen = false;
  const stop = new AbortController();
  const answer = (response: ServerResponse) => response.writeHead(200, { 'content-type': 'text/plain', connection: 'close' }).end('go');
  const server = createServer((_request, response) => {
    if (isOpen) return answer(response);
    waiting.add(response);
    response.on('close', () => waiting.delete(response));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  opened.then(
    () => {
      isOpen = true;
      for (const response of waiting) answer(response);
    },
    (reason: unknown) => {
      stop.abort(reason);
      // A dropped connection fails the gate play's lookup: the run stops there even if
      // ansible-playbook's workers outlive the signal that stops it.
      server.closeAllConnections();
      server.close();
    },
  );
  return {
    port: (server.address() as AddressInfo).port,
    stopped: stop.signal,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        if (!server.listening) resolve();
        else server.close(() => resolve());
      }),
  };
}
