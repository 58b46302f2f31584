// Comments must cite what a reader of this repository can open: a uapi header, an RFC (with its
// section), a man page, or a file in docs/. This check fails on references that point into notes
// nobody can open ("reference §1.4", "(G11)", "seed §3", "issue #5"), on a bare "§2.1" that names
// no document, and on a docs/*.md path that does not exist. Part of `npm run lint`.
//
//   node scripts/check-citations.mjs
import { existsSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const files = execFileSync('git', ['ls-files', '-co', '--exclude-standard'], { cwd: root, encoding: 'utf8' })
  .split('\n')
  .filter((f) => /^(shared|src-main|src-renderer|bench|scripts|bpf|e2e|eslint-rules|packaging)\//.test(f))
  .filter((f) => /\.(ts|tsx|mjs|js|c|h|service|md)$/.test(f))
  .filter((f) => f !== 'scripts/check-citations.mjs' && existsSync(join(root, f)));

/** What a § must follow to name an openable document: an RFC, a draft, a docs/ file, a man page. */
const OPENABLE_BEFORE =
  /(RFC ?\d+|draft-[\w-]+|\.md|\(\d\)|Documentation\/[\w/.-]+|ip-sysctl\.rst)[\s,]*(section )?$/i;

const RULES = [
  { re: /\b(reference|seed|notes?) §/i, why: 'points into notes a reader cannot open' },
  { re: /\(G\d{1,2}(, ?G?\d{1,2})*\)|\bG\d{1,2}\b(?![\w-])/, why: 'a "G<n>" reference a reader cannot open' },
  { re: /\bissue #\d+/i, why: 'an issue number: say what it was about instead' },
];

/** @type {string[]} */
const problems = [];
for (const f of files) {
  const lines = readFileSync(join(root, f), 'utf8').split('\n');
  lines.forEach((line, i) => {
    for (const { re, why } of RULES) {
      if (re.test(line)) problems.push(`${f}:${i + 1}: ${why}: ${line.trim()}`);
    }
    for (const m of line.matchAll(/§\s?\d/g)) {
      const before = line.slice(Math.max(0, (m.index ?? 0) - 40), m.index);
      if (!OPENABLE_BEFORE.test(before) && !RULES.some(({ re }) => re.test(line))) {
        problems.push(`${f}:${i + 1}: "§" without the document it is a section of: ${line.trim()}`);
      }
    }
    for (const m of line.matchAll(/\bdocs\/[\w./-]+\.md\b/g)) {
      if (!existsSync(join(root, m[0]))) problems.push(`${f}:${i + 1}: ${m[0]} does not exist`);
    }
  });
}
if (problems.length > 0) {
  console.error(problems.join('\n'));
  console.error(`\n${problems.length} citation(s) a reader cannot open (scripts/check-citations.mjs)`);
  process.exit(1);
}
console.log(`citations: ${files.length} files checked, every reference can be opened`);
