/**
 * The EC2 half of the local cloud's control plane: a reconcile loop that keeps the
 * machines (cloud.ts) in step with moto, the truth. Every instance moto reports
 * pending/running — launched with RunInstances or by an autoscaling group — gets a
 * machine with moto's private IP, public DNS name, the key pair's public key and
 * the user data; stop/start/terminate follow moto's state; a poweroff inside a
 * machine is reported to moto (StopInstances). What moto's state does not show is
 * hooked in the AWS proxy: RebootInstances reboots the machine, CreateImage records
 * its filesystem (DescribeImages says `pending` until then), DeregisterImage frees
 * the layer, and ImportKeyPair/CreateKeyPair give the public keys.
 *
 * The sync never invents instances: it only launches what moto reports, and only
 * terminates machines it launched. Work on one instance is serialised (a queue per
 * instance); the poll skips an instance while its queue is busy.
 */
import { execa } from 'execa';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DescribeInstanceAttributeCommand, DescribeInstancesCommand, DescribeKeyPairsCommand, EC2Client, StopInstancesCommand,
  type Instance,
} from '@aws-sdk/client-ec2';
import { listParam, rewriteFieldAfter, xmlValue, type AwsProxy, type ProxiedRequest, type ProxiedResponse } from './aws-proxy.js';
import type { Cloud } from './cloud.js';

/** Options of {@link startSync}. */
export interface SyncOptions {
  readonly cloud: Cloud;
  readonly proxy: AwsProxy;
  /** An EC2 client pointed at moto itself (not at the proxy: the sync's own calls are not intercepted). */
  readonly ec2: EC2Client;
  /** Poll interval. Default 250 ms. */
  readonly intervalMs?: number;
  /** What the sync did or could not do, one line each. */
  readonly log?: (line: string) => void;
}

/** When an instance was answered by moto and when its machine's sshd answered (epoch ms). */
export interface LaunchTiming {
  readonly instanceId: string;
  readonly answeredAt?: number;
  /** When the sync had what it needs (key, user data) and began booting the machine. */
  readonly bootAt?: number;
  readonly sshAt?: number;
}

/** A running sync. */
export interface Sync {
  /** One reconcile pass (the loop runs these; tests may call it to avoid waiting for the next tick). */
  reconcile(): Promise<void>;
  /** Resolves when no instance has work queued (after the current poll). */
  idle(): Promise<void>;
  timings(): LaunchTiming[];
  /** Stops polling and waits for queued work to finish. */
  stop(): Promise<void>;
}

/** The VPC range the cloud's bridge serves (moto's default VPC). */
const VPC = /^172\.31\.\d{1,3}\.\d{1,3}$/;

