// The `tapegrad` command line (commander). runCli(argv, io) returns the exit code:
//   0 success, 1 a failure while working, 2 a usage error (bad or unknown flag, bad value,
//   unusable output folder, bad TAPEGRAD_BACKEND; found before any work starts), 130 Ctrl-C
//   during training (after writing a checkpoint).

import { Command, CommanderError, Option } from 'commander';
import { SAMPLERS } from '@tapegrad/ddpm';
import { UsageError } from './fsx.ts';
import { processIo, type Io } from './io.ts';
import { BACKENDS, choiceArg, intArg, numArg } from './options.ts';
import { PRESET_NAMES } from './presets.ts';
import { trainCommand } from './commands/train.ts';
import { sampleCommand } from './commands/sample.ts';
import { evalCommand } from './commands/eval.ts';
import { exportCommand } from './commands/export.ts';
import { IMAGE_EVAL_DEFAULTS } from './commands/eval-images.ts';
import { CLASSIFIER_DEFAULTS, trainClassifierCommand } from './commands/train-classifier.ts';

const backendOption = () => new Option('--backend <name>', `compute backend (default: $TAPEGRAD_BACKEND or webasm)`).argParser(choiceArg(BACKENDS));

function listArg(parse: (v: string) => number) {
  return (v: string) => v.split(',').map((s) => parse(s.trim()));
}

