// The objects saved on the image (its annotations): a list with each object's colour, name,
// the model that made its mask, area and a delete button, and the names already used, offered
// in the name field.
import { el, clear, confirmAction } from '../ui.js';
import { colourOf, rgb } from './canvas.js';

export class ObjectsPanel {
  // onDelete(annotation) runs once the person has confirmed deleting that object; modelName(id)
  // names the model with that id.
  constructor({ onDelete, modelName }) {
    this.onDelete = onDelete;
    this.modelName = modelName;
    this.readOnly = false;  // a viewer's list: no delete buttons
    this.title = el('h2.side-title', {}, 'Objects');
    this.list = el('ul.objects#objects');
    this.categories = el('datalist#categories');  // for the name field's `list`
  }

  // Shows `objects` ([{annotation}], in drawing order, so the colours match the canvas).
  render(objects) {
    clear(this.list);
    this.title.textContent = objects.length ? `Objects (${objects.length})` : 'Objects';
    if (objects.length === 0) {
      this.list.append(el('li.empty', {}, this.readOnly ? 'None.' : 'None yet: segment an object, name it and save it.'));
    }
    objects.forEach(({ annotation }, i) => this.list.append(this.row(annotation, i)));
    clear(this.categories);
    const names = new Set(objects.map((o) => o.annotation.category));
    for (const name of names) this.categories.append(el('option', { value: name }));
  }

  row(annotation, index) {
    const remove = this.readOnly ? null : this.removeButton(annotation);
    const model = annotation.model_id ? this.modelName(annotation.model_id) : '';
    return el('li.object', { dataset: { annotationId: annotation.id } },
      el('span.swatch', { style: `background: ${rgb(colourOf(index))}`, 'aria-hidden': 'true' }),
      el('span.object-text', {},
        el('span.object-name', {}, annotation.category),
        model ? el('span.object-model.muted', { title: `Mask made by ${model}` }, model) : null),
      el('span.object-area.muted', {}, `${annotation.area} px`),
      remove);
  }

  removeButton(annotation) {
    const remove = el('button.btn.btn-quiet.btn-icon', {
      type: 'button', 'aria-label': `Delete object ${annotation.category}`, title: 'Delete this object',
    }, '×');
    remove.addEventListener('click', async () => {
      if (!(await confirmAction(`Delete the object “${annotation.category}”?`))) return;
      this.onDelete(annotation);
    });
    return remove;
  }
}
