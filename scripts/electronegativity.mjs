// Part of `npm run lint`: Electronegativity (Doyensec's Electron security scanner) over src-main,
// assuming the Electron version that is installed (the one the app ships). Fails on any HIGH or
// MEDIUM finding that is not in REVIEWED below, on a file the scanner could not parse (it would
// otherwise have checked nothing there), and on an `eng-disable` comment (the scanner's own way to
// hide a finding: a review goes in REVIEWED instead, where it is seen).
//
// It calls the scanner's documented programmatic API rather than parsing the CLI's `-o` CSV/SARIF:
// with -o the CLI drops the parse errors, so an unparsable file would pass unnoticed.
// Offline, the scanner's attempts to fetch translations and Electron's release list fail after a
// short timeout and it goes on; AVAILABLE_SECURITY_FIXES_GLOBAL_CHECK (that release list against
// a package.json's Electron version) is skipped: there is no package.json under src-main, and the
// lint must not depend on the network.
//
// Usage: node scripts/electronegativity.mjs [DIR...]   (default: src-main)
import run from '@doyensec/electronegativity';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = new URL('..', import.meta.url).pathname;

/** Findings reviewed and accepted: check id and the file (relative to the repository). */
const REVIEWED = [
  {
    id: 'PRELOAD_JS_CHECK',
    file: 'src-main/electron/main.ts',
    why: 'the preload exposes only the contract-checked MptcpApi object (README, Security)',
  },
];
const BLOCKING = new Set(['HIGH', 'MEDIUM']);
const SKIPPED_CHECKS = ['AvailableSecurityFixesGlobalCheck'];

/**
 * The `version` of a package.json.
 * @param {string} file
 * @returns {string}
 */
function packageVersion(file) {
  /** @type {unknown} */
  const pkg = JSON.parse(readFileSync(file, 'utf8'));
  if (typeof pkg !== 'object' || pkg === null || !('version' in pkg) || typeof pkg.version !== 'string')
    throw new Error(`${file}: no version`);
  return pkg.version;
}

function electronVersion() {
  const pkg = join(root, 'node_modules', 'electron', 'package.json');
  if (!existsSync(pkg)) {
    console.error('electronegativity: the electron package is not installed (npm ci first)');
    process.exit(2);
  }
  return packageVersion(pkg);
}

/**
 * @param {string} dir
 * @returns {string[]}
 */
function sourceFiles(dir) {
  return readdirSync(dir, { recursive: true })
    .map((f) => join(dir, String(f)))
    .filter((f) => /\.(m?[jt]sx?|html?)$/.test(f) && !f.includes('node_modules') && statSync(f).isFile());
}

const version = electronVersion();
const scannerVersion = packageVersion(
  fileURLToPath(import.meta.resolve('@doyensec/electronegativity/package.json')),
);
const targets = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['src-main'];
let failed = false;

for (const target of targets) {
  const input = resolve(root, target);
  const result = await run({
    input,
    isRelative: true,
    isVerbose: false,
    customScan: [],
    excludeFromScan: SKIPPED_CHECKS,
    electronVersionOverride: version,
    parserPlugins: [],
  });
  console.log(
    `electronegativity ${scannerVersion} on ${target} ` +
      `(Electron ${version}): ${result.globalChecks + result.atomicChecks} checks, ${result.issues.length} finding(s)`,
  );

  for (const e of result.errors) {
    const where = relative(root, e.file);
    if (e.tolerable) {
      console.log(`  parse warning  ${where}: ${e.message}`);
    } else {
      console.log(`  NOT SCANNED    ${where}: ${e.message}`);
      failed = true;
    }
  }

  for (const issue of result.issues) {
    const severity = issue.severity.name;
    const file = issue.file === 'N/A' ? issue.file : relative(root, resolve(input, issue.file));
    const reviewed = REVIEWED.find((r) => r.id === issue.id && r.file === file);
    const blocking = BLOCKING.has(severity) && !reviewed;
    if (blocking) failed = true;
    const verdict = blocking ? 'FAIL' : reviewed ? 'reviewed' : 'ok';
    const where = `${file}:${issue.location.line}:${issue.location.column}`;
    console.log(
      `  ${verdict.padEnd(8)} ${issue.id} ${severity}/${issue.confidence.name} ${where}` +
        (reviewed ? ` (${reviewed.why})` : blocking ? `: ${issue.description}` : ''),
    );
  }

  const files = sourceFiles(input);
  if (files.length === 0) {
    console.log(`  FAIL     no source file under ${target}`);
    failed = true;
  }
  for (const file of files) {
    const lines = readFileSync(file, 'utf8').split('\n');
    lines.forEach((line, i) => {
      if (/eng-disable/.test(line)) {
        console.log(`  FAIL     eng-disable comment at ${relative(root, file)}:${i + 1}`);
        failed = true;
      }
    });
  }
}

if (failed) {
  console.log('electronegativity: FAILED (see FAIL / NOT SCANNED above)');
  process.exit(1);
}
console.log('electronegativity: no HIGH or MEDIUM finding outside the reviewed ones');
