// Records every module the process loads in the file named by ARGOS_TRACE_FILE:
// how the tests prove `--help` loads no AWS SDK. ES modules through a resolution
// hook; CommonJS ones (require, as cli.ts loads commander) through the CommonJS
// loader's resolver, which the ESM hook does not see.
import { appendFileSync } from 'node:fs';
import Module, { register } from 'node:module';

register('./trace-imports-hooks.mjs', import.meta.url);

const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function traceResolveFilename(...args) {
  const filename = resolveFilename.apply(this, args);
  appendFileSync(process.env.ARGOS_TRACE_FILE, `${filename}\n`);
  return filename;
};
