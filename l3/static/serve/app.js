// l3 serve: the page. Nothing the user or the server sends is inserted as HTML: text goes in with textContent,
// pictures through a canvas. One renderer per `view` of a result (chosen by the model's label class on the server).
'use strict';
const $ = (id) => document.getElementById(id);
const state = { models: [], model: null, pred: null, image: null, view: null, asked: 0 };
// A phone photo is 12 megapixels and 3-10 MiB, the server takes 8 MiB at most, and no model needs more than a few
// hundred pixels: a large image is downsized here before it is sent, to a JPEG whose longest side is MAX_SIDE.
const MAX_SIDE = 1024, AS_IS_BYTES = 2 * 2 ** 20;

function el(tag, props = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) { if (k === 'text') e.textContent = v; else if (k === 'cls') e.className = v; else e.setAttribute(k, v); }
  for (const k of kids) e.append(k);
  return e;
}
const pct = (p) => (100 * p).toFixed(1) + '%';
function status(msg) { $('status').textContent = msg; }

function bar(name, p, thresh) {
  const fill = el('div', { cls: 'fill' }); fill.style.width = pct(p);
  const track = el('div', { cls: 'track' }, fill);
  if (thresh !== undefined) { const t = el('div', { cls: 'thresh' }); t.style.left = pct(thresh); track.append(t); }
  return el('div', { cls: 'bar' }, el('span', { cls: 'name', text: name }), track, el('span', { text: pct(p) }));
}
function palette(i) { const h = (i * 137.508) % 360; return `hsl(${h}, 70%, 50%)`; }
function rgb(i) { const c = document.createElement('canvas').getContext('2d'); c.fillStyle = palette(i); c.fillRect(0, 0, 1, 1); return c.getImageData(0, 0, 1, 1).data; }

function drawImage() {
  const c = $('canvas'), ctx = c.getContext('2d');
  if (!state.image) { c.hidden = true; return null; }
  c.hidden = false; c.width = state.image.width; c.height = state.image.height;
  ctx.drawImage(state.image, 0, 0);
  return ctx;
}
function checkboxes(names, checked) {
  return el('div', {}, ...names.map((n) => { const b = el('input', { type: 'checkbox', value: n }); b.checked = checked.includes(n); return el('label', {}, b, document.createTextNode(' ' + n)); }));
}

