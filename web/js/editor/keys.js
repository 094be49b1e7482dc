// The editor's keyboard shortcuts: ← and → move between images, Z undoes the last prompt, Esc
// removes every prompt. Keys typed into a field or a select (the arrows choose there), with
// Ctrl or ⌘, or while a dialog is open are left alone.

function typingIn(target) {
  return target && (target.tagName === 'INPUT' || target.tagName === 'TEXTAREA' || target.tagName === 'SELECT'
    || target.isContentEditable);
}

// Listens on the document until the returned function is called. hasPrompts() says whether
// there is anything to undo or clear.
export function bindKeys({ previous, next, undo, clear, hasPrompts }) {
  const onKey = (e) => {
    if (e.defaultPrevented || e.ctrlKey || e.metaKey) return;
    if (typingIn(e.target)) return;
    if (document.querySelector('dialog[open]')) return;
    if (e.key === 'ArrowLeft') {
      e.preventDefault();
      previous();
    } else if (e.key === 'ArrowRight') {
      e.preventDefault();
      next();
    } else if (e.key === 'z' || e.key === 'Z') {
      if (hasPrompts()) undo();
    } else if (e.key === 'Escape') {
      if (hasPrompts()) clear();
    }
  };
  document.addEventListener('keydown', onKey);
  return () => document.removeEventListener('keydown', onKey);
}
