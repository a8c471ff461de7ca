// The screening rules of issue 16 without a browser: the verdict on nsfwjs's scores, which
// policies a person may choose under a deployment's default, and the luma numbers that tell a
// black or frozen camera. The browser side: test/browser/safety.test.ts.
import { describe, expect, it } from 'vitest';
import { effectivePolicy, judge, lumaOf, policyChoices } from '../../src/web/screening.js';

const scores = (s: Partial<Record<'drawing' | 'hentai' | 'neutral' | 'porn' | 'sexy', number>>) =>
  ({ drawing: 0, hentai: 0, neutral: 0, porn: 0, sexy: 0, ...s });

describe('screening rules', () => {
  it('flags explicit or strongly suggestive frames, clears neutral ones, and waits in between', () => {
    expect(judge(scores({ neutral: 0.95, drawing: 0.05 }))).toBe('safe');
    expect(judge(scores({ drawing: 0.7, neutral: 0.3 }))).toBe('safe');
    expect(judge(scores({ porn: 0.7, neutral: 0.3 }))).toBe('flagged');
    expect(judge(scores({ porn: 0.35, hentai: 0.3, neutral: 0.35 }))).toBe('flagged');
    expect(judge(scores({ sexy: 0.9, neutral: 0.1 }))).toBe('flagged');
    expect(judge(scores({ sexy: 0.5, neutral: 0.5 }))).toBe('unsure');
  });

  it('never lets a person go below flag-only, unless the deployment has screening off', () => {
    expect(policyChoices('blur-until-safe')).toEqual(['flag-only', 'blur-until-safe']);
    expect(policyChoices('flag-only')).toEqual(['flag-only', 'blur-until-safe']);
    expect(policyChoices('off')).toEqual(['off', 'flag-only', 'blur-until-safe']);
    expect(effectivePolicy('blur-until-safe', 'off')).toBe('blur-until-safe');
    expect(effectivePolicy('blur-until-safe', 'flag-only')).toBe('flag-only');
    expect(effectivePolicy('flag-only', 'blur-until-safe')).toBe('blur-until-safe');
    expect(effectivePolicy('off', 'off')).toBe('off');
    expect(effectivePolicy('off', 'blur-until-safe')).toBe('blur-until-safe');
    expect(effectivePolicy('flag-only', null)).toBe('flag-only');
    expect(effectivePolicy('flag-only', 'nonsense')).toBe('flag-only');
  });

  it('measures mean luma and the change from the previous frame', () => {
    const frame = (r: number, g: number, b: number) => new Uint8ClampedArray(Array.from({ length: 4 }, () => [r, g, b, 255]).flat());
    const black = lumaOf(frame(0, 0, 0), null);
    expect(black.mean).toBe(0);
    expect(black.change).toBe(Infinity);
    const white = lumaOf(frame(255, 255, 255), black.luma);
    expect(white.mean).toBeCloseTo(255, 3);
    expect(white.change).toBeCloseTo(255, 3);
    expect(lumaOf(frame(255, 255, 255), white.luma).change).toBe(0);
  });
});
