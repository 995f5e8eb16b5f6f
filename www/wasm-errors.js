// What a wasm failure in a worker means, in words: the training worker (worker.js) and the
// gradient workers (parallel/gradient-worker.js) report their failures through `describe`.
//
// console_error_panic_hook writes the panic message with console.error just before the wasm
// trap ("panicked at src/x.rs:1:2:\nmessage\n\nStack: ..."); keep it so the page sees the Rust
// message instead of "unreachable".
let lastPanic = '';
const consoleError = console.error.bind(console);
console.error = (...args) => {
  const text = args.map(String).join(' ');
  if (text.startsWith('panicked at')) lastPanic = text;
  consoleError(...args);
};

/** "capacity overflow (at library/alloc/src/raw_vec/mod.rs:28:5)" from the hook's text. */
function panicMessage(text) {
  const [head, ...rest] = text.split('\n\nStack')[0].trim().split('\n');
  // Paths in the standard library and in crates start with the build machine's directories.
  const where = head.replace(/^panicked at /, '').replace(/:$/, '').replace(/^\/rustc\/[0-9a-f]+\/|^.*\/registry\/src\/[^/]+\//, '');
  const message = rest.join(' ').trim();
  return message ? `${message} (at ${where})` : head;
}

/** The error message to show; `fatal` when the wasm instance must be thrown away. */
export function describe(error) {
  if (error instanceof WebAssembly.RuntimeError) {
    // Without a panic message the trap is an abort, most likely memory running out.
    const what = lastPanic ? `a Rust panic: ${panicMessage(lastPanic)}` : `${error.message} (probably out of memory)`;
    return { fatal: true, message: `the training engine crashed with ${what}` };
  }
  return { fatal: false, message: error?.message ?? String(error) };
}