export function buildProgram(io: Io, run: (p: Promise<number>) => void): Command {
  const program = new Command('tapegrad')
    .description('Train, sample, evaluate and export diffusion models with tapegrad')
    .exitOverride()
    .showHelpAfterError('(add --help for usage)')
    .configureOutput({ writeOut: (s) => io.stdout(s), writeErr: (s) => io.stderr(s) });
  const sub = (name: string) => program.command(name).exitOverride().showHelpAfterError('(add --help for usage)').configureOutput({ writeOut: (s) => io.stdout(s), writeErr: (s) => io.stderr(s) });

  sub('train')
    .description('train a diffusion model; writes a run folder (config.json, metrics.csv, samples/, loss.svg, checkpoints/)')
    .option('--data <name>', `mnist | moons | swissroll | 8gaussians | ring | a folder of PNG images`)
    .addOption(new Option('--preset <name>', `a named configuration: ${PRESET_NAMES.join(', ')} (their flags are listed in the README)`).argParser(choiceArg(PRESET_NAMES)))
    .option('--conditional', 'class-conditional training with label dropout (labelled image data)')
    .option('--steps <n>', 'optimizer steps', intArg(1))
    .option('--batch-size <n>', 'batch size', intArg(1))
    .option('--lr <x>', 'peak learning rate of AdamW (linear warm-up over 5% of the steps, cosine decay to 1%)', numArg(0))
    .option('--image-size <n>', 'MNIST image size: 28 or 14 (area down-sampling)', intArg(1))
    .option('--seed <n>', 'seed of the init, data, noise and sample keys', intArg(0, 2 ** 31 - 1))
    .addOption(backendOption())
    .option('--out <dir>', 'run folder (default runs/<preset or data>)')
    .option('--resume <run>', 'continue the run in this folder from its latest checkpoint')
    .option('--overwrite', 'allow --out to be a folder that already holds a run')
    .option('--log-every <n>', 'read the loss back and write a metrics.csv row every n steps', intArg(1))
    .option('--sample-every <n>', 'write samples/step-NNNNNN from the EMA weights every n steps (0: never)', intArg(0))
    .option('--checkpoint-every <n>', 'write a checkpoint every n steps (and at the end)', intArg(1))
    .option('--keep <n>', 'checkpoints to keep (default 3)', intArg(1))
    .option('--grad-clip <x>', 'clip gradients to this global L2 norm (default: off for 2-D, 1 for images)', numArg(0))
    .option('--unet-channels <list>', 'image runs: comma-separated blockOutChannels of the UNet, one per resolution, attention at the lowest (default 32,64)', listArg(intArg(1, 4096)))
    .option('--quiet', 'print only the summary')
    .option('--eager', 'run each update op by op instead of compiled (@tapegrad/compile traces one update and replays it; the default); same results bit for bit')
    .action((opts) => run(trainCommand(opts, io)));

  sub('sample')
    .description('sample a trained run; for 2-D data an SVG scatter plot over the data')
    .requiredOption('--checkpoint <run>', 'a run folder written by `tapegrad train` (or a diffusers pipeline folder)')
    .addOption(new Option('--sampler <name>', 'the sampler').argParser(choiceArg(SAMPLERS)).default('ddim'))
    .option('--steps <n>', 'sampling steps', intArg(1), 50)
    .option('--guidance <s>', 'classifier-free guidance scale (class-conditional models)', numArg(0, Infinity, false))
    .option('--class <k>', 'the class to sample (class-conditional models)', intArg(0))
    .option('--n <n>', 'number of samples (default 1000 for 2-D)', intArg(1))
    .option('--seed <n>', 'seed of the sampling noise', intArg(0, 2 ** 31 - 1))
    .option('--out <file>', 'output picture (default <run>/sample-<sampler>-<steps>.svg)')
    .option('--trajectory', 'draw x_t and the x0 estimate at six points of the reverse process')
    .option('--eager', 'run each denoising step op by op instead of compiled (the default); same samples bit for bit')
    .addOption(backendOption())
    .action((opts) => run(sampleCommand(opts, io)));

  sub('eval')
    .description('score a trained run; writes <run>/eval.json. 2-D: MMD and energy distance vs fresh data. MNIST: classifier accuracy of class-conditional samples, Frechet distance in the classifier\'s features vs the test digits (beside the train-vs-test floor), bits/dim on held-out test digits')
    .requiredOption('--checkpoint <run>', 'a run folder written by `tapegrad train`')
    .option('--n <n>', `2-D: samples per sampler and size of the fresh data (default 1000); MNIST: samples per class (default ${IMAGE_EVAL_DEFAULTS.perClass}; unconditional runs: samples, default ${IMAGE_EVAL_DEFAULTS.n})`, intArg(2))
    .option('--bandwidth <list>', '2-D: comma-separated RBF bandwidths of the MMD (default 0.5,0.2)', listArg(numArg(0)))
    .option('--samplers <list>', `2-D: comma-separated samplers (default all: ${SAMPLERS.join(',')})`, (v: string) => v.split(',').map((s) => choiceArg(SAMPLERS)(s.trim())))
    .addOption(new Option('--sampler <name>', `MNIST: the sampler (default ${IMAGE_EVAL_DEFAULTS.sampler})`).argParser(choiceArg(SAMPLERS)))
    .option('--steps <n>', `MNIST: sampling steps (default ${IMAGE_EVAL_DEFAULTS.steps})`, intArg(1))
    .option('--guidance <s>', `MNIST, class-conditional: classifier-free guidance scale (default ${IMAGE_EVAL_DEFAULTS.guidance})`, numArg(0, Infinity, false))
    .option('--classes <list>', 'MNIST, class-conditional: comma-separated classes to sample (default all)', listArg(intArg(0)))
    .option('--seed <n>', 'MNIST: seed of the sampling noise, the floor digits and the bound', intArg(0, 2 ** 31 - 1))
    .option('--classifier <dir>', 'MNIST: the classifier folder (default runs/mnist-classifier-<size>; trained there first if missing)')
    .option('--reference-n <n>', 'MNIST: test digits in the Frechet reference (default all 10000)', intArg(2))
    .option('--bpd-n <n>', `MNIST: held-out test digits for bits/dim (default ${IMAGE_EVAL_DEFAULTS.bpdN}; 0: skip)`, intArg(0, 10000))
    .option('--bpd-timesteps <k>', `MNIST: timesteps of the bound per batch (default ${IMAGE_EVAL_DEFAULTS.bpdTimesteps}: a stratified estimate; 1000: the exact bound)`, intArg(2))
    .option('--batch <n>', `MNIST: images per model call (default ${IMAGE_EVAL_DEFAULTS.batch})`, intArg(1))
    .option('--quiet', 'MNIST: print only the table')
    .option('--eager', 'sample op by op instead of compiled denoising steps (the default); same results')
    .addOption(backendOption())
    .action((opts) => run(evalCommand(opts, io)));

  sub('train-classifier')
    .description('train the small MNIST CNN that `eval` scores image runs with; saves runs/mnist-classifier-<size>/ (classifier.safetensors + classifier.json with its test accuracy)')
    .option('--image-size <n>', 'digit size: 28 or 14 (2x2 area down-sampling, as `train --image-size 14`)', intArg(1))
    .option('--epochs <n>', `passes over the 60,000 training digits (default ${CLASSIFIER_DEFAULTS.epochs[28]} for 28x28, ${CLASSIFIER_DEFAULTS.epochs[14]} for 14x14)`, intArg(1))
    .option('--batch-size <n>', `batch size (default ${CLASSIFIER_DEFAULTS.batchSize})`, intArg(1))
    .option('--lr <x>', `Adam learning rate, cosine-decayed to 5% (default ${CLASSIFIER_DEFAULTS.lr})`, numArg(0))
    .option('--seed <n>', 'seed of the init and the data order', intArg(0, 2 ** 31 - 1))
    .addOption(backendOption())
    .option('--out <dir>', 'output folder (default runs/mnist-classifier-<size>, where eval looks)')
    .option('--limit <n>', 'train on the first n training digits only (quick checks)', intArg(1))
    .option('--test-limit <n>', 'measure the accuracy on the first n test digits only', intArg(1))
    .option('--quiet', 'print only the summary')
    .action((opts) => run(trainClassifierCommand(opts, io)));

  sub('export')
    .description('export an image run (EMA weights) as a diffusers DDPMPipeline folder')
    .requiredOption('--checkpoint <run>', 'a run folder')
    .addOption(new Option('--format <name>', 'export format').argParser(choiceArg(['diffusers'] as const)).makeOptionMandatory())
    .requiredOption('--out <dir>', 'output folder')
    .addOption(backendOption())
    .action((opts) => run(exportCommand(opts, io)));

  return program;
}

/** Run the CLI on argv (without 'node' and the script); resolves to the exit code. */
export async function runCli(argv: readonly string[], io: Io = processIo): Promise<number> {
  let pending: Promise<number> | null = null;
  const program = buildProgram(io, (p) => { pending = p; });
  try {
    await program.parseAsync([...argv], { from: 'user' });
    if (pending === null) return 0;
    return await (pending as Promise<number>);
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
      if (e.code === 'commander.executeSubCommandAsync') return 0;
      return 2; // commander has printed "error: ..." and the help hint
    }
    if (e instanceof UsageError) {
      io.stderr(`error: ${e.message}\n(add --help for usage)\n`);
      return 2;
    }
    io.stderr(`${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}
