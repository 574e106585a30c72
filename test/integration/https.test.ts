/**
 * HTTPS on the load balancer against moto: the certificate preflight (ACM),
 * the HTTPS:443 listener created, its certificate swapped in place, removed
 * with `certificate_arn`, and the load balancer's group admitting 443 only
 * while there is one.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImportCertificateCommand, RequestCertificateCommand } from '@aws-sdk/client-acm';
import { DescribeSecurityGroupsCommand } from '@aws-sdk/client-ec2';
import { DescribeLoadBalancersCommand } from '@aws-sdk/client-elastic-load-balancing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureLoadBalancer, planLoadBalancer, type LoadBalancerSpec } from '../../src/autoscaling.js';
import { checkCertificate } from '../../src/aws/certificates.js';
import { createClients, type AwsClients } from '../../src/aws/clients.js';
import { createCredentialProvider } from '../../src/aws/credentials.js';
import { findDefaultVpc, type DefaultVpc } from '../../src/aws/vpc.js';
import { makeNames } from '../../src/names.js';
import { ensureSecurityGroups } from '../../src/security.js';

let clients: AwsClients;
let vpc: DefaultVpc;
let work: string;

/** A self-signed certificate of `key` (openssl `-newkey` argument), imported into moto's ACM. */
async function importCertificate(key: string, domain: string): Promise<string> {
  execFileSync('openssl', ['req', '-x509', '-newkey', key, '-nodes', '-days', '30', '-subj', `/CN=${domain}`, '-keyout', join(work, `${domain}.key`), '-out', join(work, `${domain}.crt`)], { stdio: 'ignore' });
  const response = await (await clients.acm()).send(
    new ImportCertificateCommand({ Certificate: readFileSync(join(work, `${domain}.crt`)), PrivateKey: readFileSync(join(work, `${domain}.key`)) }),
  );
  return response.CertificateArn ?? '';
}

async function listenersOf(name: string): Promise<string[]> {
  const response = await clients.elb.send(new DescribeLoadBalancersCommand({ LoadBalancerNames: [name] }));
  return (response.LoadBalancerDescriptions?.[0]?.ListenerDescriptions ?? [])
    .map(({ Listener: l }) => `${l?.Protocol}:${l?.LoadBalancerPort}->${l?.InstancePort}${l?.SSLCertificateId ? ` ${l.SSLCertificateId}` : ''}`)
    .sort();
}

beforeAll(async () => {
  clients = createClients({ region: 'us-east-1', credentials: createCredentialProvider(undefined) });
  vpc = await findDefaultVpc(clients.ec2, 'us-east-1');
  work = mkdtempSync(join(tmpdir(), 'argos-https-'));
});
afterAll(() => {
  clients.destroy();
  rmSync(work, { recursive: true, force: true });
});

describe('the certificate preflight', () => {
  it('accepts an issued RSA certificate of the region', async () => {
    const arn = await importCertificate('rsa:2048', 'ok.example.com');
    expect(await checkCertificate(() => clients.acm(), arn, 'us-east-1')).toEqual([]);
  });

  it('refuses a certificate of another region without calling ACM', async () => {
    const arn = 'arn:aws:acm:eu-west-1:123456789012:certificate/11111111-2222-3333-4444-555555555555';
    const problems = await checkCertificate(() => Promise.reject(new Error('ACM must not be called')), arn, 'us-east-1');
    expect(problems).toEqual([expect.stringMatching(/is in eu-west-1 and the load balancer in us-east-1: request or import the certificate in us-east-1/)]);
  });

  it('names a certificate ACM does not have', async () => {
    const arn = 'arn:aws:acm:us-east-1:123456789012:certificate/99999999-2222-3333-4444-555555555555';
    expect(await checkCertificate(() => clients.acm(), arn, 'us-east-1')).toEqual([expect.stringMatching(/was not found in ACM in us-east-1/)]);
  });

  it('refuses a certificate still waiting for validation', async () => {
    const requested = await (await clients.acm()).send(new RequestCertificateCommand({ DomainName: 'pending.example.com', ValidationMethod: 'DNS' }));
    const problems = await checkCertificate(() => clients.acm(), requested.CertificateArn ?? '', 'us-east-1');
    expect(problems).toEqual([expect.stringMatching(/is PENDING_VALIDATION, not ISSUED: finish its validation/)]);
  });

  it('refuses an ECDSA certificate: classic load balancers serve RSA', async () => {
    const arn = await importCertificate('ec:' + ecParameters(), 'ec.example.com');
    expect(await checkCertificate(() => clients.acm(), arn, 'us-east-1')).toEqual([expect.stringMatching(/has a EC_prime256v1 key .* RSA_2048/)]);
  });
});

