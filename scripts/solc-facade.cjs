#!/usr/bin/env node
// Official Solidity compiler (npm `solc`, WebAssembly build) behind the native CLI's interface.
// py-solc-x and forge call a `solc` binary with `--version` or `--standard-json`; the bundled
// `solcjs` prints a banner before its JSON, so this facade answers exactly like the native CLI.
'use strict';

const fs = require('node:fs');
const path = require('node:path');

function usage(message) {
  process.stderr.write(`solc-facade: ${message}\n`);
  process.stderr.write('usage: solc-facade --version | --standard-json [--base-path DIR] [--include-path DIR]... [--allow-paths DIRS]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { mode: null, basePath: null, includePaths: [], allowPaths: [] };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? arg.split(/=(.*)/s, 2) : [arg, undefined];
    const value = () => {
      if (inline !== undefined) return inline;
      i += 1;
      if (i >= argv.length) usage(`${flag} needs a value`);
      return argv[i];
    };
    switch (flag) {
      case '--version':
      case '-v':
        opts.mode = 'version';
        break;
      case '--standard-json':
        opts.mode = 'standard-json';
        break;
      case '--base-path':
        opts.basePath = value();
        break;
      case '--include-path':
        opts.includePaths.push(value());
        break;
      case '--allow-paths':
        opts.allowPaths.push(...value().split(',').filter(Boolean));
        break;
      case '-':
        break;
      default:
        usage(`unsupported argument ${arg}`);
    }
  }
  if (!opts.mode) usage('one of --version or --standard-json is required');
  return opts;
}

function loadSolc() {
  try {
    return require('solc');
  } catch (err) {
    process.stderr.write(`solc-facade: the npm package "solc" is not installed (run ./scripts/install): ${err.message}\n`);
    process.exit(1);
  }
  return null;
}

// Resolve an import the compiler asks for, reading only below the base, include and allowed paths.
function importResolver(opts) {
  const roots = [opts.basePath || process.cwd(), ...opts.includePaths].map((p) => path.resolve(p));
  const allowed = [...roots, ...opts.allowPaths.map((p) => path.resolve(p))];
  const inside = (file) => allowed.some((root) => file === root || file.startsWith(root + path.sep));
  return (importPath) => {
    const candidates = path.isAbsolute(importPath) ? [importPath] : roots.map((r) => path.join(r, importPath));
    for (const candidate of candidates) {
      const file = path.resolve(candidate);
      if (!inside(file)) continue;
      try {
        return { contents: fs.readFileSync(file, 'utf8') };
      } catch (_err) {
        // try the next root
      }
    }
    return { error: `File not found inside the allowed paths: ${importPath}` };
  };
}

function readStdin() {
  try {
    return fs.readFileSync(0, 'utf8');
  } catch (err) {
    process.stderr.write(`solc-facade: cannot read standard input: ${err.message}\n`);
    process.exit(1);
  }
  return '';
}

const opts = parseArgs(process.argv.slice(2));
const solc = loadSolc();
if (opts.mode === 'version') {
  process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`);
} else {
  // Like the native CLI: compile errors (and malformed input) come back inside the output JSON, exit 0.
  const output = solc.compile(readStdin(), { import: importResolver(opts) });
  process.stdout.write(output.endsWith('\n') ? output : `${output}\n`);
}