// One renderer per view: show(result) draws it; correction(result) builds the "the right answer is" form; answer() reads it.
const VIEWS = {
  bars: {
    show(r) {
      drawImage();
      const out = el('div', {}, el('p', { cls: 'big', text: `${r.label} (${pct(r.probability)})` }));
      r.classes.forEach((c, i) => out.append(bar(c, r.probs[i])));
      return out;
    },
    correction(r) { const s = el('select', { id: 'right-label' }); r.classes.forEach((c) => s.append(el('option', { value: c, text: c }))); return el('label', { text: 'The right class: ' }, s); },
    answer() { return { label: $('right-label').value }; },
  },
  tags: {
    show(r) {
      drawImage();
      const out = el('div'), list = el('div'), tags = el('p', { cls: 'big' });
      const slider = el('input', { type: 'range', min: '0', max: '1', step: '0.01', value: String(r.thresholds[0]), id: 'thresh' });
      const lab = el('span');
      const redraw = () => {
        const t = parseFloat(slider.value); lab.textContent = ` threshold ${t.toFixed(2)}`; list.replaceChildren();
        const on = r.classes.filter((c, i) => r.probs[i] > (slider.dataset.moved ? t : r.thresholds[i]));
        tags.textContent = on.join(' ') || '(no tag)';
        r.classes.forEach((c, i) => { const b = bar(c, r.probs[i], slider.dataset.moved ? t : r.thresholds[i]); if (on.includes(c)) b.classList.add('on'); list.append(b); });
      };
      slider.addEventListener('input', () => { slider.dataset.moved = '1'; redraw(); });
      redraw();
      out.append(tags, el('label', { text: 'Re-threshold: ' }, slider, lab), list);
      return out;
    },
    correction(r) { return el('div', { id: 'right-tags' }, el('p', { text: 'The right tags:' }), checkboxes(r.classes, r.labels)); },
    answer() { return { labels: [...$('right-tags').querySelectorAll('input:checked')].map((b) => b.value) }; },
  },
  mask: {
    show(r) {
      const ctx = drawImage(), out = el('div'), legend = el('div', { cls: 'legend' });
      const alpha = el('input', { type: 'range', min: '0', max: '1', step: '0.05', value: '0.5', id: 'opacity' });
      const m = new Image();
      m.onload = () => {
        const off = document.createElement('canvas'); off.width = m.width; off.height = m.height;
        const o = off.getContext('2d'); o.drawImage(m, 0, 0);
        const px = o.getImageData(0, 0, m.width, m.height), cols = r.classes.map((c, i) => rgb(i));
        for (let i = 0; i < px.data.length; i += 4) {
          const id = px.data[i]; const c = cols[id];
          if (id === r.ignore_id || !c) { px.data[i + 3] = 0; continue; }
          px.data[i] = c[0]; px.data[i + 1] = c[1]; px.data[i + 2] = c[2]; px.data[i + 3] = 255;
        }
        o.putImageData(px, 0, 0);
        const redraw = () => { drawImage(); ctx.globalAlpha = parseFloat(alpha.value); ctx.drawImage(off, 0, 0); ctx.globalAlpha = 1; };
        alpha.addEventListener('input', redraw); redraw();
        $('canvas').dataset.drawn = 'mask';
      };
      m.src = 'data:image/png;base64,' + r.mask_png;
      for (const [c, s] of Object.entries(r.shares)) {
        const sw = el('span'); sw.style.background = palette(r.classes.indexOf(c));
        legend.append(el('div', {}, sw, document.createTextNode(`${c}: ${pct(s)}`)));
      }
      out.append(el('label', { text: 'Opacity: ' }, alpha), el('p', { text: 'Share of the pixels:' }), legend);
      return out;
    },
    correction(r) { return el('div', { id: 'wrong-classes' }, el('p', { text: 'Which classes are wrong?' }), checkboxes(Object.keys(r.shares), [])); },
    answer() { return { classes: [...$('wrong-classes').querySelectorAll('input:checked')].map((b) => b.value) }; },
  },
  points: {
    show(r) {
      const ctx = drawImage(), rad = Math.max(3, state.image.width / 60);
      r.points.forEach(([row, col]) => { ctx.beginPath(); ctx.arc(col, row, rad, 0, 2 * Math.PI); ctx.fillStyle = 'red'; ctx.fill(); ctx.strokeStyle = 'white'; ctx.stroke(); });
      $('canvas').dataset.drawn = 'points';
      return el('p', { text: 'Predicted (row, col): ' + r.points.map((p) => p.map((v) => v.toFixed(1)).join(', ')).join('; ') });
    },
    correction(r) {
      const p = el('p', { id: 'clicked', text: 'Click the right point on the image.' });
      $('canvas').onclick = (ev) => {
        const b = $('canvas').getBoundingClientRect(), sx = $('canvas').width / b.width, sy = $('canvas').height / b.height;
        state.clicked = [(ev.clientY - b.top) * sy, (ev.clientX - b.left) * sx];
        p.textContent = `The right point: (${state.clicked[0].toFixed(1)}, ${state.clicked[1].toFixed(1)})`;
      };
      return p;
    },
    answer() { return { point: state.clicked }; },
  },
  numbers: {
    show(r) { drawImage(); return el('p', { cls: 'big', text: r.values.map((v) => v.toFixed(3)).join(', ') }); },
    correction() { return el('p', { text: 'Send a note with the right values.' }); },
    answer() { return {}; },
  },
};

async function api(path, opts) {
  const res = await fetch(path, opts);
  const body = await res.json().catch(() => ({ error: `HTTP ${res.status}` }));
  if (!res.ok) throw new Error(body.error || `HTTP ${res.status}`);
  return body;
}

// A new input makes the last answer stale: it goes as soon as the input is chosen, not when the new answer comes.
function clearAnswer() {
  state.pred = null; state.view = null;
  $('output').hidden = true; $('result').replaceChildren(); $('correction').replaceChildren();
  $('correction').hidden = true; $('send-feedback').hidden = true; $('thanks').textContent = '';
  $('canvas').dataset.drawn = ''; $('canvas').onclick = null;
}

