/**
 * Preflight of the load balancer's HTTPS certificate (`certificate_arn`).
 * Imported lazily (with the ACM client) only when a certificate is configured,
 * so a run without HTTPS loads neither.
 */
import { DescribeCertificateCommand, type ACMClient } from '@aws-sdk/client-acm';
import { errorCode } from '../wait.js';

/** The region part of an ACM ARN (`arn:aws:acm:<region>:…`); IAM server certificates are global: `undefined`. */
export function certificateRegion(arn: string): string | undefined {
  const [, , service, region] = arn.split(':');
  return service === 'acm' ? region : undefined;
}

/**
 * Why the certificate cannot go on the load balancer's HTTPS listener, one
 * line each with what to do; empty when it can. An ACM certificate must be in
 * the load balancer's region, issued, and hold an RSA key ("a certificate
 * provided by ACM contains an RSA public key", Classic Load Balancer SSL
 * negotiation: https://docs.aws.amazon.com/elasticloadbalancing/latest/classic/elb-ssl-security-policy.html;
 * ACM certificates are regional: https://docs.aws.amazon.com/acm/latest/userguide/acm-regions.html).
 * An IAM server certificate is not looked up (that needs IAM read access
 * argos does not otherwise ask for): CreateLoadBalancerListeners rejects a
 * missing one.
 */
export async function checkCertificate(acm: () => Promise<ACMClient>, arn: string, loadBalancerRegion: string): Promise<string[]> {
  const region = certificateRegion(arn);
  if (region === undefined) return [];
  if (region !== loadBalancerRegion) {
    return [`certificate_arn ${arn} is in ${region} and the load balancer in ${loadBalancerRegion}: request or import the certificate in ${loadBalancerRegion} with ACM`];
  }
  try {
    const certificate = (await (await acm()).send(new DescribeCertificateCommand({ CertificateArn: arn }))).Certificate;
    const problems: string[] = [];
    if (certificate?.Status !== 'ISSUED') {
      problems.push(`certificate_arn ${arn} is ${certificate?.Status ?? 'in no known state'}, not ISSUED: finish its validation in ACM (or use an issued certificate) and run again`);
    }
    if (certificate?.KeyAlgorithm && !certificate.KeyAlgorithm.startsWith('RSA')) {
      problems.push(`certificate_arn ${arn} has a ${certificate.KeyAlgorithm} key and a classic load balancer serves RSA certificates: request one with key algorithm RSA_2048`);
    }
    return problems;
  } catch (error) {
    if (errorCode(error) === 'ResourceNotFoundException') {
      return [`certificate_arn ${arn} was not found in ACM in ${loadBalancerRegion}: check the ARN (aws acm list-certificates --region ${loadBalancerRegion})`];
    }
    if (errorCode(error) === 'AccessDeniedException') {
      return [`cannot read certificate_arn ${arn} (acm:DescribeCertificate denied): grant that permission, or check the certificate by hand`];
    }
    throw error;
  }
}
