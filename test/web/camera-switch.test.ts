// Which camera "Switch camera" goes to next (src/web/camera-switch.ts): the one after the current,
// wrapping around; nothing with fewer than two cameras (the button is hidden then).
import { describe, expect, it } from 'vitest';
import { nextVideoInput } from '../../src/web/camera-switch.js';

const cam = (deviceId: string) => ({ deviceId, label: deviceId });

describe('nextVideoInput', () => {
  it('cycles through the cameras in order and wraps around', () => {
    const inputs = [cam('front'), cam('back'), cam('usb')];
    expect(nextVideoInput(inputs, 'front')?.deviceId).toBe('back');
    expect(nextVideoInput(inputs, 'back')?.deviceId).toBe('usb');
    expect(nextVideoInput(inputs, 'usb')?.deviceId).toBe('front');
  });

  it('starts at the first camera when the current one is unknown or not listed', () => {
    const inputs = [cam('front'), cam('back')];
    expect(nextVideoInput(inputs, null)?.deviceId).toBe('front');
    expect(nextVideoInput(inputs, 'gone')?.deviceId).toBe('front');
  });

  it('has nothing to switch to with one camera, none, or only ids hidden before permission', () => {
    expect(nextVideoInput([], null)).toBeNull();
    expect(nextVideoInput([cam('front')], 'front')).toBeNull();
    expect(nextVideoInput([cam(''), cam('')], null)).toBeNull();
    expect(nextVideoInput([cam(''), cam('front')], 'front')).toBeNull();
  });
});
