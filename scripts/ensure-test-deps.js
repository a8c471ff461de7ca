#!/usr/bin/env node
// Makes sure the Debian packages the tests drive are installed: installs the missing ones with
// apt-get when running as root, otherwise fails saying which are missing.
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';

/** Debian package -> a program it provides. */
const NEEDED = {
  ffmpeg: 'ffmpeg',
  chromium: 'chromium',
  'firefox-esr': 'firefox-esr',
  coturn: 'turnserver',
  'redis-server': 'redis-server',
  iproute2: 'ip',
  iptables: 'iptables',
  // test/deploy: the nginx recipe runs in front of two nodes; systemd-analyze verifies the unit.
  nginx: 'nginx',
  systemd: 'systemd-analyze',
  openssl: 'openssl',
};

/** Debian package -> a file it provides (packages that are not programs). */
const NEEDED_FILES = {
  // The browser tests take screenshots in Tamil, Hindi and Malayalam: without these fonts the
  // Indic scripts render as empty boxes.
  'fonts-noto-core': '/usr/share/fonts/truetype/noto/NotoSansTamil-Regular.ttf',
};

function exists(file) {
  try {
    accessSync(file, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(program) {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin', '/usr/bin'])) {
    try {
      accessSync(`${dir}/${program}`, constants.X_OK);
      return true;
    } catch { /* next */ }
  }
  return false;
}

const missing = [
  ...Object.entries(NEEDED).filter(([, prog]) => !onPath(prog)).map(([pkg]) => pkg),
  ...Object.entries(NEEDED_FILES).filter(([, file]) => !exists(file)).map(([pkg]) => pkg),
];
if (missing.length === 0) process.exit(0);

const isRoot = process.getuid?.() === 0;
if (!isRoot || !onPath('apt-get')) {
  console.error(`The tests need these Debian packages, which are missing: ${missing.join(' ')}\n` +
    `Install them with: sudo apt-get install -y ${missing.join(' ')}`);
  process.exit(1);
}
console.error(`Installing test dependencies: ${missing.join(' ')}`);
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
const update = spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
if (update.status !== 0) console.error('apt-get update failed; trying the install anyway');
const install = spawnSync('apt-get', ['install', '-y', '-qq', ...missing], { stdio: 'inherit', env });
const still = Object.entries(NEEDED).filter(([, prog]) => !onPath(prog)).map(([pkg]) => pkg);
if (install.status !== 0 || still.length) {
  console.error(`Could not install: ${still.join(' ') || missing.join(' ')}`);
  process.exit(1);
}
