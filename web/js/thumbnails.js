// A dataset's thumbnails: the picture, its embedding mark (⚡ cached / ⏳ not yet / ✖ failed),
// badges (duplicate, similar, objects) and its name and size; a card links to the editor.
import { checkSession } from './api.js';
import { Mark, MARK_LOOKS } from './constants.js';
import { plural } from './format.js';
import { el } from './ui.js';

// The card of the image at `index` of `count` in the dataset at `datasetHref`. `info` is what
// an upload said about the image ({duplicate, near_duplicates}), or undefined. Returns
// {card, mark, picture}: the list item, its mark (for showMark) and its <img>, whose `src`
// (the image's thumb_url) the grid sets once the card is on screen.
export function thumbnailCard(image, index, count, datasetHref, info) {
  const mark = el('span.mark');
  const picture = el('img', { alt: '', decoding: 'async', width: '256', height: '256' });
  picture.addEventListener('error', () => checkSession(), { once: true });  // a 401 means the login screen
  const card = el('li.thumb', { dataset: { imageId: image.id } },
    el('a.thumb-link', {
      href: `${datasetHref}/i/${encodeURIComponent(image.id)}`,
      'aria-label': `Open ${image.filename} (${index + 1} of ${count})`,
    },
    el('span.thumb-frame', {},
      picture),
    mark, badgesOf(image, info),
    el('span.thumb-name', { title: image.filename }, image.filename),
    el('span.thumb-size.muted', {}, `${image.width}×${image.height}`)));
  return { card, mark, picture };
}

function badgesOf(image, info) {
  const badges = el('span.badges');
  if (image.duplicate_of) {
    badges.append(el('span.badge.badge-dup', { title: `Same picture as image ${image.duplicate_of}, uploaded before` },
      'duplicate'));
  } else if (info && info.duplicate) {
    badges.append(el('span.badge.badge-dup', { title: 'This file was uploaded before (same bytes)' }, 'duplicate'));
  }
  if (info && info.near_duplicates && info.near_duplicates.length) {
    const names = info.near_duplicates.map((n) => `${n.filename} (${n.dataset_name})`).join(', ');
    badges.append(el('span.badge.badge-near', { title: `Looks like ${names}` }, '≈ similar'));
  } else if (image.near_duplicate) {
    badges.append(el('span.badge.badge-near', { title: 'Looks like another image of the project' }, '≈ similar'));
  }
  if (image.annotation_count) {
    badges.append(el('span.badge.badge-objects', {}, plural(image.annotation_count, 'object')));
  }
  return badges;
}

// Sets a card's mark to `state` (a Mark); `detail` says why a failed one failed.
export function showMark({ card, mark }, state, detail) {
  const look = MARK_LOOKS[state];
  mark.textContent = look.symbol;
  mark.className = `mark mark-${state}`;
  mark.title = detail && state === Mark.FAILED ? `${look.label}: ${detail}` : look.label;
  mark.setAttribute('aria-label', mark.title);
  card.dataset.embedding = state;
}

// The mark an image entry of the dataset starts with.
export function initialMark(image) {
  return image.embedding_cached ? Mark.CACHED : Mark.PENDING;
}

// Whether a card drawn for image record `a` shows record `b` as it is (same badges and text).
export function sameCard(a, b) {
  return a.id === b.id && a.filename === b.filename && a.width === b.width && a.height === b.height
    && a.duplicate_of === b.duplicate_of && a.annotation_count === b.annotation_count
    && Boolean(a.near_duplicate) === Boolean(b.near_duplicate);
}