// The image to send and to draw: the file itself when it is small; else a canvas of it, upright (its EXIF orientation
// applied), its longest side MAX_SIDE, sent as a JPEG. Points and masks come back in the pixels of what was sent.
async function prepareImage(file) {
  const bmp = await createImageBitmap(file, { imageOrientation: 'from-image' });
  const scale = Math.min(1, MAX_SIDE / Math.max(bmp.width, bmp.height));
  if (scale === 1 && file.size <= AS_IS_BYTES) return { image: bmp, body: file, name: file.name };
  const c = document.createElement('canvas');
  c.width = Math.max(1, Math.round(bmp.width * scale));
  c.height = Math.max(1, Math.round(bmp.height * scale));
  const ctx = c.getContext('2d');
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(bmp, 0, 0, c.width, c.height);
  bmp.close();
  const body = await new Promise((done) => c.toBlob(done, 'image/jpeg', 0.9));
  return { image: c, body, name: 'image.jpg' };
}

function show(pred) {
  state.pred = pred; state.view = VIEWS[pred.result.view];
  $('output').hidden = false; $('correction').hidden = true; $('send-feedback').hidden = true; $('thanks').textContent = '';
  $('canvas').dataset.drawn = ''; $('canvas').onclick = null;
  $('version').textContent = `${pred.model} ${pred.model_version}`;
  $('result').replaceChildren(state.view.show(pred.result));
  status('');
}

// Each input is a new question; an answer that comes back after a newer question was asked is dropped.
async function ask(opts) {
  const asked = ++state.asked;
  try {
    const pred = await api(`/api/models/${encodeURIComponent(state.model.name)}/predict`, { method: 'POST', ...opts });
    if (asked === state.asked) show(pred);
  } catch (e) { if (asked === state.asked) status(e.message); }
}
async function predictFile(file) {
  clearAnswer(); state.asked++;
  if (!file || !file.type.startsWith('image/')) { status('That is not an image.'); return; }
  status('Reading the image...');
  let img;
  try { img = await prepareImage(file); }
  catch (e) { status('This browser cannot read that image: choose a JPEG, PNG or WebP.'); return; }
  state.image = img.image;
  const form = new FormData(); form.append('file', img.body, img.name);
  status('Predicting...');
  await ask({ body: form });
}
async function predictText() {
  clearAnswer(); status('Predicting...'); state.image = null;
  await ask({ headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ text: $('text').value }) });
}
async function sendFeedback(correct) {
  const body = { prediction_id: state.pred.prediction_id, correct, ...(correct ? {} : state.view.answer()) };
  try { const r = await api('/api/feedback', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) }); $('thanks').textContent = `Thank you: feedback #${r.feedback_id} recorded.`; }
  catch (e) { $('thanks').textContent = e.message; }
}

function chooseModel() {
  state.model = state.models.find((m) => m.name === $('model').value);
  $('image-input').hidden = state.model.input !== 'image'; $('text-input').hidden = state.model.input !== 'text';
  $('version').textContent = `${state.model.name} ${state.model.version}`; clearAnswer(); state.asked++;
}

async function init() {
  try { state.models = await api('/api/models'); } catch (e) { status(e.message); return; }
  const limits = await api('/api/limits').catch(() => null);
  if (limits) $('limits').textContent += ` The server takes uploads of up to ${+(limits.max_bytes / 2 ** 20).toPrecision(3)} MiB.`;
  state.models.forEach((m) => $('model').append(el('option', { value: m.name, text: `${m.name} (${m.input})` })));
  $('model').addEventListener('change', chooseModel); chooseModel();
  $('file').addEventListener('change', (e) => { const f = e.target.files[0]; e.target.value = ''; predictFile(f); });
  const drop = $('drop');
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => { e.preventDefault(); drop.classList.remove('over'); predictFile(e.dataTransfer.files[0]); });
  document.addEventListener('paste', (e) => { const f = [...e.clipboardData.files].find((x) => x.type.startsWith('image/')); if (f) predictFile(f); });
  $('send-text').addEventListener('click', predictText);
  $('right').addEventListener('click', () => sendFeedback(true));
  $('wrong').addEventListener('click', () => { $('correction').replaceChildren(state.view.correction(state.pred.result)); $('correction').hidden = false; $('send-feedback').hidden = false; });
  $('send-feedback').addEventListener('click', () => sendFeedback(false));
  status('Ready.'); document.body.dataset.ready = '1';
}
init();
