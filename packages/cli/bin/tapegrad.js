#!/usr/bin/env node
// The `tapegrad` bin: registers tsx's loader (the packages are TypeScript sources) and runs the CLI.
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
