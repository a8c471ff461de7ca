import { nearbySuite } from './nearby-suite.js';

nearbySuite('nearby pairing, in-memory matchmaker', { extra: () => ({}) });
