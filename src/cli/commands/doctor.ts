// `neuralc doctor [--json]`: versions, where libtorch was found, CUDA, threads, the allocator and a
// self-test, for when something is wrong or slow. Exit 1 when the addon does not load or a check fails.
import path from 'path';
import { doctorReport, type DoctorReport, type LibtorchPlace, type SelfTest } from '../../tools/doctor';
import { jsonText, packageVersion, parseArgs, UsageError, type Command, type Io } from '../command';

const size = (bytes: number): string =>
  bytes < 2 ** 20 ? `${(bytes / 2 ** 10).toFixed(1)} KB` : `${(bytes / 2 ** 20).toFixed(1)} MB`;

function buildLine(searchPath: LibtorchPlace[], build: LibtorchPlace | undefined, error: string | null): string {
  if (error) return `npm run build would stop: ${error}`;
  if (build) return `npm run build would use ${build.dir} (${build.source})`;
  const [first] = searchPath;
  if (first.source === 'LIBTORCH') return `npm run build would stop: LIBTORCH=${first.dir} holds no libtorch`;
  return `npm run build finds none of ${searchPath.map((place) => place.dir).join(', ')}: it would fetch the wheel with pip`;
}

function libtorchLines({ libtorch }: DoctorReport): string[] {
  const { compiledVersion, loadedVersion, loadedFrom, searchPath, buildWouldUse, searchError } = libtorch;
  const versions = compiledVersion
    ? `${loadedVersion ?? 'version not stated'} (the addon was compiled against ${compiledVersion})`
    : 'not loaded';
  const build = searchPath.find((place) => place.dir === buildWouldUse);
  const switches = loadedFrom && build && !loadedFrom.startsWith(path.join(build.dir, path.sep));
  return [
    `libtorch   ${versions}`,
    ...(loadedFrom ? [`           loaded from ${loadedFrom}`] : []),
    `           ${buildLine(searchPath, build, searchError)}`,
    ...(switches ? ['           (not the loaded one: a rebuild would switch libtorch)'] : []),
  ];
}

function allocatorLine({ addon, allocator }: DoctorReport): string {
  if (!addon.loaded) return 'allocator  unknown (the addon did not load)';
  if (!allocator) return "allocator  libtorch's own (NC_MALLOC_DEFAULTS is set)";
  const { liveBytes, peakBytes, cachedBytes, cacheLimitBytes } = allocator;
  return `allocator  caching: ${size(liveBytes)} live, ${size(peakBytes)} peak, ${size(cachedBytes)} cached of ${size(cacheLimitBytes)}`;
}

function selfTestLine(test: SelfTest): string {
  if (test.skipped) return `  ${'n/a'.padEnd(15)}  ${test.name} (${test.skipped})`;
  const status = `${test.ok ? 'ok  ' : 'FAIL'} ${`${test.ms.toFixed(1)} ms`.padStart(10)}`;
  return `  ${status}  ${test.name}${test.error ? `\n        ${test.error}` : ''}`;
}

function verdict({ addon, selfTest }: DoctorReport): string {
  if (!addon.loaded) return 'the native addon did not load (the error above says how to fix it)';
  const failed = selfTest.filter((t) => !t.ok).length;
  return failed === 0 ? 'all self-tests passed' : `${failed} self-test(s) failed`;
}

function textReport(version: string, report: DoctorReport): string {
  const { node, addon, cuda, nccl, threads, environment, selfTest } = report;
  const env = Object.entries(environment).map(([name, value]) => `${name}=${value}`);
  const lines = [
    `neural-compiler ${version} on Node ${node.version} (N-API ${node.napi}), ${node.platform} ${node.arch}, ${node.cores} cores`,
    `addon      ${addon.path}${addon.loaded ? '' : ' (did not load)'}`,
    ...libtorchLines(report),
    `CUDA       ${cuda ? cuda.summary : 'unknown (the addon did not load)'}`,
    `NCCL       ${nccl ? nccl.summary : 'unknown (the addon did not load)'}`,
    `threads    ${threads === null ? 'unknown' : `${threads} libtorch thread(s) (setNumThreads; 1 by default)`}`,
    allocatorLine(report),
    `environment ${env.length > 0 ? env.join(' ') : '(no relevant variables set)'}`,
    'self-test',
    ...selfTest.map(selfTestLine),
    verdict(report),
  ];
  return `${lines.join('\n')}\n`;
}

/** Prints the report (text, or one JSON document with --json) and returns the exit code. */
export function printReport(report: DoctorReport, io: Io, json: boolean): number {
  const version = packageVersion();
  // The load error is the actionable part when the addon is missing: stderr too, as other commands say it.
  if (report.addon.error) io.stderr(`error: ${report.addon.error}\n`);
  io.stdout(json ? `${jsonText({ version, ...report })}\n` : textReport(version, report));
  return report.ok ? 0 : 1;
}

export const doctor: Command = {
  summary: 'check the installation: versions, libtorch, CUDA, threads, memory and a self-test',
  usage:
    'neuralc doctor [--json]\n' +
    '      Prints the addon and libtorch versions and where they were found (and where `npm run build` would\n' +
    '      look), whether libtorch has CUDA and which devices are visible, NCCL (built, the version loaded), the\n' +
    '      thread count, the CPU allocator figures, the relevant environment variables, and a self-test: parse,\n' +
    '      compile, forward, backward and a fit on each device, the small-program tier and one-rank distributed\n' +
    '      fits (Gloo; NCCL where it runs), checked against values computed in float64.\n' +
    '      --json prints the same facts as one JSON document ({"ok", "version", "node", "addon", "libtorch",\n' +
    '      "cuda", "nccl", "threads", "allocator", "environment", "selfTest": [{"name", "ok", "ms", "error"}]}).\n' +
    '      Exit codes: 0 every check passed, 1 the addon did not load or a check failed, 2 bad arguments.',
  async run(args, io) {
    const { positional, options } = parseArgs(args, [], ['json']);
    if (positional.length > 0) throw new UsageError(`doctor takes no arguments, got ${positional.join(' ')}`);
    return printReport(await doctorReport(), io, options.has('json'));
  },
};
