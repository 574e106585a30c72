/**
 * Builds every AWS SDK client once, from one shared configuration. Resource
 * modules receive the client they need; nothing else constructs clients.
 * The SDK itself honours AWS_ENDPOINT_URL, which is how tests reach moto.
 */
import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { EC2Client } from '@aws-sdk/client-ec2';
import { ElasticLoadBalancingClient } from '@aws-sdk/client-elastic-load-balancing';
import { RDSClient } from '@aws-sdk/client-rds';
import type { ACMClient } from '@aws-sdk/client-acm';
import type { AwsCredentialIdentityProvider } from '@aws-sdk/types';

/** What every client shares. */
export interface AwsSettings {
  region: string;
  credentials: AwsCredentialIdentityProvider;
  /** Attempts per call, with the SDK's `standard` retry mode (backoff and jitter on throttling). */
  maxAttempts?: number;
  /**
   * Bound of one attempt, in ms (connection and answer): an endpoint that takes
   * the connection and never answers must not hang a run. Default {@link DEFAULT_REQUEST_TIMEOUT_MS}.
   */
  requestTimeoutMs?: number;
}

/** An AWS API call answers in well under a second; 30 s means the endpoint is not answering. */
const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
/** Opening the connection: seconds at most anywhere, unless nothing is listening or packets are dropped. */
const CONNECTION_TIMEOUT_MS = 10_000;

/** The clients of one run, each built on first use. */
export interface AwsClients {
  readonly ec2: EC2Client;
  readonly rds: RDSClient;
  readonly autoScaling: AutoScalingClient;
  readonly elb: ElasticLoadBalancingClient;
  /** ACM, whose module is loaded on first use: only the HTTPS preflight needs it. */
  acm(): Promise<ACMClient>;
  /** Closes the clients' sockets so the process can exit promptly. */
  destroy(): void;
}

/**
 * Six attempts of the standard retry mode: enough to ride out throttling on a
 * busy account (AWS's own default of three gives up quickly under `RequestLimitExceeded`).
 */
export const DEFAULT_MAX_ATTEMPTS = 6;

/** Creates the lazy client set for `settings`. */
export function createClients(settings: AwsSettings): AwsClients {
  const shared = {
    region: settings.region,
    credentials: settings.credentials,
    retryMode: 'standard',
    maxAttempts: settings.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
    requestHandler: {
      requestTimeout: settings.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
      // Without it the SDK only warns when the bound passes, and the call waits on.
      throwOnRequestTimeout: true,
      connectionTimeout: Math.min(CONNECTION_TIMEOUT_MS, settings.requestTimeoutMs ?? CONNECTION_TIMEOUT_MS),
    },
  };
  const built: { destroy(): void }[] = [];
  const lazy = <T extends { destroy(): void }>(make: () => T): (() => T) => {
    let client: T | undefined;
    return () => {
      if (!client) {
        client = make();
        built.push(client);
      }
      return client;
    };
  };
  const ec2 = lazy(() => new EC2Client(shared));
  const rds = lazy(() => new RDSClient(shared));
  const autoScaling = lazy(() => new AutoScalingClient(shared));
  const elb = lazy(() => new ElasticLoadBalancingClient(shared));
  let acm: Promise<ACMClient> | undefined;
  return {
    get ec2() {
      return ec2();
    },
    get rds() {
      return rds();
    },
    get autoScaling() {
      return autoScaling();
    },
    get elb() {
      return elb();
    },
    acm() {
      acm ??= import('@aws-sdk/client-acm').then(({ ACMClient: Client }) => {
        const client = new Client(shared);
        built.push(client);
        return client;
      });
      return acm;
    },
    destroy() {
      for (const client of built) client.destroy();
    },
  };
}
