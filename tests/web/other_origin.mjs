// The second loopback origin of accounts_page.test.mjs (127.0.0.1 on another port: another
// origin, the same site, so the browser sends samcache's SameSite=Strict cookie along).
// /attack?victim=<dataset id> tries to change samcache with the visitor's cookie: a no-cors
// upload, a DELETE, a JSON-as-text POST (their outcomes logged as "results {...}"), then a
// multipart form it submits itself. /frame shows samcache in an iframe.
import { createServer } from 'node:http';

function attackPage(target, victim, png) {
  const b64 = png.toString('base64');
  return `<!doctype html><meta charset="utf-8"><title>another site</title>
<form id="form" method="post" enctype="multipart/form-data" action="${target}/api/sam/dataset/init?name=from-form">
  <input type="file" name="images" id="file">
</form>
<script>
(async () => {
  const bytes = Uint8Array.from(atob('${b64}'), (c) => c.charCodeAt(0));
  const results = {};
  const form = new FormData();
  form.append('images', new Blob([bytes], { type: 'image/png' }), 'x.png');
  try {
    const r = await fetch('${target}/api/sam/dataset/init?name=from-fetch', { method: 'POST', mode: 'no-cors', credentials: 'include', body: form });
    results.post = r.type;
  } catch (e) { results.post = 'failed: ' + e.message; }
  try {
    const r = await fetch('${target}/api/sam/dataset/${victim}', { method: 'DELETE', credentials: 'include' });
    results.delete = 'status ' + r.status;
  } catch (e) { results.delete = 'failed: ' + e.message; }
  try {
    const r = await fetch('${target}/api/sam/projects', { method: 'POST', mode: 'no-cors', credentials: 'include', body: '{"name": "from-csrf"}' });
    results.project = r.type;
  } catch (e) { results.project = 'failed: ' + e.message; }
  console.log('results ' + JSON.stringify(results));
  const file = new DataTransfer();
  file.items.add(new File([bytes], 'y.png', { type: 'image/png' }));
  document.getElementById('file').files = file.files;
  document.getElementById('form').submit();
})();
</script>`;
}

function framePage(target) {
  return `<!doctype html><meta charset="utf-8"><title>framing</title>
<iframe id="frame" src="${target}/" width="800" height="600"></iframe>`;
}

// Serves the attacker's pages against samcache at `target`, with `png` as the picture it
// uploads. Resolves {url, close()}.
export function startOtherOrigin(target, png) {
  return new Promise((resolve) => {
    const server = createServer((req, res) => {
      const url = new URL(req.url, 'http://127.0.0.1');
      let html = null;
      if (url.pathname === '/attack') html = attackPage(target, url.searchParams.get('victim'), png);
      if (url.pathname === '/frame') html = framePage(target);
      if (html === null) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(html);
    });
    server.listen(0, '127.0.0.1', () => resolve({
      url: `http://127.0.0.1:${server.address().port}`,
      close: () => new Promise((done) => server.close(done)),
    }));
  });
}
