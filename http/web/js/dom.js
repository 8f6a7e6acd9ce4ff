// Building and updating the page without HTML strings: every piece of text
// from the server goes in as a text node, never as markup.

/**
 * h('button', {class: 'big', onclick: fn, 'aria-label': 'Bid'}, 'Bid', child)
 * Props: `class`, `text`, `dataset` (object), `on<event>` handlers, boolean
 * attributes (true/false), anything else as an attribute.
 */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  if (props) {
    for (const [key, value] of Object.entries(props)) {
      if (value === undefined || value === null || value === false) continue;
      if (key === 'class') el.className = value;
      else if (key === 'text') el.textContent = value;
      else if (key === 'dataset') Object.assign(el.dataset, value);
      else if (key.startsWith('on') && typeof value === 'function') {
        el.addEventListener(key.slice(2), value);
      } else if (key === 'value') el.value = value;
      else if (value === true) el.setAttribute(key, '');
      else el.setAttribute(key, String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
}

/** Replace an element's children. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** Set text only when it changed (no needless layout work at 20 frames a second). */
export function setText(el, text) {
  const value = String(text ?? '');
  if (el.textContent !== value) el.textContent = value;
}

/** Toggle `hidden`. */
export function show(el, visible) {
  if (el.hidden === !!visible) el.hidden = !visible;
}

/** A labelled form field. */
export function field(label, input, hint) {
  const id = input.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  input.id = id;
  return h('div', { class: 'field' },
    h('label', { for: id }, label),
    input,
    hint ? h('small', { class: 'hint' }, hint) : null);
}

/** Form values as an object (trimmed strings). */
export function values(form) {
  const out = {};
  for (const [key, value] of new FormData(form).entries()) {
    out[key] = typeof value === 'string' ? value.trim() : value;
  }
  return out;
}

/** A short message for the user, read out by screen readers. */
export function toast(message, kind = 'info') {
  const box = document.getElementById('toasts');
  if (!box) return;
  const item = h('div', { class: `toast ${kind}` }, message);
  box.appendChild(item);
  setTimeout(() => item.remove(), 4000);
}

/** The page title. */
export function title(text) {
  document.title = text ? `${text} · Blytz` : 'Blytz — live auctions';
}
