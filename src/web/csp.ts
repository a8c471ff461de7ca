/**
 * Runs before anything else in the bundle (main.ts imports it first): zod compiles fast paths
 * with `new Function` when its schemas are built, which the server's Content-Security-Policy
 * (no 'unsafe-eval') forbids and reports as a violation. Jitless zod validates the same way.
 */
import { config } from 'zod';

config({ jitless: true });
