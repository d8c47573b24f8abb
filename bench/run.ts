// npm run bench [-- name...]: runs the named benchmarks (default: all), writes bench/results/*.json
// and then bench/results/report.md from every result file there.
import { runApiBench } from './api.js';
import { runBindingsBench } from './bindings.js';
import { runBootstrapBench } from './bootstrap.js';
import { runCoapEndpointBench } from './coap-endpoint.js';
import { runCoapBench } from './coap.js';
import { runContentBench } from './content.js';
import { runDtlsBench } from './dtls.js';
import { runFirmwareBench } from './firmware.js';
import { runFleetBench } from './fleet.js';
import { writeMarkdownReport } from './lib/markdown-report.js';
import { machineDescription } from './lib/report.js';
import { runStoresBench } from './stores.js';

const benches: Record<string, () => void | Promise<void>> = {
  content: runContentBench,
  coap: runCoapBench,
  'coap-endpoint': runCoapEndpointBench,
  stores: runStoresBench,
  api: runApiBench,
  dtls: runDtlsBench,
  bootstrap: runBootstrapBench,
  bindings: runBindingsBench,
  fleet: runFleetBench,
  firmware: runFirmwareBench,
};

const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const names = wanted.length > 0 ? wanted : Object.keys(benches);
console.log(`Petrel benchmarks on ${machineDescription()}, Node ${process.version}`);
for (const name of names) {
  const run = benches[name];
  if (!run) {
    console.error(`unknown benchmark "${name}"; known: ${Object.keys(benches).join(', ')}`);
    process.exit(2);
  }
  await run();
}
console.log(`-> ${writeMarkdownReport()}`);