/** openssl's `-newkey ec:<file>` needs the curve's parameters in a file. */
function ecParameters(): string {
  const file = join(work, 'prime256v1.pem');
  execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-out', file]);
  return file;
}

describe('the HTTPS listener', () => {
  it('is created with the certificate, swapped in place, and removed with certificate_arn', async () => {
    const first = await importCertificate('rsa:2048', 'a.example.com');
    const second = await importCertificate('rsa:2048', 'b.example.com');
    const groups = await ensureSecurityGroups(clients.ec2, { names: makeNames('tls', 'web'), vpcId: vpc.vpcId, appPort: 8000, https: true }, { signal: new AbortController().signal });
    const spec = (certificateArn: string | undefined): LoadBalancerSpec => ({
      names: makeNames('tls', 'web'),
      subnets: vpc.subnets,
      elbSecurityGroupId: groups.ids.elb,
      appPort: 8000,
      healthCheckPath: '/',
      certificateArn,
    });
    const progress = { signal: new AbortController().signal };
    const name = makeNames('tls', 'web').loadBalancer;

    expect(await planLoadBalancer(clients.elb, spec(first))).toEqual([expect.stringContaining(`HTTPS:443 → instance port 8000 (certificate ${first})`)]);
    expect((await ensureLoadBalancer(clients.elb, spec(first), progress)).created).toBe(true);
    expect(await listenersOf(name)).toEqual(['HTTP:80->8000', `HTTPS:443->8000 ${first}`]);
    expect((await ensureLoadBalancer(clients.elb, spec(first), progress)).changes).toEqual([]);

    expect(await planLoadBalancer(clients.elb, spec(second))).toEqual([`listener port 443 certificate → ${second}`]);
    expect((await ensureLoadBalancer(clients.elb, spec(second), progress)).changes).toEqual([`listener port 443 certificate → ${second}`]);
    expect(await listenersOf(name)).toEqual(['HTTP:80->8000', `HTTPS:443->8000 ${second}`]);

    expect((await ensureLoadBalancer(clients.elb, spec(undefined), progress)).changes).toEqual(['listener port 443 removed (no certificate_arn)']);
    expect(await listenersOf(name)).toEqual(['HTTP:80->8000']);
    expect((await ensureLoadBalancer(clients.elb, spec(undefined), progress)).changes).toEqual([]);

    expect((await ensureLoadBalancer(clients.elb, spec(first), progress)).changes).toEqual([`listener HTTPS:443 → instance port 8000 (certificate ${first}) added`]);
    expect(await listenersOf(name)).toEqual(['HTTP:80->8000', `HTTPS:443->8000 ${first}`]);
  });

  it("the load balancer's group admits 443 only while HTTPS is on", async () => {
    const names = makeNames('tls', 'sg');
    const signal = new AbortController().signal;
    const elbPorts = async (id: string) =>
      ((await clients.ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [id] }))).SecurityGroups?.[0]?.IpPermissions ?? []).map((p) => p.FromPort).sort();

    const on = await ensureSecurityGroups(clients.ec2, { names, vpcId: vpc.vpcId, appPort: 8000, https: true }, { signal });
    expect(await elbPorts(on.ids.elb)).toEqual([443, 80]);
    const off = await ensureSecurityGroups(clients.ec2, { names, vpcId: vpc.vpcId, appPort: 8000 }, { signal });
    expect(off.changes).toEqual(['elb: revoked 443 from 0.0.0.0/0 (HTTPS is off: no certificate_arn)']);
    expect(await elbPorts(on.ids.elb)).toEqual([80]);
    const again = await ensureSecurityGroups(clients.ec2, { names, vpcId: vpc.vpcId, appPort: 8000, https: true }, { signal });
    expect(again.changes).toEqual(['elb: allowed 443 from 0.0.0.0/0']);
  });
});
