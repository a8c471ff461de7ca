import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { nearbySuite } from './nearby-suite.js';

let redis: RedisServer;
let admin: Redis;
beforeAll(async () => {
  redis = await startRedis();
  admin = new Redis(redis.url, { maxRetriesPerRequest: 1 });
});
afterAll(async () => {
  admin?.disconnect();
  await redis?.stop();
});

nearbySuite('nearby pairing, redis matchmaker', {
  extra: () => ({ redisUrl: redis.url }),
  beforeEachTest: () => redis.flush(),
  clientHash: (id) => admin.hgetall(`{chz}:c:${id}`),
});
