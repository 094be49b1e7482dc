// Files from a drop or a picker. A dropped folder is walked (webkitGetAsEntry), so dropping
// a folder of photos uploads every file in it and its sub-folders.

function readAllEntries(reader) {
  // readEntries answers in batches until it returns an empty one.
  return new Promise((resolve, reject) => {
    const all = [];
    const next = () => reader.readEntries((batch) => {
      if (batch.length === 0) return resolve(all);
      all.push(...batch);
      next();
    }, reject);
    next();
  });
}

function fileOf(entry) {
  return new Promise((resolve, reject) => entry.file(resolve, reject));
}

async function walk(entry, out) {
  if (entry.name.startsWith('.')) return;  // .DS_Store, .thumbnails and other hidden files
  if (entry.isFile) {
    out.push(await fileOf(entry));
  } else if (entry.isDirectory) {
    const children = await readAllEntries(entry.createReader());
    children.sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true }));
    for (const child of children) await walk(child, out);
  }
}

// The files of a drop, folders expanded, in name order within each folder.
export async function filesFromDrop(dataTransfer) {
  const items = Array.from(dataTransfer.items || []).filter((item) => item.kind === 'file');
  // Entries must be taken synchronously, before the first await: the list empties afterwards.
  const entries = items.map((item) => (item.webkitGetAsEntry ? item.webkitGetAsEntry() : null));
  if (entries.length === 0 || entries.some((entry) => entry === null)) {
    return Array.from(dataTransfer.files || []);
  }
  const out = [];
  for (const entry of entries) await walk(entry, out);
  return out;
}

// The files chosen in an <input type=file> (a folder picker gives its files, hidden ones left out).
export function filesFromInput(input) {
  return Array.from(input.files || []).filter((file) => {
    const path = file.webkitRelativePath || file.name;
    return !path.split('/').some((part) => part.startsWith('.'));
  });
}

// Makes `zone` accept drops: onFiles(files) runs with the dropped files. The page itself
// ignores drops elsewhere, so a missed drop never navigates away to the file.
export function acceptDrops(zone, onFiles, onError) {
  let depth = 0;
  zone.addEventListener('dragenter', (e) => {
    if (!Array.from(e.dataTransfer.types).includes('Files')) return;
    e.preventDefault();
    depth += 1;
    zone.classList.add('drag-over');
  });
  zone.addEventListener('dragover', (e) => {
    if (!Array.from(e.dataTransfer.types).includes('Files')) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = 'copy';
  });
  zone.addEventListener('dragleave', () => {
    depth = Math.max(0, depth - 1);
    if (depth === 0) zone.classList.remove('drag-over');
  });
  zone.addEventListener('drop', async (e) => {
    e.preventDefault();
    depth = 0;
    zone.classList.remove('drag-over');
    try {
      const files = await filesFromDrop(e.dataTransfer);
      if (files.length === 0) throw new Error('the drop held no files');
      onFiles(files);
    } catch (error) {
      onError(error instanceof Error ? error : new Error(String(error)));
    }
  });
}

let pageDropGuard = false;
export function guardPageDrops() {
  if (pageDropGuard) return;
  pageDropGuard = true;
  for (const type of ['dragover', 'drop']) {
    window.addEventListener(type, (e) => {
      if (e.defaultPrevented) return;
      e.preventDefault();
      if (type === 'dragover') e.dataTransfer.dropEffect = 'none';
    });
  }
}
