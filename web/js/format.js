// Numbers, dates and counts as the page writes them.

export function formatBytes(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KB', 'MB', 'GB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

export function formatDate(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso || '';
  return date.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

export function plural(n, one, many = `${one}s`) {
  return `${n} ${n === 1 ? one : many}`;
}

// What a dataset's DELETE answered: deleted at once, or (a large one) deleting in the background.
export function deletedText(name, answer) {
  return answer && answer.status === 'deleting'
    ? `Deleting the dataset “${name}” in the background.`
    : `Deleted the dataset “${name}”.`;
}
