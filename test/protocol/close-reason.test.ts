// Which error code a client names as the reason its connection ended (policy.ts closeErrorCode).
// Regression: a server shutting down sends CHZ_ERR_SERVER_SHUTDOWN and close 4005, but drops the
// socket after a second if the close reply is late (a loaded page); the page then saw 1006 and
// said "Lost the connection" without the reason the server had already given.
import { describe, expect, it } from 'vitest';
import { closeErrorCode } from '../../src/protocol/client/index.js';

describe('the reason a client gives for a closed connection', () => {
  it('is the code a close code of ours stands for', () => {
    expect(closeErrorCode(4005, null)).toBe('CHZ_ERR_SERVER_SHUTDOWN');
    expect(closeErrorCode(4001, 'CHZ_ERR_NOT_MATCHED')).toBe('CHZ_ERR_VERSION');
  });
  it('is the last error frame for another close in the private range', () => {
    expect(closeErrorCode(4999, 'CHZ_ERR_UNAVAILABLE')).toBe('CHZ_ERR_UNAVAILABLE');
  });
  it('after a transport close (1006), is the last error frame only when that error announced a close', () => {
    expect(closeErrorCode(1006, 'CHZ_ERR_SERVER_SHUTDOWN')).toBe('CHZ_ERR_SERVER_SHUTDOWN');
    expect(closeErrorCode(1006, 'CHZ_ERR_SLOW_CONSUMER')).toBe('CHZ_ERR_SLOW_CONSUMER');
    expect(closeErrorCode(1006, 'CHZ_ERR_NOT_MATCHED')).toBeNull(); // an answer to a message, not why the socket went
    expect(closeErrorCode(1006, 'CHZ_ERR_RATE_LIMITED')).toBeNull(); // also sent as a warning that does not close
    expect(closeErrorCode(1006, null)).toBeNull();
    expect(closeErrorCode(1000, 'CHZ_ERR_UNKNOWN_HUB')).toBeNull();
  });
});
