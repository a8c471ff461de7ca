import { afterAll, beforeAll } from 'vitest';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { matchmakingSuite } from './matchmaking-suite.js';

let redis: RedisServer;
beforeAll(async () => { redis = await startRedis(); });
afterAll(async () => { await redis?.stop(); });

matchmakingSuite('redis matchmaker', () => ({ redisUrl: redis.url }), () => redis.flush());
