// RFC 5780 classification from observations: every branch of sections 4.3 and 4.4, and the
// two-server fallback.
import { describe, expect, it } from 'vitest';
import { classifyByComparison, classifyFiltering, classifyMapping, isSymmetric } from '../../src/probe/nat-classify.js';

const local = { address: '198.18.1.2', port: 40000 };
const pub = (port: number, address = '198.51.100.18') => ({ address, port });

describe('classifyMapping (RFC 5780 section 4.3)', () => {
  it('no NAT when test I sees our local address', () => {
    expect(classifyMapping({ local, test1: { ...local } })).toMatchObject({ value: 'none', confidence: 'high' });
  });
  it('endpoint-independent when test II (other IP) sees the same mapping', () => {
    expect(classifyMapping({ local, test1: pub(5000), test2: pub(5000) })).toMatchObject({ value: 'endpoint-independent', confidence: 'high' });
  });
  it('address-dependent when test III (other IP and port) repeats test II', () => {
    expect(classifyMapping({ local, test1: pub(5000), test2: pub(5001), test3: pub(5001) })).toMatchObject({ value: 'address-dependent' });
  });
  it('address-and-port-dependent when every test sees a new mapping', () => {
    expect(classifyMapping({ local, test1: pub(5000), test2: pub(5001), test3: pub(5002) })).toMatchObject({ value: 'address-and-port-dependent', confidence: 'high' });
  });
  it('unknown when a test got no answer, or did not run', () => {
    expect(classifyMapping({ local, test1: pub(5000), test2: null }).value).toBe('unknown');
    expect(classifyMapping({ local, test1: pub(5000) }).value).toBe('unknown');
    expect(classifyMapping({ local, test1: pub(5000), test2: pub(5001), test3: null }).value).toBe('unknown');
  });
  it('a server with only a second port: same mapping is a low-confidence EIM, a new one is APDM', () => {
    expect(classifyMapping({ local, test1: pub(5000), test2: pub(5000), portOnly: true })).toMatchObject({ value: 'endpoint-independent', confidence: 'low' });
    expect(classifyMapping({ local, test1: pub(5000), test2: pub(5009), portOnly: true })).toMatchObject({ value: 'address-and-port-dependent', confidence: 'high' });
  });
  it('a different public IP counts as a different mapping', () => {
    expect(classifyMapping({ local, test1: pub(5000), test2: pub(5000, '198.51.100.19'), test3: pub(5000, '198.51.100.19') }).value).toBe('address-dependent');
  });
});

describe('classifyFiltering (RFC 5780 section 4.4)', () => {
  it('endpoint-independent when a reply from another IP and port gets in', () => {
    expect(classifyFiltering({ changeIpAndPort: true, changePort: true }).value).toBe('endpoint-independent');
  });
  it('address-dependent when only a reply from another port gets in', () => {
    expect(classifyFiltering({ changeIpAndPort: false, changePort: true }).value).toBe('address-dependent');
  });
  it('address-and-port-dependent when neither gets in', () => {
    expect(classifyFiltering({ changeIpAndPort: false, changePort: false }).value).toBe('address-and-port-dependent');
  });
  it('port-only servers can only say "address-dependent or looser"', () => {
    expect(classifyFiltering({ changeIpAndPort: null, changePort: true }).value).toBe('address-dependent-or-looser');
    expect(classifyFiltering({ changeIpAndPort: null, changePort: false }).value).toBe('address-and-port-dependent');
  });
  it('inconsistent answers are unknown, not guessed', () => {
    expect(classifyFiltering({ changeIpAndPort: true, changePort: false })).toMatchObject({ value: 'unknown', confidence: 'low' });
    expect(classifyFiltering({ changeIpAndPort: null, changePort: null }).value).toBe('unknown');
  });
});

describe('classifyByComparison (no RFC 5780)', () => {
  const s1 = { address: '203.0.113.1', port: 3478 };
  const s2 = { address: '203.0.113.9', port: 3478 };
  it('no NAT when every server sees the local address', () => {
    expect(classifyByComparison(local, [{ server: s1, mapped: { ...local } }, { server: s2, mapped: { ...local } }])).toMatchObject({ value: 'none', confidence: 'high' });
  });
  it('endpoint-independent (medium) when servers at different IPs agree', () => {
    expect(classifyByComparison(local, [{ server: s1, mapped: pub(7) }, { server: s2, mapped: pub(7) }])).toMatchObject({ value: 'endpoint-independent', confidence: 'medium' });
  });
  it('endpoint-independent (low) when the servers share an IP', () => {
    expect(classifyByComparison(local, [{ server: s1, mapped: pub(7) }, { server: { ...s1, port: 3479 }, mapped: pub(7) }])).toMatchObject({ value: 'endpoint-independent', confidence: 'low' });
  });
  it('endpoint-dependent (symmetric) when servers at different IPs disagree', () => {
    const c = classifyByComparison(local, [{ server: s1, mapped: pub(7) }, { server: s2, mapped: pub(8) }]);
    expect(c.value).toBe('endpoint-dependent');
    expect(isSymmetric(c.value)).toBe(true);
  });
  it('address-and-port-dependent when two ports of one IP disagree', () => {
    expect(classifyByComparison(local, [{ server: s1, mapped: pub(7) }, { server: { ...s1, port: 3479 }, mapped: pub(8) }]).value).toBe('address-and-port-dependent');
  });
  it('unknown behind a NAT with a single server, and with none', () => {
    expect(classifyByComparison(local, [{ server: s1, mapped: pub(7) }])).toMatchObject({ value: 'unknown', confidence: 'none' });
    expect(classifyByComparison(local, []).value).toBe('unknown');
  });
});
