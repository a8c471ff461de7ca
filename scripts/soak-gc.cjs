// Preloaded into the soak's nodes (node --expose-gc --require): SIGUSR2 runs a full garbage
// collection, so memory before and after the join burst is compared without uncollected garbage.
if (typeof globalThis.gc === 'function') process.on('SIGUSR2', () => globalThis.gc());
