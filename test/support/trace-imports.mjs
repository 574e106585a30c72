// Registers a module-resolution hook that appends every resolved module URL to
// the file named by ARGOS_TRACE_FILE: how the tests prove `--help` loads no AWS SDK.
import { register } from 'node:module';

register('./trace-imports-hooks.mjs', import.meta.url);
