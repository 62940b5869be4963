// Runs the Go engine's benchmark definition (internal/asl/testdata/bench.asl.json) on aws-local-stepfunctions with
// the same in-process task handlers as BenchmarkExecution, and prints executions per second. run.sh compares it
// with the Go figure measured in the same run.
//
// Usage: node bench.mjs [seconds]   (default 5; one warm-up second first)
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

// aws-local-stepfunctions 3 calls Promise.withResolvers, which Node gained in 22; polyfill it on Node 20.
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function withResolvers() {
    let resolve;
    let reject;
    const promise = new Promise((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}

const { StateMachine } = await import('aws-local-stepfunctions');

const defPath = fileURLToPath(new URL('../../internal/asl/testdata/bench.asl.json', import.meta.url));
const definition = JSON.parse(await readFile(defPath, 'utf8'));
const seconds = Number(process.argv[2] ?? 5);

// The handlers of internal/asl/bench_test.go, keyed by the Task states that use them.
const validate = async () => ({ ok: true });
const branch = async (input) => input;
const double = async (input) => 2 * input.value;
const overrides = {
  taskResourceLocalHandlers: { Validate: validate, BranchA: branch, BranchC: branch, Double: double },
};

const machine = new StateMachine(definition);
const input = { request: 'r1' };
const want = JSON.stringify({
  count: 10,
  fanout: [{ branch: 'A', n: 5 }, { branch: 'B', count: 10 }, { branch: 'C', n: 5 }],
  message: 'processed 10 items',
});

async function runOnce() {
  return machine.run(input, { overrides }).result;
}

// Same output as the Go engine, or the comparison means nothing.
const got = JSON.stringify(await runOnce());
if (got !== want) {
  console.error(`aws-local-stepfunctions output ${got}, want ${want}`);
  process.exit(1);
}

// runFor runs executions one after the other for ms milliseconds of wall time, as BenchmarkExecution does, and
// measures wall time and the process's CPU time (all threads, garbage collector included).
async function runFor(ms) {
  let n = 0;
  const cpu0 = process.cpuUsage();
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(ms * 1e6));
  let now = start;
  while (now < deadline) {
    await runOnce();
    n++;
    now = process.hrtime.bigint();
  }
  const cpu = process.cpuUsage(cpu0);
  return { n, wall: Number(now - start) / 1e9, cpu: (cpu.user + cpu.system) / 1e6 };
}

await runFor(1000); // warm-up: let the JIT settle
const { n, wall, cpu } = await runFor(seconds * 1000);
const { version } = JSON.parse(
  await readFile(fileURLToPath(new URL('node_modules/aws-local-stepfunctions/package.json', import.meta.url)), 'utf8'),
);
// run.sh reads the numbers before "executions/s" and "executions/cpu-s", as in the Go benchmark's output.
console.log(
  `aws-local-stepfunctions ${version} (node ${process.version}): ${n} executions in ${wall.toFixed(2)}s ` +
    `${(n / wall).toFixed(1)} executions/s ${(n / cpu).toFixed(1)} executions/cpu-s`,
);
