import { useRedisWithAdmin } from '../helpers/redis.js';
import { nearbySuite } from './nearby-suite.js';

const r = useRedisWithAdmin();

nearbySuite('nearby pairing, redis matchmaker', {
  extra: () => ({ redisUrl: r.redis.url }),
  beforeEachTest: () => r.redis.flush(),
  clientHash: (id) => r.admin.hgetall(`{chz}:c:${id}`),
});
