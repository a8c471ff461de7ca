import { matchmakingSuite } from './matchmaking-suite.js';

matchmakingSuite('in-memory matchmaker', () => ({}));