/** Public key line (OpenSSH) of a PEM private key, as `ssh-keygen -y` derives it. */
export async function publicKeyOfPrivate(pem: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'lc-key-'));
  try {
    writeFileSync(join(dir, 'key'), pem.endsWith('\n') ? pem : `${pem}\n`, { mode: 0o600 });
    return (await execa('ssh-keygen', ['-y', '-f', join(dir, 'key')])).stdout.trim();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const ok = (response: ProxiedResponse): boolean => response.status >= 200 && response.status < 300;

/** Starts the reconcile loop and registers the EC2 interceptors on the proxy. */
export function startSync(options: SyncOptions): Sync {
  const { cloud, proxy, ec2 } = options;
  const log = options.log ?? (() => undefined);
  const interval = options.intervalMs ?? 250;
  /** Instances whose machine this sync launched (the only ones it terminates when moto forgets them). */
  const owned = new Set<string>();
  const queues = new Map<string, { tail: Promise<void>; depth: number }>();
  const publicKeys = new Map<string, string>();
  /** Images whose layer is being recorded → the recording. */
  const pendingImages = new Map<string, Promise<void>>();
  /** Deregistered images whose layer is still the root of a machine: freed when the last one terminates. */
  const deregistered = new Set<string>();
  /** StartInstances seen and not yet carried out: a stopped machine is then not a poweroff inside. */
  const expectStart = new Set<string>();
  const warned = new Set<string>();
  const answeredAt = new Map<string, number>();
  /** RunInstances' UserData (base64) per instance, so a launch need not ask moto for it. */
  const runUserData = new Map<string, string>();
  const bootAt = new Map<string, number>();
  const sshAt = new Map<string, number>();
  let stopped = false;
  let pass: Promise<void> = Promise.resolve();

  const enqueue = (id: string, what: string, job: () => Promise<void>): Promise<void> => {
    const q = queues.get(id) ?? { tail: Promise.resolve(), depth: 0 };
    q.depth++;
    q.tail = q.tail.then(job).catch((error: unknown) => {
      log(`${id}: ${what} failed: ${error instanceof Error ? error.message : String(error)}`);
    }).finally(() => {
      q.depth--;
      if (q.depth === 0) queues.delete(id);
    });
    queues.set(id, q);
    return q.tail;
  };
  const busy = (id: string): boolean => (queues.get(id)?.depth ?? 0) > 0;

  const publicKeyOf = async (keyName: string): Promise<string | undefined> => {
    const known = publicKeys.get(keyName);
    if (known) return known;
    // A key pair made before the harness started: moto keeps the public key.
    const answer = await ec2.send(new DescribeKeyPairsCommand({ KeyNames: [keyName], IncludePublicKey: true })).catch(() => undefined);
    return answer?.KeyPairs?.[0]?.PublicKey?.trim();
  };

  const userDataOf = async (id: string): Promise<string | undefined> => {
    const given = runUserData.get(id);
    if (given !== undefined) return given === '' ? undefined : Buffer.from(given, 'base64').toString('utf8');
    // moto copies the launch template's UserData to the instances a group launches, so this covers both.
    const answer = await ec2.send(new DescribeInstanceAttributeCommand({ InstanceId: id, Attribute: 'userData' }));
    const value = answer.UserData?.Value;
    return value ? Buffer.from(value, 'base64').toString('utf8') : undefined;
  };

  const freeDeregistered = async (): Promise<void> => {
    for (const imageId of [...deregistered]) {
      try {
        await cloud.deleteImage(imageId);
        deregistered.delete(imageId);
        log(`${imageId}: layer freed`);
      } catch { /* still the root of a machine */ }
    }
  };

  const launch = async (instance: Instance): Promise<void> => {
    const id = instance.InstanceId as string;
    const imageId = instance.ImageId ?? '';
    const recording = pendingImages.get(imageId);
    if (recording) await recording;
    const keyName = instance.KeyName;
    const authorizedKey = keyName ? await publicKeyOf(keyName) : undefined;
    if (keyName && !authorizedKey) log(`${id}: no public key known for key pair ${keyName}: nobody can log in`);
    const userData = await userDataOf(id);
    owned.add(id);
    bootAt.set(id, Date.now());
    await cloud.launchMachine({
      instanceId: id,
      privateIp: instance.PrivateIpAddress as string,
      ...(instance.PublicDnsName ? { publicDnsName: instance.PublicDnsName } : {}),
      authorizedKey: authorizedKey ?? '',
      ...(userData !== undefined ? { userData } : {}),
      // Any AMI not made through this harness is the base root.
      ...(cloud.hasImage(imageId) ? { imageId } : {}),
      waitForLogin: false,
    });
    sshAt.set(id, Date.now());
    log(`${id}: machine up at ${instance.PrivateIpAddress ?? ''} (${instance.PublicDnsName ?? ''})`);
  };

  const terminate = async (id: string): Promise<void> => {
    await cloud.terminateMachine(id);
    owned.delete(id);
    log(`${id}: terminated`);
    await freeDeregistered();
  };

  const reconcileInstance = (instance: Instance): void => {
    const id = instance.InstanceId;
    if (!id || busy(id)) return;
    const state = instance.State?.Name ?? '';
    const machine = cloud.machine(id);
    if (state === 'pending' || state === 'running') {
      if (!machine) {
        const ip = instance.PrivateIpAddress ?? '';
        if (!VPC.test(ip)) {
          if (!warned.has(id)) log(`${id}: private IP ${ip} is outside 172.31.0.0/16 (launch it into a subnet of the default VPC): no machine`);
          warned.add(id);
          return;
        }
        void enqueue(id, 'launch', () => launch(instance));
      } else if (cloud.machineState(id) === 'stopped') {
        if (expectStart.has(id)) {
          void enqueue(id, 'start', async () => {
            await cloud.startMachine(id);
            expectStart.delete(id);
            log(`${id}: started`);
          });
        } else {
          // Nobody asked moto to stop it: the machine powered off from inside, as `poweroff` on EC2 does.
          void enqueue(id, 'report poweroff', async () => {
            await ec2.send(new StopInstancesCommand({ InstanceIds: [id] }));
            await cloud.stopMachine(id);
            log(`${id}: powered off inside: stopped in moto`);
          });
        }
      }
    } else if (state === 'stopping' || state === 'stopped') {
      if (machine && cloud.machineState(id) === 'running') {
        void enqueue(id, 'stop', async () => {
          await cloud.stopMachine(id);
          log(`${id}: stopped`);
        });
      }
    } else if ((state === 'shutting-down' || state === 'terminated') && machine) {
      void enqueue(id, 'terminate', () => terminate(id));
    }
  };

  const reconcileOnce = async (): Promise<void> => {
    const seen = new Set<string>();
    let token: string | undefined;
    do {
      const page = await ec2.send(new DescribeInstancesCommand({ ...(token ? { NextToken: token } : {}) }));
      for (const r of page.Reservations ?? []) {
        for (const i of r.Instances ?? []) {
          if (i.InstanceId) seen.add(i.InstanceId);
          reconcileInstance(i);
        }
      }
      token = page.NextToken;
    } while (token);
    // moto forgot an instance (reset): its machine goes too.
    for (const id of owned) if (!seen.has(id) && !busy(id)) void enqueue(id, 'terminate', () => terminate(id));
  };

  const reconcile = (): Promise<void> => {
    pass = pass.then(reconcileOnce).catch((error: unknown) => log(`poll failed: ${error instanceof Error ? error.message : String(error)}`));
    return pass;
  };

  // ---- interceptors: what moto's state does not show
  const intercept = (action: string, hooks: Parameters<AwsProxy['intercept']>[2]): void => proxy.intercept('ec2', action, hooks);
  const afterOk = (fn: (request: ProxiedRequest, response: ProxiedResponse) => Promise<void> | void) => ({
    async after(request: ProxiedRequest, response: ProxiedResponse) {
      if (ok(response)) await fn(request, response);
      return undefined;
    },
  });

  intercept('ImportKeyPair', afterOk((request) => {
    const material = request.params.get('PublicKeyMaterial');
    const name = request.params.get('KeyName');
    if (material && name) publicKeys.set(name, Buffer.from(material, 'base64').toString('utf8').trim());
  }));
  intercept('CreateKeyPair', afterOk(async (request, response) => {
    const name = request.params.get('KeyName');
    // moto returns the private key; the public key is what the instance authorises.
    const pem = /<keyMaterial>([\s\S]*?)<\/keyMaterial>/.exec(response.body)?.[1];
    if (name && pem) publicKeys.set(name, await publicKeyOfPrivate(pem.trim()));
  }));
  intercept('DeleteKeyPair', afterOk((request) => { publicKeys.delete(request.params.get('KeyName') ?? ''); }));

  intercept('RunInstances', afterOk((request, response) => {
    const now = Date.now();
    // Without a launch template, RunInstances' UserData is all the instance gets (none: none).
    const fromTemplate = [...request.params.keys()].some((k) => k.startsWith('LaunchTemplate.'));
    const userData = request.params.get('UserData') ?? (fromTemplate ? null : '');
    for (const m of response.body.matchAll(/<instanceId>(i-[0-9a-z]+)<\/instanceId>/g)) {
      if (!m[1]) continue;
      answeredAt.set(m[1], now);
      if (userData !== null) runUserData.set(m[1], userData);
    }
    void reconcile();
  }));
  intercept('StartInstances', {
    // Marked before moto changes state, so a poll in between does not read a stopped machine as a poweroff inside.
    async before(request) {
      for (const id of listParam(request.params, 'InstanceId')) expectStart.add(id);
      return undefined;
    },
    async after(request, response) {
      if (!ok(response)) for (const id of listParam(request.params, 'InstanceId')) expectStart.delete(id);
      else void reconcile();
      return undefined;
    },
  });
  intercept('StopInstances', afterOk(() => { void reconcile(); }));
  intercept('TerminateInstances', afterOk(() => { void reconcile(); }));
  // moto's state does not change on a reboot: the machine must be rebooted here.
  intercept('RebootInstances', afterOk((request) => {
    for (const id of listParam(request.params, 'InstanceId')) {
      if (cloud.machine(id) && cloud.machineState(id) === 'running') void enqueue(id, 'reboot', async () => { await cloud.rebootMachine(id); log(`${id}: rebooted`); });
    }
  }));

  intercept('CreateImage', afterOk((request, response) => {
    const instanceId = request.params.get('InstanceId') ?? '';
    const imageId = xmlValue(response.body, 'imageId');
    if (!imageId || !cloud.machine(instanceId)) return;
    const noReboot = request.params.get('NoReboot') === 'true';
    const recording = enqueue(instanceId, `CreateImage ${imageId}`, async () => {
      if (cloud.machineState(instanceId) === 'stopped') {
        await cloud.createImage(instanceId, imageId);
      } else if (noReboot) {
        // AWS: with NoReboot "Amazon EC2 doesn't shut down the instance before creating the image ...
        // the file system integrity on the created image can't be guaranteed" (CreateImage, API
        // reference). Same here: the layer is copied live, after a sync.
        await cloud.createImage(instanceId, imageId, { live: true });
      } else {
        // AWS's default: shut the instance down, image it, start it again.
        await cloud.stopMachine(instanceId);
        await cloud.createImage(instanceId, imageId);
        await cloud.startMachine(instanceId);
      }
      log(`${imageId}: recorded from ${instanceId}`);
    }).finally(() => pendingImages.delete(imageId));
    pendingImages.set(imageId, recording);
  }));
  // Until the layer is recorded the image is `pending`, as on AWS (moto says `available` at once).
  intercept('DescribeImages', {
    async after(_request, response) {
      if (!ok(response) || pendingImages.size === 0) return undefined;
      let body = response.body;
      for (const imageId of pendingImages.keys()) body = rewriteFieldAfter(body, 'imageId', imageId, 'imageState', 'pending');
      return { ...response, body };
    },
  });
  intercept('DeregisterImage', afterOk(async (request) => {
    const imageId = request.params.get('ImageId') ?? '';
    await pendingImages.get(imageId);
    if (!cloud.hasImage(imageId)) return;
    // AWS lets instances launched from an AMI run on after it is deregistered: free the layer when they are gone.
    deregistered.add(imageId);
    await freeDeregistered();
  }));

  const timer = setInterval(() => { if (!stopped) void reconcile(); }, interval);
  void reconcile();

  const idle = async (): Promise<void> => {
    await pass;
    while (queues.size > 0) await Promise.all([...queues.values()].map((q) => q.tail));
  };

  return {
    reconcile,
    idle,
    timings: () => [...new Set([...answeredAt.keys(), ...sshAt.keys()])].map((instanceId) => ({
      instanceId,
      ...(answeredAt.has(instanceId) ? { answeredAt: answeredAt.get(instanceId) as number } : {}),
      ...(bootAt.has(instanceId) ? { bootAt: bootAt.get(instanceId) as number } : {}),
      ...(sshAt.has(instanceId) ? { sshAt: sshAt.get(instanceId) as number } : {}),
    })),
    async stop() {
      stopped = true;
      clearInterval(timer);
      await idle();
    },
  };
}
