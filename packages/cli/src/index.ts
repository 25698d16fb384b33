// @tapegrad/cli: the `tapegrad` command line, and its loaders and picture writers for reuse.
export { runCli, buildProgram } from './cli.ts';
export { type Io, processIo } from './io.ts';
export { parseIdx, encodeIdx, type Idx } from './data/idx.ts';
export { loadMnist, mnistFromIdx, areaDownsample, mnistDataDir, type ImageSet, type MnistSplit } from './data/mnist.ts';
export { loadPngFolder } from './data/png-folder.ts';
export { imageGridPng, writeImageGrid, type GridOptions } from './pictures/png.ts';
export { lossCurveSvg, scatterSvg, niceTicks, type ScatterPanel } from './pictures/svg.ts';
export { ensureDir, checkWritableDir, writeFileAtomic, UsageError } from './fsx.ts';
export { PRESETS } from './presets.ts';
