// tfjs-core's CommonJS build (what require('@tensorflow/tfjs-core') loads under Node) registers
// no gradients: the @tensorflow/tfjs union package does that by importing
// tfjs-core/dist/register_all_gradients.js, an ES module whose extensionless imports Node cannot
// load. We bundle that file once with esbuild (already installed: vite and tsx depend on it) into a
// CommonJS file in the temp dir and require it; gradients register in tfjs's global registry.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');

function registerAllGradients() {
  const core = path.dirname(require.resolve('@tensorflow/tfjs-core/package.json'));
  const version = require(path.join(core, 'package.json')).version;
  const out = path.join(os.tmpdir(), `tapegrad-bench-tfjs-gradients-${version}-${process.getuid ? process.getuid() : 0}.cjs`);
  if (!fs.existsSync(out)) {
    const { buildSync } = require('esbuild');
    const tmp = `${out}.${process.pid}`;
    buildSync({ entryPoints: [path.join(core, 'dist', 'register_all_gradients.js')], bundle: true, format: 'cjs', platform: 'node', outfile: tmp, logLevel: 'warning' });
    fs.renameSync(tmp, out);
  }
  require(out);
}
module.exports = { registerAllGradients };
