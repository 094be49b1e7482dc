// Talking to the samcache API. Every failure becomes an ApiError whose message is the
// server's own `error` text (or a plain description of what went wrong on the way).
// A 401 (no session, or it ended) also tells the page, which then shows the login screen;
// checkSession() does the same for requests the page cannot read the answer of.

export class ApiError extends Error {
  constructor(message, status = 0, body = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.body = body;
  }
}

// The paths whose 401 is an answer for the caller (wrong password), not a lost session.
const OWN_401 = new Set(['/api/sam/login', '/api/sam/me']);
let unauthenticated = () => {};

// `handler(error)` runs after any 401 from a call other than the login itself.
export function onUnauthenticated(handler) {
  unauthenticated = handler;
}

function tell401(error, path) {
  if (error.status === 401 && !OWN_401.has(path)) unauthenticated(error);
  return error;
}

// An <img> or an EventSource that failed cannot say why: this asks /me whether the session is
// still there and tells the page when it is not. Many thumbnails failing at once ask once.
let probing = null;
export function checkSession() {
  if (!probing) {
    probing = fetch('/api/sam/me', { headers: { Accept: 'application/json' } })
      .then((response) => {
        if (response.status === 401) unauthenticated(new ApiError('the session ended', 401));
      })
      .catch(() => {})  // the server is away: nothing to say about the session
      .finally(() => {
        probing = null;
      });
  }
  return probing;
}

function describeNetworkFailure(method, path) {
  return `${method} ${path} did not reach the samcache server (is it still running?)`;
}

// The JSON error of a failed response, or a sentence built from its status.
async function errorFrom(response, method, path) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // Not JSON: fall back to the status line below.
  }
  const message = body && typeof body.error === 'string' && body.error
    ? body.error
    : `${method} ${path} failed with HTTP ${response.status} ${response.statusText}`.trim();
  return new ApiError(message, response.status, body);
}

// Sends a request and returns the parsed JSON answer. `body` (an object) is sent as JSON.
// `signal` (an AbortSignal) cancels it: the promise then rejects with the AbortError itself.
export async function api(method, path, body = undefined, { signal } = {}) {
  const init = { method, headers: { Accept: 'application/json' }, signal };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  } else if (method === 'POST') {
    init.body = '';  // a body-less POST still needs Content-Length: 0
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    if (signal && signal.aborted) throw error;
    throw new ApiError(describeNetworkFailure(method, path));
  }
  if (!response.ok) throw tell401(await errorFrom(response, method, path), path);
  try {
    return await response.json();
  } catch (error) {
    if (signal && signal.aborted) throw error;
    throw new ApiError(`${method} ${path} answered something that is not JSON`, response.status);
  }
}

// Fetches a file to save, returning {blob, filename} (the name from Content-Disposition).
export async function download(path, fallbackName) {
  let response;
  try {
    response = await fetch(path);
  } catch {
    throw new ApiError(describeNetworkFailure('GET', path));
  }
  if (!response.ok) throw tell401(await errorFrom(response, 'GET', path), path);
  const disposition = response.headers.get('Content-Disposition') || '';
  let filename = fallbackName;
  const star = /filename\*=UTF-8''([^;]+)/i.exec(disposition);
  const plain = /filename="([^"]+)"/i.exec(disposition);
  if (star) {
    try {
      filename = decodeURIComponent(star[1]);
    } catch {
      // A malformed encoding keeps the fallback name.
    }
  } else if (plain) {
    filename = plain[1];
  }
  return { blob: await response.blob(), filename };
}

// Uploads files as multipart "images" fields with XMLHttpRequest, whose upload events give
// a real progress bar. onProgress({loaded, total, sent}) runs while the bytes go out;
// `sent` turns true once the server has them all and is processing.
export function uploadFiles(path, files, onProgress) {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    for (const file of files) form.append('images', file, file.name);
    const xhr = new XMLHttpRequest();
    xhr.open('POST', path);
    xhr.responseType = 'text';
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.addEventListener('progress', (e) => {
      if (e.lengthComputable) onProgress({ loaded: e.loaded, total: e.total, sent: false });
    });
    xhr.upload.addEventListener('load', () => onProgress({ loaded: 1, total: 1, sent: true }));
    xhr.addEventListener('load', () => {
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        // Handled below.
      }
      if (xhr.status >= 200 && xhr.status < 300 && body) return resolve(body);
      const message = body && body.error
        ? body.error
        : `the upload failed with HTTP ${xhr.status} ${xhr.statusText}`.trim();
      reject(tell401(new ApiError(message, xhr.status, body), path));
    });
    xhr.addEventListener('error', () => reject(new ApiError(
      'the upload did not reach the samcache server: it may have stopped, or refused a request ' +
      'over its size limit (--max-upload-mb)')));
    xhr.addEventListener('abort', () => reject(new ApiError('the upload was cancelled')));
    xhr.send(form);
  });
}
