/**
 * The lab's profile table and the parser of `custom:` profiles: every bad part is named in a
 * typed CHZ_ERR_LAB_PROFILE error; the README documents every profile and lab code.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ChatzyoError } from '../../src/protocol/index.js';
import { LAB_ERROR_CODES, NETWORK_PROFILE_NAMES, NETWORK_PROFILES, parseNetworkProfile } from '../../src/lab/index.js';
import { udpTurnTarget } from '../../src/lab/ice.js';

function parseError(spec: string): ChatzyoError {
  try {
    parseNetworkProfile(spec);
  } catch (e) {
    expect(e).toBeInstanceOf(ChatzyoError);
    return e as ChatzyoError;
  }
  throw new Error(`${spec} parsed`);
}

describe('network profiles', () => {
  it('has the issue\'s named profiles with their numbers', () => {
    expect(NETWORK_PROFILE_NAMES).toEqual(['good', '4g', '3g', 'low-upload', 'lossy-5', 'lossy-10', 'high-latency', 'satellite']);
    expect(parseNetworkProfile('3g')).toMatchObject({ rttMs: 250, jitterMs: 20, lossPercent: 0.5, upKbps: 750, downKbps: 1500 });
    expect(parseNetworkProfile('low-upload')).toMatchObject({ rttMs: 60, jitterMs: 10, lossPercent: 0.5, upKbps: 300, downKbps: 5000 });
    expect(parseNetworkProfile('good')).toMatchObject({ rttMs: 20, jitterMs: 0, lossPercent: 0, upKbps: null, downKbps: null });
  });

  it('parses custom:rtt=120ms,jitter=15ms,loss=2%,up=500kbit,down=2mbit', () => {
    expect(parseNetworkProfile('custom:rtt=120ms,jitter=15ms,loss=2%,up=500kbit,down=2mbit')).toMatchObject({
      rttMs: 120, jitterMs: 15, lossPercent: 2, upKbps: 500, downKbps: 2000, reorderPercent: 0, queueMs: 200,
    });
    expect(parseNetworkProfile('custom:rtt=0.5s,up=1.5Mbit,reorder=1%,queue=50ms')).toMatchObject({ rttMs: 500, upKbps: 1500, reorderPercent: 1, queueMs: 50, downKbps: null });
  });

  it.each([
    ['5g', '"5g"'],
    ['custom:', 'custom:'],
    ['custom:rtt=fast', 'rtt=fast'],
    ['custom:rtt=120ms,loss=200%', 'loss=200%'],
    ['custom:rtt=120ms,up=500kb', 'up=500kb'],
    ['custom:rtt=120ms,colour=red', 'colour=red'],
    ['custom:rtt=120ms,rtt=10ms', 'rtt=10ms'],
    ['custom:rtt', '"rtt"'],
  ])('%s is a CHZ_ERR_LAB_PROFILE naming %s', (spec, part) => {
    const e = parseError(spec);
    expect(e.code).toBe('CHZ_ERR_LAB_PROFILE');
    expect(e.exitCode).toBe(2);
    expect(e.message).toContain(part);
  });

  it('finds the UDP TURN server a participant is put behind', () => {
    expect(udpTurnTarget('turn:127.0.0.1:3478?transport=udp')).toEqual({ host: '127.0.0.1', port: 3478 });
    expect(udpTurnTarget('turn:turn.example.org')).toEqual({ host: 'turn.example.org', port: 3478 });
    expect(udpTurnTarget('turn:[2001:db8::1]:5349')).toEqual({ host: '2001:db8::1', port: 5349 });
    expect(udpTurnTarget('turn:127.0.0.1:3478?transport=tcp')).toBeNull();
    expect(udpTurnTarget('turns:127.0.0.1:5349')).toBeNull();
    expect(udpTurnTarget('stun:127.0.0.1:3478')).toBeNull();
  });

  it('the README documents every profile and every lab code', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    for (const name of Object.keys(NETWORK_PROFILES)) expect(readme).toContain(`| \`${name}\` |`);
    for (const code of Object.keys(LAB_ERROR_CODES)) expect(readme).toContain(`\`${code}\``);
  });
});
