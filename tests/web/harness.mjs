// What the browser tests share: the Chromium flags that keep the browser off the network, and
// a real `samcache serve` on a free loopback port with its own data folder.
import { spawn } from 'node:child_process';
import { join } from 'node:path';

// Flags that keep the browser off the network: only the tests' own servers on loopback.
export const CHROMIUM_ARGS = [
  '--no-sandbox',  // the tests may run as root
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-sync',
  '--disable-default-apps',
  '--disable-domain-reliability',
  '--disable-client-side-phishing-detection',
  '--disable-breakpad',
  '--metrics-recording-only',
  '--no-pings',
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost',
];

// Starts `samcache serve` in `dataDir` with `extraArgs`; resolves once it listens (and, when
// `waitFor` is given, once its output matches that too). The answer: {process, baseUrl,
// log(), match} where `match` is waitFor's match.
export function startServer(binary, dataDir, extraArgs = [], waitFor = null) {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, ['serve', '--data', join(dataDir, 'data'), '--port', '0', '--host', '127.0.0.1',
      '--log-level', 'info', ...extraArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let done = false;
    const onData = (chunk) => {
      output += chunk.toString();
      if (done) return;
      const listening = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(output);
      const match = waitFor ? waitFor.exec(output) : true;
      if (listening && match) {
        done = true;
        resolve({ process: child, baseUrl: `http://127.0.0.1:${listening[1]}`, log: () => output, match });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
    child.on('exit', (code) => {
      if (!done) reject(new Error(`samcache serve exited with ${code} before it was ready:\n${output}`));
    });
  });
}

// Stops a server started by startServer and waits for it to exit.
export async function stopServer(server) {
  if (!server || server.process.exitCode !== null) return;
  const exited = new Promise((resolve) => server.process.on('exit', resolve));
  server.process.kill('SIGTERM');
  await exited;
}

// A request from inside a page (its cookies, its origin): {status, body}.
export function pageFetch(p, method, path, body = undefined) {
  return p.evaluate(async ({ method, path, body }) => {
    const init = { method, headers: { Accept: 'application/json' } };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    const text = await response.text();
    let json = null;
    try {
      json = JSON.parse(text);
    } catch {
      // Not JSON.
    }
    return { status: response.status, body: json };
  }, { method, path, body });
}

// Uploads one PNG as a new dataset from inside a page.
export function pageUpload(p, path, bytes) {
  return p.evaluate(async ({ path, bytes }) => {
    const form = new FormData();
    form.append('images', new Blob([new Uint8Array(bytes)], { type: 'image/png' }), 'b.png');
    const response = await fetch(path, { method: 'POST', body: form });
    return { status: response.status, body: await response.json() };
  }, { path, bytes: Array.from(bytes) });
}

// What the page showed when a step failed: its address, the editor's loading line, the
// notices, and the last API requests with their answers. Collected as steps fail and printed
// once the run is over, so that the end of a long log says why.
export function failureNotes() {
  const notes = [];
  const describe = async (p) => {
    if (!p || p.isClosed()) return 'no page';
    try {
      return await p.evaluate(() => JSON.stringify({
        url: location.href,
        loading: document.querySelector('.stage-loading:not([hidden])')?.textContent ?? null,
        notices: [...document.querySelectorAll('#notices > *')].map((n) => n.textContent),
      }));
    } catch (error) {
      return `the page could not be read: ${error.message}`;
    }
  };
  return {
    // `fn` as a test body that notes the state of pageOf() and the answers when it throws.
    wrap(fn, pageOf, answers) {
      return async (t) => {
        try {
          return await fn(t);
        } catch (error) {
          const last = answers.slice(-8).map((a) => `${a.status} ${a.method} ${a.url}`).join('; ');
          notes.push(`${t.name}: ${String(error.message).split('\n')[0]} | page ${await describe(pageOf())} | last answers: ${last}`);
          throw error;
        }
      };
    },
    print() {
      for (const note of notes) console.log(`# failed step: ${note}`);
    },
  };
}
